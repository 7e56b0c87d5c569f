"""One-sentence takeaways computed from the data, one per chart or table of the report.

Each function takes the (small) table behind a chart and returns a sentence with the numbers
that matter, or ``None`` when the table holds nothing to say (the report then shows why the
section is empty). No boilerplate: every number in a sentence comes from the input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from customer_retention.core.formatting import (
    fmt_int,
    fmt_money,
    fmt_month,
    fmt_number,
    fmt_p_value,
    fmt_pct,
    fmt_share,
    humanize,
    is_missing,
)

from .takeaways_groups import (  # noqa: F401 (the groups' takeaways, kept importable from here)
    health_bands,
    health_scores,
    sbg_fit,
    support_bands,
)


def _direction(now: float, before: float, decimals: int = 1) -> str:
    """'down from' / 'up from' / 'unchanged from', judged at the displayed precision."""
    if round(now, decimals) == round(before, decimals):
        return "unchanged from"
    return "up from" if now > before else "down from"


def _sentence_case(text: str) -> str:
    """Upper-case the first letter only (str.capitalize would lower-case the rest)."""
    return text[:1].upper() + text[1:]


def _join(items: list[str]) -> str:
    """['a', 'b', 'c'] -> 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _period(months: pd.Series) -> str:
    """First and last month of a run of months: 'Jul-Dec 2025' or 'Nov 2024-Apr 2025'."""
    first, last = pd.Timestamp(months.iloc[0]), pd.Timestamp(months.iloc[-1])
    if first == last:
        return fmt_month(first)
    if first.year == last.year:
        return f"{first:%b}–{last:%b %Y}"
    return f"{first:%b %Y}–{last:%b %Y}"


def rated_months(monthly: pd.DataFrame, min_customers: int) -> pd.DataFrame:
    """Months with a churn rate and at least ``min_customers`` customers at their start."""
    if monthly is None or monthly.empty or "churn_rate" not in monthly:
        return pd.DataFrame(columns=["month", "customers_start", "churned_from_start"])
    keep = monthly["churn_rate"].notna() & (monthly["customers_start"] >= min_customers)
    return monthly[keep].reset_index(drop=True)


def churn_trend(monthly: pd.DataFrame, window: int = 6, min_customers: int = 1) -> str | None:
    """Pooled monthly churn (churned ÷ customers at start) of the last ``window`` months against
    the ``window`` months before; fewer months: the latest month against the first."""
    rated = rated_months(monthly, min_customers)
    if rated.empty:
        return None

    def pooled(rows: pd.DataFrame) -> float:
        return rows["churned_from_start"].sum() / rows["customers_start"].sum() * 100

    if len(rated) >= 2 * window:
        recent, before = rated.iloc[-window:], rated.iloc[-2 * window : -window]
        now, then = pooled(recent), pooled(before)
        return (
            f"Monthly churn averaged {fmt_pct(now)} over {_period(recent['month'])}, "
            f"{_direction(now, then)} {fmt_pct(then)} over {_period(before['month'])}."
        )
    last = rated.iloc[-1]
    if len(rated) == 1:
        return f"Monthly churn was {fmt_pct(last['churn_rate'])} in {fmt_month(last['month'])}."
    first = rated.iloc[0]
    return (
        f"Monthly churn was {fmt_pct(last['churn_rate'])} in {fmt_month(last['month'])}, "
        f"{_direction(last['churn_rate'], first['churn_rate'])} "
        f"{fmt_pct(first['churn_rate'])} in {fmt_month(first['month'])}."
    )


def revenue_retention(monthly: pd.DataFrame, min_customers: int = 1) -> str | None:
    """Latest NRR and GRR and the share of the last 12 months with NRR of 100% or more."""
    if monthly is None or "net_revenue_retention" not in monthly:
        return None
    rated = rated_months(monthly, min_customers).dropna(subset=["net_revenue_retention"])
    if rated.empty:
        return None
    last = rated.iloc[-1]
    recent = rated.iloc[-12:]
    above = int((recent["net_revenue_retention"] >= 100).sum())
    sentence = (
        f"In {fmt_month(last['month'])} net revenue retention was "
        f"{fmt_pct(last['net_revenue_retention'])} and gross revenue retention "
        f"{fmt_pct(last['gross_revenue_retention'])}"
    )
    if above == 0:
        return (
            f"{sentence}; expansion never made up for the losses in the last {len(recent)} months."
        )
    return (
        f"{sentence}; expansion made up for the losses (NRR ≥ 100%) in {above} of the last "
        f"{len(recent)} months."
    )


