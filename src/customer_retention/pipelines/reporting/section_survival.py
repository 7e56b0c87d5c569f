"""The survival section: Kaplan-Meier curves with log-rank tests, hazard ratios, median time
to churn."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from customer_retention.core import charts
from customer_retention.core.chart_data import (
    hazard_labels,
    kaplan_meier_panels,
    overall_logrank,
    reference_levels,
)
from customer_retention.core.formatting import (
    fmt_int,
    fmt_number,
    fmt_p_value,
    fmt_share,
    humanize,
    months_from_days,
)

from . import takeaways
from .blocks import (
    Block,
    _chart,
    _collect,
    _frame,
)


def _km_block(curves: pd.DataFrame, logrank: pd.DataFrame, segments: dict[str, Any]) -> Block:
    shown = kaplan_meier_panels(curves, logrank)
    block = _chart(
        "kaplan_meier",
        "Time to churn by segment (Kaplan–Meier)",
        takeaways.strongest_segment(logrank, segments),
        None if shown else "No segment with two or more groups to compare.",
        "Segments that change over time (NPS class, support speed) start at the first "
        "labelled snapshot, so nobody is credited with survival before the segment was known.",
    )
    return block, charts.kaplan_meier_grid(curves, shown) if shown else None


def ph_note(cox: dict[str, Any]) -> str:
    """What the proportional-hazards check found, in one or two sentences ('' when it holds)."""
    ph = cox.get("ph_test") or {}
    violating = ph.get("violating_attributes") or []
    if not violating:
        return ""
    strata = ph.get("stratified_attributes") or []
    text = (
        f" Proportional hazards do not hold for {', '.join(map(humanize, violating))}: their "
        "ratios (marked) are averages over time."
    )
    if strata:
        text += f" Risk scores and survival curves use a model stratified by {', '.join(map(humanize, strata))}."
    strongest = cox.get("strongest_attribute")
    if ph.get("strongest_attribute_stratified"):
        text += (
            f" {humanize(strongest)}, the attribute with the strongest effect, is among them: "
            "its effect is in the stratified baselines, not in one ratio."
        )
    return text


def _hazard_block(
    ratios: pd.DataFrame, references: dict[str, str | None], cox: dict[str, Any]
) -> Block:
    labels = hazard_labels(ratios, references) if len(ratios) else []
    absent = (
        cox.get("reason")
        or ("the survival stage has not run" if not cox else "no attributes to compare")
    ).rstrip(".")
    block = _chart(
        "hazard_ratios",
        "What changes the churn rate (Cox hazard ratios)",
        takeaways.hazard_ratios(ratios, references),
        None if len(ratios) else f"No Cox model: {absent}.",
        "A ratio of 1.5× means customers in that group churn 50% faster than the reference "
        "group at any tenure, other attributes being equal; lines are 95% confidence intervals."
        + ph_note(cox),
    )
    return block, charts.hazard_forest(ratios, labels) if len(ratios) else None


def _median_table(
    km: dict[str, Any], logrank: pd.DataFrame, curves: pd.DataFrame
) -> list[dict[str, Any]]:
    """Median time to churn and share active after 6 / 12 months, groups in chart order."""
    overall = overall_logrank(logrank)
    table = [_median_row("all customers", "", km["overall"], None)] if km.get("overall") else []
    for segment, info in (km.get("segments") or {}).items():
        p = float(overall[segment]) if segment in overall else None
        order = list(dict.fromkeys(curves.loc[curves["segment"] == segment, "group"]))
        groups = sorted(info["groups"], key=lambda g: order.index(g) if g in order else len(order))
        for i, group in enumerate(groups):
            first = i == 0
            table.append(
                _median_row(
                    humanize(segment) if first else "",
                    humanize(group),
                    info["groups"][group],
                    p if first else None,
                )
            )
    return table


def _landmark_takeaway(check: pd.DataFrame) -> str | None:
    """Observed against predicted share still active at the last month both have."""
    if check.empty or set(check["kind"]) != {"observed", "predicted"}:
        return None
    predicted = check[check["kind"] == "predicted"].sort_values("months")
    observed = check[check["kind"] == "observed"].sort_values("months")
    month = float(predicted["months"].iat[-1])
    seen = observed[observed["months"] <= month]
    if seen.empty:
        return None
    return (
        f"{fmt_number(month, 0)} months after the test snapshot the model predicted "
        f"{fmt_share(predicted['survival'].iat[-1])} of its customers still active; "
        f"{fmt_share(seen['survival'].iat[-1])} were (Kaplan-Meier)."
    )


def _landmark_block(check: pd.DataFrame, summary: dict[str, Any]) -> Block:
    landmark = summary.get("landmark") or {}
    block = _chart(
        "landmark_check",
        "Are the survival curves CLV uses right? (landmark model check)",
        _landmark_takeaway(check),
        None if len(check) else f"No landmark model: {landmark.get('reason', 'not fitted')}.",
        "Observed share still active after the last labelled snapshot (step line) against "
        "the model's mean prediction for the same customers (points).",
    )
    title = f"Landmark model: customers active on {landmark.get('test_snapshot', '?')}"
    return block, charts.landmark_check(check, title) if len(check) else None


def build_survival_section(
    survival_summary: dict[str, Any],
    hazard_ratios: pd.DataFrame,
    logrank_tests: pd.DataFrame,
    km_curves: pd.DataFrame,
    landmark_check: pd.DataFrame | None = None,
) -> tuple[dict[str, Any], dict[str, Figure]]:
    """Kaplan-Meier curves with log-rank tests, the hazard-ratio forest plot, median survival,
    and the landmark model's check (observed against predicted survival)."""
    summary = survival_summary or {}
    km = summary.get("kaplan_meier") or {}
    logrank = _frame(logrank_tests)
    curves = _frame(km_curves)
    if curves.empty:
        curves = pd.DataFrame(columns=["segment", "group", "origin", "months", "survival"])
    ratios = _frame(hazard_ratios)
    references = (
        reference_levels(summary.get("cox"), summary.get("kaplan_meier"), ratios)
        if len(ratios)
        else {}
    )
    blocks, figures = _collect(
        _km_block(curves, logrank, km.get("segments") or {}),
        _hazard_block(ratios, references, summary.get("cox") or {}),
        _landmark_block(_frame(landmark_check), summary),
    )
    comparison = (summary.get("model_comparison") or {}).get("c_index_test") or {}
    return {
        "charts": blocks,
        "median_table": _median_table(km, logrank, curves),
        "c_index": ", ".join(
            f"{humanize(k)} {fmt_number(v, 3)}" for k, v in comparison.items() if v is not None
        ),
        "curves_for_clv": (summary.get("survival_curves_for_clv") or {}).get("source"),
        "ph_handling": ((summary.get("cox") or {}).get("ph_test") or {}).get("handling"),
    }, figures


def _median_row(segment: str, group: str, stats: dict[str, Any], p: float | None) -> dict[str, Any]:
    return {
        "first": bool(segment),
        "segment": segment,
        "group": group,
        "customers": fmt_int(stats.get("customers")),
        "churned": fmt_int(stats.get("churned")),
        "median": months_from_days(stats.get("median_survival_days")),
        "active_6m": fmt_share(stats.get("survival_6m"), 0),
        "active_12m": fmt_share(stats.get("survival_12m"), 0),
        "logrank": fmt_p_value(p) if p is not None else "",
    }
