"""The retention section: churn and revenue retention, cohorts, exit reasons, NPS, support
speed and the health score."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from customer_retention.core import charts
from customer_retention.core.chart_data import health_band_churn, health_weights
from customer_retention.core.formatting import (
    fmt_number,
    fmt_share,
    humanize,
    is_missing,
)

from . import takeaways
from .blocks import (
    Block,
    _as_of_health,
    _chart,
    _collect,
    _frame,
)


def _churn_block(monthly: pd.DataFrame, params: dict[str, Any], no_history: str | None) -> Block:
    min_customers = int(params["min_customers_for_rate"])
    months = takeaways.rated_months(monthly, min_customers)
    has_revenue = (
        "net_revenue_retention" in months and months["net_revenue_retention"].notna().any()
    )
    trend = takeaways.churn_trend(monthly, int(params["trend_window_months"]), min_customers)
    revenue = takeaways.revenue_retention(monthly, min_customers) if has_revenue else None
    block = _chart(
        "monthly_churn",
        "Monthly churn and revenue retention",
        " ".join(t for t in (trend, revenue) if t) or None,
        None
        if len(months)
        else f"Not enough history: {no_history}."
        if no_history
        else "The retention-metrics stage has not run."
        if monthly is None
        else "No complete month with customers yet.",
        f"Months with at least {min_customers:,} customers at their start."
        + ("" if has_revenue else " No subscription revenue in the data: NRR/GRR not shown."),
    )
    return block, charts.monthly_churn(months) if len(months) else None


def _cohort_block(
    cohort_retention: pd.DataFrame, params: dict[str, Any], no_history: str | None
) -> Block:
    cohorts = _frame(cohort_retention)
    block = _chart(
        "cohort_retention",
        "Cohort retention",
        takeaways.cohort_retention(cohorts, 12, int(params["min_cohort_size"])),
        None
        if len(cohorts)
        else f"Not enough history: {no_history}."
        if no_history
        else "The retention-metrics stage has not run."
        if cohort_retention is None
        else "No signup cohorts in the data.",
    )
    return block, charts.cohort_heatmap(cohorts) if len(cohorts) else None


def _exit_block(exit_reasons: pd.DataFrame) -> Block:
    reasons = _frame(exit_reasons)
    block = _chart(
        "exit_reasons",
        "Exit-survey reasons",
        takeaways.exit_reasons(reasons),
        None
        if len(reasons)
        else "No exit-survey answers: the data hold no feedback table, or it has no exit surveys.",
    )
    return block, charts.exit_reasons_pareto(reasons) if len(reasons) else None


def _nps_block(monthly: pd.DataFrame, min_responses: int) -> Block:
    nps = takeaways.nps_months(monthly, min_responses)
    block = _chart(
        "nps_trend",
        "Net Promoter Score",
        takeaways.nps_trend(monthly, min_responses),
        None
        if len(nps)
        else "No NPS answers: the data hold no feedback table, or it has no NPS surveys.",
        f"Months with at least {min_responses:,} answers.",
    )
    return block, charts.nps_trend(nps) if len(nps) else None


def _support_block(bands: pd.DataFrame, horizon_days: int, min_customers: int) -> Block:
    bands = _frame(bands)
    bands = bands[bands["customers"] > 0] if len(bands) else bands
    block = _chart(
        "support_bands",
        "Churn by support response speed",
        takeaways.support_bands(bands, horizon_days, min_customers),
        None if len(bands) else "No support tickets in the data: support speed not measured.",
        "In brackets: customer-months observed (customers × monthly snapshots with a known "
        "outcome); whiskers: 95% intervals; pale bars: too few to compare.",
    )
    return block, charts.support_bands(bands, horizon_days, min_customers) if len(bands) else None


def _health_block(
    customer_health: pd.DataFrame, summary: dict[str, Any], horizon_days: int, bands: list
) -> Block:
    low, high = (float(b) for b in bands)
    scores = _as_of_health(customer_health)["health_score"].dropna()
    constant = str(summary.get("status", "")).startswith("constant")
    if constant:
        scores = scores.iloc[:0]
    auc = summary.get("roc_auc_next_horizon_churn")
    power = (
        f" Its ROC-AUC for churn within {horizon_days} days is {fmt_number(auc, 2)}."
        if not is_missing(auc)
        else ""
    )
    block = _chart(
        "health_scores",
        "Customer health score",
        takeaways.health_scores(scores, summary, low, horizon_days) if len(scores) else None,
        None
        if len(scores)
        else CONSTANT_HEALTH
        if constant
        else "No health scores at the as-of date.",
        f"The score is a weighted mean of the components below (0–100 each).{power}",
    )
    return block, charts.health_histogram(scores, low, high) if len(scores) else None


CONSTANT_HEALTH = (
    "The health score is the same for every customer: its components have no data that tell "
    "customers apart (no usage, feedback or support tables)."
)


def _health_band_block(
    customer_health: pd.DataFrame | None,
    summary: dict[str, Any],
    horizon_days: int,
    bands: list,
    min_customers: int,
) -> Block:
    """Churn within the horizon by health-score band (labelled snapshots), 95% intervals."""
    low, high = (float(b) for b in bands)
    table = health_band_churn(customer_health, low, high)
    table = table[table["customers"] > 0].reset_index(drop=True)
    constant = str(summary.get("status", "")).startswith("constant")
    block = _chart(
        "health_bands",
        "Does a low health score mean churn? (churn by health-score band)",
        None if constant else takeaways.health_bands(table, horizon_days, min_customers),
        CONSTANT_HEALTH
        if constant
        else None
        if len(table)
        else "The retention-metrics stage has not run."
        if customer_health is None
        else "The health scores carry no churn labels: rerun the retention-metrics stage "
        "('kedro run --pipeline retention_metrics')."
        if "churned_within_horizon" not in customer_health
        else f"No snapshot whose {horizon_days}-day outcome is known yet.",
        "Past snapshots whose outcome is known; in brackets: customer-months observed "
        "(customers × monthly snapshots); whiskers: 95% intervals (Wilson); pale bars: fewer "
        f"than {min_customers:,}, too few to compare and left out of the sentence above.",
    )
    drawable = len(table) and not constant
    figure = (
        charts.health_band_churn(table, horizon_days, low, high, min_customers)
        if drawable
        else None
    )
    return block, figure


def _weight_rows(summary: dict[str, Any], customer_health: pd.DataFrame | None) -> list[dict]:
    """The health score's components with the weights the retention-metrics stage applied."""
    weights = health_weights(summary, customer_health)
    return [
        {
            "component": humanize(row["component"]),
            "meaning": row["meaning"],
            "weight": fmt_share(row["weight"], 0),
        }
        for _, row in weights.iterrows()
    ]