def cohort_retention(cohorts: pd.DataFrame, months: int = 12, min_cohort: int = 1) -> str | None:
    """Size-weighted share of customers active ``months`` after their signup month (column
    ``months - 1``), with the best and worst cohort; fewer months observed: the longest
    horizon every eligible cohort reached."""
    if cohorts is None or cohorts.empty:
        return None
    horizons = sorted(int(c) for c in cohorts.columns if str(c).isdigit())
    eligible = cohorts[cohorts["cohort_size"] >= min_cohort]
    if not horizons or eligible.empty:
        return None
    column = str(min(months - 1, horizons[-1]))
    observed = eligible.dropna(subset=[column])
    if len(observed) == 0:
        return None
    share = float(np.average(observed[column], weights=observed["cohort_size"]))
    after = int(column) + 1
    sentence = (
        f"On average {fmt_share(share, 0)} of customers were still active {after} months after "
        f"their signup month ({len(observed)} cohort{'' if len(observed) == 1 else 's'}"
    )
    if len(observed) < 2:
        return sentence + ")."
    best = observed.loc[observed[column].idxmax()]
    worst = observed.loc[observed[column].idxmin()]
    return (
        f"{sentence}; best {fmt_month(best['signup_month'])} at {fmt_share(best[column], 0)}, "
        f"worst {fmt_month(worst['signup_month'])} at {fmt_share(worst[column], 0)})."
    )


def exit_reasons(reasons: pd.DataFrame, top: int = 3) -> str | None:
    """Share of exit-survey answers covered by the ``top`` most frequent reasons."""
    if reasons is None or reasons.empty:
        return None
    total = int(reasons["responses"].sum())
    head = reasons.sort_values("responses", ascending=False).head(top)
    share = head["responses"].sum() / total * 100
    names = [humanize(r) for r in head["reason"]]
    if len(reasons) == 1:
        return f"All {fmt_int(total)} exit-survey answers give one reason: {names[0]}."
    return (
        f"The top {len(head)} exit reasons ({_join(names)}) account for {fmt_pct(share, 0)} of "
        f"{fmt_int(total)} exit-survey answers."
    )


def nps_months(monthly: pd.DataFrame, min_responses: int) -> pd.DataFrame:
    """Months with an NPS from at least ``min_responses`` answers."""
    if monthly is None or "nps" not in monthly or monthly["nps"].isna().all():
        return pd.DataFrame(columns=["month", "nps", "nps_responses"])
    keep = monthly["nps"].notna() & (monthly["nps_responses"].fillna(0) >= min_responses)
    return monthly[keep].reset_index(drop=True)


def nps_trend(monthly: pd.DataFrame, min_responses: int = 1, lookback: int = 6) -> str | None:
    """Latest NPS against the NPS ``lookback`` months earlier (or the first month shown)."""
    rows = nps_months(monthly, min_responses)
    if rows.empty:
        return None
    last = rows.iloc[-1]
    sentence = (
        f"NPS was {fmt_number(last['nps'])} in {fmt_month(last['month'])} "
        f"({fmt_int(last['nps_responses'])} answers)"
    )
    if len(rows) == 1:
        return sentence + "."
    earlier = rows.iloc[max(0, len(rows) - 1 - lookback)]
    return (
        f"{sentence}, {_direction(last['nps'], earlier['nps'])} {fmt_number(earlier['nps'])} "
        f"in {fmt_month(earlier['month'])}."
    )


