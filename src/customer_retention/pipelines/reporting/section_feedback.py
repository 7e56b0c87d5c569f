"""The "What customers say" section: comment themes, churn by theme, and what the exit-reason
code list misses (from ``comment_themes.json`` of the feedback_themes stage)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from customer_retention.core import charts
from customer_retention.core.formatting import fmt_int, fmt_share

from .blocks import _chart, _collect


def _interval(item: dict[str, Any]) -> str:
    return f"{fmt_share(item['ci_low'])}–{fmt_share(item['ci_high'])}"


def _theme_rows(themes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "label": t["label"],
            "comments": fmt_int(t["comments"]),
            "share": fmt_share(t["share"]),
            "surveys": ", ".join(
                f"{k} {fmt_int(v)}" for k, v in (t.get("by_survey") or {}).items()
            ),
            "examples": [e if isinstance(e, str) else e.get("comment", "") for e in t["examples"]],
        }
        for t in themes
    ]


def _churn_frame(churn: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {
            "label": t["label"],
            "customers": t["customers"],
            "churn_rate_pct": t["rate"] * 100,
            "churn_rate_ci_low_pct": t["ci_low"] * 100,
            "churn_rate_ci_high_pct": t["ci_high"] * 100,
        }
        for t in churn.get("themes") or []
        if t.get("rate") is not None
    ]
    return pd.DataFrame(rows)


def _churn_takeaway(churn: dict[str, Any], min_customers: int) -> str | None:
    """Themes whose churn differs from the other themes' (the Newcombe interval of the
    difference excludes 0), among themes with enough customers; else 'not significant'."""
    baseline = churn.get("baseline") or {}
    if baseline.get("rate") is None:
        return None
    sentences = []
    for t in churn.get("themes") or []:
        other = t.get("vs_other_themes") or {}
        if t.get("customers", 0) < min_customers or other.get("ci_low") is None:
            continue
        if other["ci_low"] > 0 or other["ci_high"] < 0:
            sentences.append(
                f"customers whose comment is about {t['label']} churned {fmt_share(t['rate'])} "
                f"({_interval(t)}), {abs(other['difference']) * 100:.1f} points "
                f"{'more' if other['difference'] > 0 else 'fewer'} than those commenting on "
                "other themes"
            )
    lead = (
        f"Of {fmt_int(baseline['customers'])} customers with an NPS comment, "
        f"{fmt_share(baseline['rate'])} churned within {churn.get('horizon_days')} days"
    )
    if not sentences:
        return lead + "; no theme differs from the others beyond chance (not significant)."
    return lead + "; " + "; ".join(sentences) + "."


def _missing_codes(exits: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "label": t["label"],
            "exit_comments": fmt_int(t["exit_comments"]),
            "coded_as": ", ".join(
                f"{reason} {fmt_int(n)}"
                for reason, n in sorted(t["coded_as"].items(), key=lambda kv: -kv[1])
            ),
            "examples": [f"“{e['comment']}” (coded {e['coded_as']})" for e in t["examples"]],
        }
        for t in exits.get("not_in_code_list") or []
    ]


def _codes_takeaway(exits: dict[str, Any]) -> str | None:
    if exits.get("status") != "compared":
        return None
    missing = exits.get("not_in_code_list") or []
    off = exits.get("off_code_comments")
    text = (
        f"{fmt_int(off)} exit comments ({fmt_share(exits.get('off_code_share'))}) are about "
        "another theme than the reason they were coded with"
        if off is not None
        else ""
    )
    if missing:
        names = "; ".join(f"{t['label']} ({fmt_int(t['exit_comments'])} comments)" for t in missing)
        text += f". Not in the exit-reason code list: {names}"
    return (text + ".") if text else None


def build_feedback_section(
    comment_themes: dict[str, Any] | None, horizon_days: int, params: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Figure]]:
    """Themes with their examples, churn after an NPS comment by theme (Wilson intervals;
    small themes pale and out of the takeaway), and the themes the exit-reason codes miss;
    a message when the stage did not run or skipped."""
    result = comment_themes or {}
    if result.get("status") != "analysed":
        reason = result.get("reason") or "the feedback_themes stage has not run"
        return {"absent": f"No comment themes: {reason}.", "charts": []}, {}
    min_customers = int(params.get("min_customers_for_rate", 50))
    churn = result.get("churn_by_theme") or {}
    frame = _churn_frame(churn)
    baseline = (churn.get("baseline") or {}).get("rate")
    absent = None if len(frame) and baseline is not None else "No NPS comments to follow up."
    blocks, figures = _collect(
        (
            _chart(
                "theme_churn",
                "Does what customers say predict who leaves?",
                _churn_takeaway(churn, min_customers),
                absent,
                churn.get("definition", "")
                + (f" Intervals: {churn['interval']}." if churn.get("interval") else ""),
            ),
            charts.theme_churn(frame, baseline * 100, horizon_days, min_customers)
            if absent is None
            else None,
        ),
    )
    count = result.get("number_of_themes") or {}
    comments = result.get("comments") or {}
    return {
        "absent": None,
        "charts": blocks,
        "lead": f"{fmt_int(comments.get('read'))} comments read; {count.get('chosen')} themes "
        f"found ({count.get('criterion', '')}).",
        "themes": _theme_rows(result.get("themes") or []),
        "codes_takeaway": _codes_takeaway(result.get("exit_reasons") or {}),
        "missing_codes": _missing_codes(result.get("exit_reasons") or {}),
        "agreement": (result.get("planted_themes") or {}).get("adjusted_rand_index"),
    }, figures