def build_retention_section(
    monthly_retention: pd.DataFrame,
    cohort_retention: pd.DataFrame,
    exit_reasons: pd.DataFrame,
    churn_by_support_band: pd.DataFrame,
    customer_health: pd.DataFrame,
    retention_summary: dict[str, Any],
    horizon_days: int,
    params: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Figure]]:
    """Retention and churn trend, cohorts, exit reasons, NPS, support speed and health score."""
    min_nps = int(params["min_nps_responses"])
    health = (retention_summary or {}).get("health_score") or {}
    no_history = (retention_summary or {}).get("history_kpis")
    no_history = None if no_history in (None, "computed") else no_history
    blocks, figures = _collect(
        _churn_block(monthly_retention, params, no_history),
        _cohort_block(cohort_retention, params, no_history),
        _exit_block(exit_reasons),
        _nps_block(monthly_retention, min_nps),
        _support_block(churn_by_support_band, horizon_days, int(params["min_customers_for_rate"])),
        _health_block(customer_health, health, horizon_days, params["health_bands"]),
        _health_band_block(
            customer_health,
            health,
            horizon_days,
            params["health_bands"],
            int(params["min_customers_for_rate"]),
        ),
    )
    nps = takeaways.nps_months(monthly_retention, min_nps)
    latest = (retention_summary or {}).get("latest_month") or {}
    latest_nps = nps.iloc[-1] if len(nps) else None
    headline = {
        "latest_month": latest.get("month"),
        "churn_rate_pct": latest.get("churn_rate"),
        "retention_rate_pct": latest.get("retention_rate"),
        "customers_start": latest.get("customers_start"),
        "churned_from_start": latest.get("churned_from_start"),
        "new_customers": latest.get("new_customers"),
        "customers_end": latest.get("customers_end"),
        "net_revenue_retention_pct": latest.get("net_revenue_retention"),
        "gross_revenue_retention_pct": latest.get("gross_revenue_retention"),
        "nps": None if latest_nps is None else float(latest_nps["nps"]),
        "nps_month": None if latest_nps is None else latest_nps["month"],
        "nps_responses": None if latest_nps is None else int(latest_nps["nps_responses"]),
    }
    return {
        "charts": blocks,
        "health_weights": _weight_rows(health, customer_health),
        "headline": headline,
    }, figures