def _survival_point(groups: dict[str, dict[str, Any]]) -> str | None:
    """The longest of 12 / 6 / 3 months at which every group has a survival estimate."""
    for months in (12, 6, 3, 24):
        key = f"survival_{months}m"
        if all(not is_missing(g.get(key)) for g in groups.values()):
            return key
    return None


def strongest_segment(logrank: pd.DataFrame, km_segments: dict[str, Any]) -> str | None:
    """The segment whose survival differs most (largest log-rank statistic, all groups), with
    the best and worst group's share still active at a common time point."""
    if logrank is None or logrank.empty:
        return None
    overall = logrank[logrank["comparison"] == "all groups"]
    overall = overall[overall["segment"].isin(list(km_segments))]
    if overall.empty:
        return None
    top = overall.loc[overall["test_statistic"].idxmax()]
    segment = top["segment"]
    if top["p_value"] >= 0.05:
        return (
            f"No segment's survival differs significantly; the clearest, "
            f"{humanize(segment)}, has log-rank {fmt_p_value(top['p_value'])}."
        )
    info = km_segments[segment]
    groups = info["groups"]
    key = _survival_point(groups)
    sentence = f"{_sentence_case(humanize(segment))} separates customers most (log-rank {fmt_p_value(top['p_value'])})"
    if key is None:
        return sentence + "."
    best = max(groups, key=lambda g: groups[g][key])
    worst = min(groups, key=lambda g: groups[g][key])
    months = key.split("_")[1].rstrip("m")
    origin = "signup" if info.get("time_origin", "signup") == "signup" else info["time_origin"]
    return (
        f"{sentence}: {months} months after {origin}, {fmt_share(groups[best][key], 0)} of "
        f"{humanize(best)} customers were still active against "
        f"{fmt_share(groups[worst][key], 0)} of {humanize(worst)} customers."
    )


def _covariate_phrase(covariate: str, references: dict[str, str | None]) -> tuple[str, str]:
    """'plan=pro' -> ('customers with plan pro', 'those with plan basic')."""
    attribute, _, level = covariate.partition("=")
    reference = references.get(attribute)
    name = humanize(attribute)
    label = f"customers with {name} {humanize(level)}" if level else f"customers with higher {name}"
    return label, f"those with {name} {humanize(reference)}" if reference else "the reference group"


def hazard_ratios(
    ratios: pd.DataFrame, references: dict[str, str | None], alpha: float = 0.05
) -> str | None:
    """The significant covariate that raises churn the most and the one that lowers it most,
    among the levels of categorical attributes (a numeric attribute's ratio is per unit of its
    own scale, not comparable with a level's)."""
    if ratios is None or ratios.empty:
        return None
    ratios = ratios[ratios["covariate"].astype(str).str.contains("=", regex=False)]
    if ratios.empty:
        return "Only numeric attributes: each ratio is per unit of the attribute (see the chart)."
    significant = ratios[ratios["p_value"] < alpha]
    if significant.empty:
        return f"No attribute changes the churn rate significantly (all p ≥ {alpha:g})."
    parts = []
    riskier = significant[significant["hazard_ratio"] > 1]
    if len(riskier):
        row = riskier.loc[riskier["hazard_ratio"].idxmax()]
        label, ref = _covariate_phrase(row["covariate"], references)
        parts.append(
            f"{label} churn {fmt_number(row['hazard_ratio'], 2)} times as fast as {ref} "
            f"(95% CI {fmt_number(row['ci_lower_95'], 2)}–{fmt_number(row['ci_upper_95'], 2)})"
        )
    safer = significant[significant["hazard_ratio"] < 1]
    if len(safer):
        row = safer.loc[safer["hazard_ratio"].idxmin()]
        label, ref = _covariate_phrase(row["covariate"], references)
        cut = (1 - row["hazard_ratio"]) * 100
        parts.append(
            f"{label} churn {fmt_pct(cut, 0)} slower than {ref} "
            f"(hazard ratio {fmt_number(row['hazard_ratio'], 2)})"
        )
    return _sentence_case(_join(parts)) + "."


