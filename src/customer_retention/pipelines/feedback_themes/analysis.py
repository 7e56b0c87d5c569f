"""Themes and churn: the monthly trend, churn after an NPS comment by theme, and the themes of
exit comments against their coded reasons."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from customer_retention.core.serialization import jsonable
from customer_retention.models import experiments
from customer_retention.models.evaluation import proportion_interval

RECENT_MONTHS = 3


def _themed(comment_themes: pd.DataFrame) -> pd.DataFrame:
    return comment_themes[comment_themes["theme"].notna()].astype({"theme": int})


def _labels(comment_themes: pd.DataFrame) -> dict[int, str]:
    rows = _themed(comment_themes).drop_duplicates("theme")
    return dict(zip(rows["theme"], rows["theme_label"].astype(str), strict=True))


def theme_trend(comment_themes: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """Each theme's share of the month's comments (Wilson interval), and its share over the
    last ``RECENT_MONTHS`` months with comments against the months before (Newcombe
    interval of the difference)."""
    themed = _themed(comment_themes)
    if themed.empty:
        return {"months": [], "rows": [], "recent_vs_before": []}
    level = 1 - float(params["alpha"])
    month = pd.to_datetime(themed["response_date"]).dt.to_period("M").astype(str)
    counts = pd.crosstab(month, themed["theme"])
    totals = counts.sum(axis=1)
    long = counts.stack().rename("comments").reset_index()
    long.columns = ["month", "theme", "comments"]
    long["month_comments"] = long["month"].map(totals)
    long["share"] = long["comments"] / long["month_comments"]
    low, high = proportion_interval(long["comments"], long["month_comments"], level)
    # Rounding can put a bound a hair beyond a share of 0 or 1.
    long["ci_low"] = np.minimum(low, long["share"])
    long["ci_high"] = np.maximum(high, long["share"])
    recent = counts.index[-RECENT_MONTHS:]
    before = counts.index[:-RECENT_MONTHS]
    labels = _labels(comment_themes)
    changes = []
    for theme in counts.columns:
        row = {"theme": int(theme), "label": labels[theme]}
        n_recent, n_before = int(totals[recent].sum()), int(totals[before].sum())
        if n_recent and n_before:
            effect = experiments.proportion_effect(
                int(counts.loc[recent, theme].sum()),
                n_recent,
                int(counts.loc[before, theme].sum()),
                n_before,
                alpha=float(params["alpha"]),
            )
            row |= {
                "share_recent": effect["churn_treatment"],
                "share_before": effect["churn_control"],
                "difference": effect["effect"],
                "ci_low": effect["ci_low"],
                "ci_high": effect["ci_high"],
                "p_value": effect["p_value"],
            }
        changes.append(row)
    return jsonable(
        {
            "months": list(counts.index),
            "recent_months": list(recent),
            "rows": long.to_dict("records"),
            "recent_vs_before": changes,
        }
    )


def _followed_up(
    nps: pd.DataFrame, customer_timeline: pd.DataFrame, horizon_days: int
) -> pd.DataFrame:
    """NPS comments of customers active on their date, with churn within the horizon after it
    (NaN when the horizon is not over at the as-of date)."""
    if customer_timeline.empty:
        return nps.iloc[:0].assign(churned_within_horizon=np.nan)
    as_of = pd.Timestamp(customer_timeline["as_of_date"].iat[0])
    timeline = customer_timeline[["customer_id", "episode_start", "episode_end"]].astype(
        {"customer_id": str}
    )
    rows = nps.assign(
        customer_id=nps["customer_id"].astype(str),
        response_date=pd.to_datetime(nps["response_date"]).astype("datetime64[ns]"),
    ).merge(timeline, on="customer_id", how="inner")
    active = (rows["episode_start"] <= rows["response_date"]) & (
        rows["episode_end"].isna() | (rows["episode_end"] > rows["response_date"])
    )
    rows = rows[active]
    horizon = pd.Timedelta(days=horizon_days)
    churned = rows["episode_end"].notna() & (rows["episode_end"] <= rows["response_date"] + horizon)
    complete = rows["response_date"] + horizon <= as_of
    return rows.assign(
        churned_within_horizon=np.where(churned, 1.0, np.where(complete, 0.0, np.nan))
    ).dropna(subset=["churned_within_horizon"])


def churn_by_theme(
    comment_themes: pd.DataFrame, customer_timeline: pd.DataFrame, params: dict[str, Any]
) -> dict[str, Any]:
    """Churn within ``horizon_days`` after an NPS comment, per theme: one comment per customer
    and theme (drawn at random, seeded), so that the Wilson interval's independence holds
    across customers; each theme against the customers of the other themes (Newcombe), when
    both hold ``min_followed_up`` customers (``comparable``)."""
    horizon = int(params["horizon_days"])
    nps = _themed(comment_themes)
    nps = nps[nps["survey"] == "nps"]
    followed = _followed_up(nps, customer_timeline, horizon)
    definition = (
        f"churn within {horizon} days after an NPS comment, among customers active on its date "
        "whose horizon is over; one comment per customer and theme, drawn at random"
    )
    if followed.empty:
        return {"horizon_days": horizon, "definition": definition, "themes": [], "baseline": None}
    rng = np.random.default_rng(int(params["seed"]))
    shuffled = followed.iloc[rng.permutation(len(followed))]
    per_theme = shuffled.drop_duplicates(["customer_id", "theme"])
    level = 1 - float(params["alpha"])
    baseline = shuffled.drop_duplicates("customer_id")
    low, high = proportion_interval(baseline["churned_within_horizon"].sum(), len(baseline), level)
    labels = _labels(comment_themes)
    themes = []
    for theme, rows in per_theme.groupby("theme", sort=True):
        churned, n = int(rows["churned_within_horizon"].sum()), len(rows)
        t_low, t_high = proportion_interval(churned, n, level)
        entry = {
            "theme": int(theme),
            "label": labels[theme],
            "customers": n,
            "churned": churned,
            "rate": churned / n,
            "ci_low": float(t_low),
            "ci_high": float(t_high),
        }
        others = per_theme[per_theme["theme"] != theme].drop_duplicates("customer_id")
        entry["comparable"] = min(n, len(others)) >= int(params["min_followed_up"])
        if entry["comparable"]:
            effect = experiments.proportion_effect(
                churned,
                n,
                int(others["churned_within_horizon"].sum()),
                len(others),
                alpha=float(params["alpha"]),
            )
            entry["vs_other_themes"] = {
                "rate_other_themes": effect["churn_control"],
                "difference": effect["effect"],
                "ci_low": effect["ci_low"],
                "ci_high": effect["ci_high"],
                "ratio": effect["ratio"],
                "p_value": effect["p_value"],
            }
        else:
            entry["vs_other_themes"] = None
        themes.append(entry)
    return jsonable(
        {
            "horizon_days": horizon,
            "definition": definition,
            "interval": f"Wilson {level:.0%}; difference: Newcombe {level:.0%}",
            "nps_comments_followed_up": len(followed),
            "baseline": {
                "label": "all NPS comments (one per customer)",
                "customers": len(baseline),
                "churned": int(baseline["churned_within_horizon"].sum()),
                "rate": float(baseline["churned_within_horizon"].mean()),
                "ci_low": float(low),
                "ci_high": float(high),
            },
            "themes": sorted(themes, key=lambda t: -t["rate"]),
        }
    )


def themes_against_reasons(comment_themes: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """The themes of exit comments against their coded reasons: a cross-table, each theme's
    most common reason and its share (below ``code_gap_share``: customers say it but no code
    holds it, "not in the code list"), each reason's main theme, and the comments whose theme
    is not their reason's main theme."""
    exits = _themed(comment_themes)
    exits = exits[(exits["survey"] == "exit") & exits["reason"].notna()]
    if exits.empty:
        return {"status": "no coded exit comments", "table": [], "by_reason": []}
    exits = exits.astype({"reason": str})
    table = pd.crosstab(exits["theme"], exits["reason"])
    labels = _labels(comment_themes)
    minimum, gap = int(params["min_exit_comments"]), float(params["code_gap_share"])
    rows = []
    for theme, counts in table.iterrows():
        total = int(counts.sum())
        share = float(counts.max() / total)
        judged = total >= minimum
        rows.append(
            {
                "theme": int(theme),
                "label": labels[theme],
                "exit_comments": total,
                "counts": {reason: int(n) for reason, n in counts.items()},
                "top_reason": counts.idxmax(),
                "top_reason_share": share,
                "in_code_list": (share >= gap) if judged else None,
            }
        )
    main = table.idxmax(axis=0)  # reason -> the theme most of its comments are in
    by_reason = [
        {
            "reason": reason,
            "exit_comments": int(table[reason].sum()),
            "main_theme": int(main[reason]),
            "main_theme_label": labels[main[reason]],
            "main_theme_share": float(table[reason].max() / table[reason].sum()),
        }
        for reason in table.columns
    ]
    off = exits["theme"].to_numpy() != exits["reason"].map(main).to_numpy()
    missing = [r for r in rows if r["in_code_list"] is False]
    return jsonable(
        {
            "status": "compared",
            "reasons": list(table.columns),
            "table": rows,
            "by_reason": by_reason,
            "off_code_comments": int(off.sum()),
            "off_code_share": float(off.mean()),
            "not_in_code_list": [
                {
                    "theme": r["theme"],
                    "label": r["label"],
                    "exit_comments": r["exit_comments"],
                    "top_reason_share": r["top_reason_share"],
                    "coded_as": r["counts"],
                    "examples": _examples(exits[exits["theme"] == r["theme"]], params),
                }
                for r in missing
            ],
            "definitions": {
                "top_reason_share": "share of the theme's exit comments carrying its most common "
                f"reason; below code_gap_share ({gap}) the theme is not in the code list",
                "off_code_comments": "exit comments whose theme is not the main theme of their "
                "coded reason (the theme most comments of that reason are in)",
            },
        }
    )


def _examples(rows: pd.DataFrame, params: dict[str, Any]) -> list[dict[str, str]]:
    """The theme's strongest exit comments, distinct, with the reason they were coded as."""
    best = rows.sort_values("theme_weight", ascending=False, kind="stable")
    best = best[~best["comment"].str.lower().duplicated()]
    return [
        {"comment": str(r.comment), "coded_as": str(r.reason)}
        for r in best.head(int(params["examples"])).itertuples()
    ]