def model_ranking(
    scorers: dict[str, dict[str, Any]],
    deployed: str = "xgboost_calibrated",
    comparisons: dict[str, Any] | None = None,
) -> str | None:
    """ROC-AUC of the deployed churn model against the other scorers that were evaluated,
    and whether XGBoost and the logistic regression differ beyond the bootstrap interval."""
    model = scorers.get(deployed, {})
    if is_missing(model.get("roc_auc")):
        return None
    auc = float(model["roc_auc"])
    others = [
        f"{fmt_number(scorers[name]['roc_auc'], 3)} for the {label}"
        for name, label in (
            ("xgboost_calibrated", "XGBoost model"),
            ("logistic_baseline", "logistic regression"),
            ("health_score", "health score"),
            ("cox_risk", "Cox survival model"),
        )
        if name != deployed and name in scorers and not is_missing(scorers[name].get("roc_auc"))
    ]
    sentence = (
        f"Given one customer who churned and one who stayed, the churn model ranks the churner "
        f"as riskier {fmt_share(auc, 0)} of the time (ROC-AUC {fmt_number(auc, 3)})"
    )
    sentence = f"{sentence}, against {_join(others)}." if others else sentence + "."
    difference = (
        ((comparisons or {}).get("differences") or {})
        .get("xgboost_calibrated - logistic_baseline", {})
        .get("roc_auc")
    )
    if difference:
        verdict = "a real difference" if difference["significant"] else "not significant"
        sentence += (
            f" XGBoost minus the logistic regression: {fmt_number(difference['difference'], 3)} "
            f"ROC-AUC (95% CI {fmt_number(difference['ci_low'], 3)} to "
            f"{fmt_number(difference['ci_high'], 3)}), {verdict}."
        )
    return sentence


def calibration(scorer: dict[str, Any], horizon_days: int) -> str | None:
    """Mean predicted against observed churn, and the expected calibration error."""
    if is_missing(scorer.get("mean_predicted")) or is_missing(scorer.get("observed_rate")):
        return None
    sentence = (
        f"On the test snapshot the model predicted {fmt_share(scorer['mean_predicted'])} churn "
        f"within {horizon_days} days on average and {fmt_share(scorer['observed_rate'])} churned"
    )
    if is_missing(scorer.get("ece")):
        return sentence + "."
    return (
        f"{sentence}; across risk bands predictions were off by "
        f"{fmt_number(scorer['ece'] * 100)} percentage points on average."
    )


def gains(scorer: dict[str, Any], top_fraction: float) -> str | None:
    """Share of churners reached by contacting the riskiest ``top_fraction`` of customers."""
    if is_missing(scorer.get("top_decile_capture_rate")):
        return None
    return (
        f"Contacting the {fmt_share(top_fraction, 0)} of customers the model ranks riskiest "
        f"would reach {fmt_share(scorer['top_decile_capture_rate'], 0)} of the churners, "
        f"{fmt_number(scorer['top_decile_lift'])} times as many as a random "
        f"{fmt_share(top_fraction, 0)}."
    )


def _driver_words(name: str, direction: Any) -> str:
    """'active days (lower → more churn)', 'spend (plan size; higher → more churn)', or the
    bare name without a single direction."""
    text = direction if isinstance(direction, str) else ""
    if text == "higher raises risk":
        words = "higher → more churn"
    elif text == "lower raises risk":
        words = "lower → more churn"
    elif text.endswith(" raises risk"):
        words = f"{text.removesuffix(' raises risk')} → more churn"
    else:
        return name
    return f"{name[:-1]}; {words})" if name.endswith(")") else f"{name} ({words})"


def drivers(importance: pd.DataFrame, labels: dict[str, str], top: int = 3) -> str | None:
    """The features with the largest mean |SHAP| contribution, each with the way it pushes
    the risk when the table says (``direction``)."""
    if importance is None or importance.empty:
        return None
    head = importance.sort_values("mean_abs_shap", ascending=False).head(top)
    directions = head["direction"] if "direction" in head else [None] * len(head)
    names = [
        _driver_words(labels.get(f, humanize(f)), d)
        for f, d in zip(head["feature"], directions, strict=True)
    ]
    total = importance["mean_abs_shap"].sum()
    share = head["mean_abs_shap"].sum() / total * 100 if total else None
    sentence = f"The strongest drivers of predicted churn are {_join(names)}"
    if share is None:
        return sentence + "."
    return f"{sentence}, with {fmt_pct(share, 0)} of the total contribution of all features."


def clv_concentration(clv: pd.Series, currency: str, top_share: float = 0.1) -> str | None:
    """Median CLV and the share of total CLV held by the top ``top_share`` of customers."""
    clv = clv.dropna() if clv is not None else pd.Series(dtype=float)
    if clv.empty:
        return None
    total = clv.sum()
    k = max(1, round(top_share * len(clv)))
    held = clv.nlargest(k).sum() / total * 100 if total > 0 else None
    sentence = f"The median active customer is worth {fmt_money(clv.median(), currency)}"
    if held is None:
        return sentence + "."
    return (
        f"{sentence}; the top {fmt_share(top_share, 0)} of customers hold {fmt_pct(held, 0)} of "
        f"the total lifetime value of {fmt_money(total, currency)}."
    )


def value_at_risk_by_segment(by_segment: pd.DataFrame, currency: str) -> str | None:
    """The segment level whose share of value at risk exceeds its share of customers most.

    ``by_segment`` has one row per (segment, level) with ``customers`` and ``value_at_risk``.
    """
    if by_segment is None or by_segment.empty:
        return None
    frame = by_segment.copy()
    totals = frame.groupby("segment")[["customers", "value_at_risk"]].transform("sum")
    frame["value_share"] = frame["value_at_risk"] / totals["value_at_risk"].where(
        totals["value_at_risk"] > 0
    )
    frame["customer_share"] = frame["customers"] / totals["customers"]
    frame = frame.dropna(subset=["value_share"])
    if frame.empty:
        return None
    row = frame.loc[(frame["value_share"] - frame["customer_share"]).idxmax()]
    return (
        f"Customers with {humanize(row['segment'])} {humanize(row['level'])} hold "
        f"{fmt_share(row['value_share'], 0)} of the value at risk "
        f"({fmt_money(row['value_at_risk'], currency)}) while being "
        f"{fmt_share(row['customer_share'], 0)} of active customers."
    )


def budget_plan(summary: dict[str, Any] | None, currency: str) -> str | None:
    """Expected return of the budget plan against contacting the customers most likely to churn."""
    if not summary or "plan" not in summary:
        return None
    plan, naive = summary["plan"], summary.get("top_n_by_churn_probability") or {}
    if not plan.get("contacts"):
        return "The budget plan contacts nobody: no contact is expected to save more than it costs."
    sentence = (
        f"Spending {fmt_money(plan['cost'], currency)} on {fmt_int(plan['contacts'])} contacts "
        f"is expected to save {fmt_money(plan['expected_saved_value'], currency)} of customer "
        f"value, a net return of {fmt_money(plan['expected_net_return'], currency)}"
    )
    if not is_missing(naive.get("expected_net_return")):
        sentence += (
            f", against {fmt_money(naive['expected_net_return'], currency)} when contacting "
            f"the {fmt_int(naive['contacts'])} customers most likely to churn"
        )
    basis = str(summary.get("basis", ""))
    if basis.startswith("measured"):
        sentence += " (expected uplift measured on randomised campaigns)"
    elif summary.get("plan_range"):
        low, high = summary["plan_range"]["low"], summary["plan_range"]["high"]
        sentence += (
            f". The save rates are assumptions: at half or 1.5 times them the net return is "
            f"{fmt_money(low['expected_net_return'], currency)} to "
            f"{fmt_money(high['expected_net_return'], currency)}"
        )
    control = summary.get("control_group") or {}
    if control.get("control"):
        sentence += (
            f". {fmt_int(control['control'])} of the chosen customers are held back as a control "
            "group so the next run measures what the contacts did"
        )
    return sentence + "."


def top_at_risk(top: pd.DataFrame, total_value_at_risk: float, currency: str) -> str | None:
    """Value at risk held by the customers listed, as a share of the total."""
    if top is None or top.empty or is_missing(total_value_at_risk) or total_value_at_risk <= 0:
        return None
    held = top["value_at_risk"].sum()
    return (
        f"These {fmt_int(len(top))} customers hold {fmt_money(held, currency)} of value at risk, "
        f"{fmt_share(held / total_value_at_risk)} of the {fmt_money(total_value_at_risk, currency)} "
        f"total."
    )


def drift(report: dict[str, Any] | None, labels: dict[str, str]) -> str | None:
    """Features that drifted, the largest shift, and the retraining recommendation."""
    if not report:
        return None
    features = report.get("features") or []
    drifted = [f for f in features if f.get("drifted")]
    parts = [f"{len(drifted)} of {len(features)} features drifted"]
    with_psi = [f for f in features if not is_missing(f.get("psi"))]
    if with_psi:
        largest = max(with_psi, key=lambda f: f["psi"])
        name = labels.get(largest["feature"], humanize(largest["feature"]))
        parts[0] += f" (largest shift: {name}, PSI {fmt_number(largest['psi'], 2)})"
    shift = report.get("score_shift") or {}
    if not is_missing(shift.get("psi")):
        parts.append(f"the churn-score distribution moved by PSI {fmt_number(shift['psi'], 2)}")
    sentence = _sentence_case(_join(parts))
    if report.get("retraining_recommended"):
        reasons = "; ".join(report.get("reasons") or [])
        return f"{sentence}. Retraining is recommended" + (f": {reasons}." if reasons else ".")
    return f"{sentence}. No retraining is needed."


def backtest(backtest_result: dict[str, Any], metric: str = "roc_auc") -> str | None:
    """Each candidate's mean and spread over the cutoffs, and which one is deployed, why."""
    summary = backtest_result.get("summary") or {}
    selection = backtest_result.get("selection") or {}
    parts = []
    for kind, label in (("xgboost", "XGBoost"), ("logistic", "the logistic regression")):
        spread = (summary.get(kind) or {}).get(metric) or {}
        if is_missing(spread.get("mean")):
            continue
        sd = "" if is_missing(spread.get("sd")) else f" ± {fmt_number(spread['sd'], 3)}"
        parts.append(f"{label} {fmt_number(spread['mean'], 3)}{sd}")
    if not parts:
        return None
    chosen = {"xgboost": "XGBoost", "logistic": "the logistic regression"}.get(
        selection.get("chosen"), "?"
    )
    cutoffs = len(backtest_result.get("cutoffs") or [])
    return (
        f"Over {cutoffs} cutoffs the mean ROC-AUC was {_join(parts)}; {chosen} is deployed "
        f"({selection.get('reason', 'no reason recorded')})."
    )


def lead_time(result: dict[str, Any]) -> str | None:
    """How many of the flagged churners were already leaving, and the ranking without them."""
    share = result.get("share_of_flagged_churners_with_signal")
    if result.get("status") != "measured" or is_missing(share):
        return None
    without = (result.get("without_signal") or {}).get("roc_auc")
    overall = (result.get("all_customers") or {}).get("roc_auc")
    return (
        f"{fmt_share(share, 0)} of the churners the model flags already showed a leaving signal "
        f"({', '.join(result.get('signals') or [])}); without those customers its ROC-AUC is "
        f"{fmt_number(without, 3)} (all customers: {fmt_number(overall, 3)})."
    )


def precision_at_top(scorer: dict[str, Any], top_fraction: float) -> str | None:
    """Churn rate among the top-ranked customers (lift x the churn rate) against the rate."""
    lift, rate = scorer.get("top_decile_lift"), scorer.get("observed_rate")
    if is_missing(lift) or is_missing(rate):
        return None
    return (
        f"Of the customers the model ranks in its top {fmt_share(top_fraction, 0)}, "
        f"{fmt_share(float(lift) * float(rate))} churned, against {fmt_share(rate)} of all "
        f"customers: {fmt_number(lift, 1)} times the churn rate."
    )
