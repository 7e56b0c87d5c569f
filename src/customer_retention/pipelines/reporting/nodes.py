"""The reviewer's report: one self-contained HTML file built from the other stages' outputs.

Each ``build_*_section`` node turns one stage's outputs into a template context (numbers
already formatted, tables as rows of strings, one computed takeaway per chart) and the
section's charts. A section whose inputs are absent (no feedback table, no scoring run yet,
no drift check) carries a message saying so instead of failing. ``summarise_headlines``
compares the headline numbers with the previous run's ``report_summary.json``;
``encode_report_charts`` draws each figure once into PNG bytes, for the HTML's data URIs
and the versioned PNG files;
``render_report`` fills ``templates/report.html.j2``.
"""

from __future__ import annotations

import base64
import io
import logging
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

import customer_retention
from customer_retention.core.attributes import chosen_segments
from customer_retention.core.features import FEATURE_LABELS
from customer_retention.models.evaluation import cumulative_gains, reliability_table, thin_curve
from customer_retention.provenance import git_commit

from . import charts, takeaways
from .formatting import (
    fmt_date,
    fmt_int,
    fmt_money,
    fmt_month,
    fmt_number,
    fmt_p_value,
    fmt_pct,
    fmt_share,
    fmt_signed,
    humanize,
    is_missing,
    months_from_days,
)

logger = logging.getLogger(__name__)

LABEL = "churned_within_horizon"
SCORER_NAMES = {
    "xgboost_calibrated": "Churn model (XGBoost, calibrated)",
    "xgboost_raw": "Churn model before calibration",
    "logistic_baseline": "Logistic-regression baseline",
    "health_score": "Health score",
    "cox_risk": "Cox survival model",
    "cox_risk_rank_only": "Cox survival model (ranking only)",
    "oracle": "Oracle: true probability (demo data only)",
}
MODEL = "xgboost_calibrated"


# ----------------------------------------------------------------------------- helpers
def _chart(
    key: str, title: str, takeaway: str | None, absent: str | None = None, note: str = ""
) -> dict[str, Any]:
    """A chart block of the template; ``absent`` replaces the chart when there is no data."""
    return {"key": key, "title": title, "takeaway": takeaway, "absent": absent, "note": note}


def _frame(data: pd.DataFrame | None) -> pd.DataFrame:
    return data if isinstance(data, pd.DataFrame) else pd.DataFrame()


def _as_of_health(customer_health: pd.DataFrame) -> pd.DataFrame:
    """Health rows of the newest snapshot (the customers active at the as-of date)."""
    if customer_health is None or customer_health.empty:
        return pd.DataFrame(columns=["customer_id", "snapshot_date", "health_score"])
    dates = pd.to_datetime(customer_health["snapshot_date"])
    return customer_health[dates == dates.max()]


def as_of_date(customer_health: pd.DataFrame) -> pd.Timestamp | None:
    """The as-of date: the newest snapshot date."""
    rows = _as_of_health(customer_health)
    return pd.Timestamp(rows["snapshot_date"].iat[0]) if len(rows) else None


def _scoring_is_current(at_risk: pd.DataFrame | None, as_of: pd.Timestamp | None) -> str | None:
    """None when the at-risk list scores the current as-of date, else why it cannot be used."""
    if at_risk is None or at_risk.empty:
        return (
            "No scoring outputs yet: the churn model has not scored the active customers "
            "(run 'kedro run --pipeline score', or the default pipeline)."
        )
    scored = pd.Timestamp(str(at_risk["as_of_date"].iat[0]))
    if as_of is not None and scored != as_of:
        return (
            f"The at-risk list scores the customers of {fmt_date(scored)}, older than the data "
            f"(as of {fmt_date(as_of)}): run 'kedro run --pipeline score' to refresh it."
        )
    return None


def high_risk(at_risk: pd.DataFrame, multiple: float) -> tuple[int, float]:
    """Customers whose churn probability is at least ``multiple`` x the average, and the cut-off."""
    threshold = float(at_risk["churn_probability"].mean()) * multiple
    return int((at_risk["churn_probability"] >= threshold).sum()), threshold


# ----------------------------------------------------------------------------- retention
Block = tuple[dict[str, Any], Figure | None]


def _collect(*blocks: Block) -> tuple[list[dict[str, Any]], dict[str, Figure]]:
    """Chart blocks for the template and the figures drawn, keyed like the blocks."""
    return [b for b, _ in blocks], {b["key"]: f for b, f in blocks if f is not None}


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
        "outcome).",
    )
    return block, charts.support_bands(bands, horizon_days) if len(bands) else None


def _health_block(
    customer_health: pd.DataFrame, summary: dict[str, Any], horizon_days: int, bands: list
) -> Block:
    low, high = (float(b) for b in bands)
    scores = _as_of_health(customer_health)["health_score"].dropna()
    constant = str(summary.get("status", "")).startswith("constant")
    if constant:
        scores = scores.iloc[:0]
    auc = summary.get("roc_auc_next_horizon_churn")
    weights = ", ".join(
        f"{humanize(k)} {fmt_share(v, 0)}" for k, v in (summary.get("weights") or {}).items()
    )
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
        else "The health score is the same for every customer: its components have no data "
        "that tell customers apart (no usage, feedback or support tables)."
        if constant
        else "No health scores at the as-of date.",
        f"Weights: {weights}.{power}",
    )
    return block, charts.health_histogram(scores, low, high) if len(scores) else None


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
    return {"charts": blocks, "headline": headline}, figures


# ----------------------------------------------------------------------------- survival
def _reference_levels(
    survival_summary: dict[str, Any], hazard_ratios: pd.DataFrame
) -> dict[str, str | None]:
    """Reference level of each attribute: from parameters, else the level without a ratio."""
    references = dict(((survival_summary or {}).get("cox") or {}).get("reference_levels") or {})
    segments = ((survival_summary or {}).get("kaplan_meier") or {}).get("segments") or {}
    for attribute, level in list(references.items()):
        if level is None and attribute in segments:
            with_ratio = {
                c.partition("=")[2]
                for c in hazard_ratios["covariate"]
                if c.partition("=")[0] == attribute
            }
            rest = [g for g in segments[attribute]["groups"] if g not in with_ratio]
            references[attribute] = rest[0] if len(rest) == 1 else None
    return references


def _km_block(curves: pd.DataFrame, logrank: pd.DataFrame, segments: dict[str, Any]) -> Block:
    overall = _overall_logrank(logrank)
    shown = {
        segment: {
            "origin": curves.loc[curves["segment"] == segment, "origin"].iat[0],
            "p_value": float(overall[segment]) if segment in overall else None,
        }
        for segment in dict.fromkeys(curves["segment"] if len(curves) else [])
    }
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
    labels = []
    for _, row in ratios.iterrows():
        attribute, is_level, level = str(row["covariate"]).partition("=")
        reference = references.get(attribute)
        versus = f" vs {humanize(reference)}" if reference else ""
        label = (
            f"{humanize(attribute)}: {humanize(level)}{versus}"
            if is_level
            else f"{humanize(attribute)} (per unit)"
        )
        if str(row.get("ph_violated", False)).lower() == "true":
            label += " (PH violated)"
        labels.append(label)
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


def _overall_logrank(logrank: pd.DataFrame) -> pd.Series:
    """Segment -> p-value of the log-rank test across all its groups."""
    if logrank.empty:
        return pd.Series(dtype=float)
    return logrank[logrank["comparison"] == "all groups"].set_index("segment")["p_value"]


def _median_table(
    km: dict[str, Any], logrank: pd.DataFrame, curves: pd.DataFrame
) -> list[dict[str, Any]]:
    """Median time to churn and share active after 6 / 12 months, groups in chart order."""
    overall = _overall_logrank(logrank)
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


def build_survival_section(
    survival_summary: dict[str, Any],
    hazard_ratios: pd.DataFrame,
    logrank_tests: pd.DataFrame,
    km_curves: pd.DataFrame,
) -> tuple[dict[str, Any], dict[str, Figure]]:
    """Kaplan-Meier curves with log-rank tests, the hazard-ratio forest plot, median survival."""
    summary = survival_summary or {}
    km = summary.get("kaplan_meier") or {}
    logrank = _frame(logrank_tests)
    curves = _frame(km_curves)
    if curves.empty:
        curves = pd.DataFrame(columns=["segment", "group", "origin", "months", "survival"])
    ratios = _frame(hazard_ratios)
    references = _reference_levels(summary, ratios) if len(ratios) else {}
    blocks, figures = _collect(
        _km_block(curves, logrank, km.get("segments") or {}),
        _hazard_block(ratios, references, summary.get("cox") or {}),
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


# ----------------------------------------------------------------------------- churn model
ROC_SCORERS = (
    "xgboost_calibrated",
    "logistic_baseline",
    "health_score",
    "cox_risk",
    "cox_risk_rank_only",
    "oracle",
)
GAINS_SCORERS = ("xgboost_calibrated", "logistic_baseline", "health_score")
CALIBRATION_SCORERS = ("xgboost_calibrated", "logistic_baseline")


def _metric_row(name: str, result: dict[str, Any]) -> dict[str, Any]:
    ok = result.get("status") == "ok"

    def show(key: str, decimals: int) -> str:
        return fmt_number(result.get(key), decimals) if ok and key in result else ""

    return {
        "name": SCORER_NAMES.get(name, humanize(name)),
        "description": result.get("description", ""),
        "status": "" if ok else result.get("status", ""),
        "roc_auc": show("roc_auc", 3),
        "pr_auc": show("pr_auc", 3),
        "lift": show("top_decile_lift", 2),
        "capture": fmt_share(result.get("top_decile_capture_rate"), 0) if ok else "",
        "log_loss": show("log_loss", 3),
        "brier": show("brier_score", 4),
        "ece": show("ece", 3),
        "is_model": name == MODEL,
    }


def _evaluation_curves(
    scores: pd.DataFrame, scorers: dict[str, Any], evaluation: dict[str, Any]
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """ROC, reliability and gains tables of the scorers present in the test scores."""
    y = scores[LABEL].astype(float)
    roc, calibration, gains = {}, {}, {}
    for name in ROC_SCORERS:
        column = "health_risk" if name == "health_score" else name
        if column not in scores or scores[column].isna().all():
            continue
        ok = scores[column].notna()
        label = SCORER_NAMES[name]
        auc = scorers.get(name, {}).get("roc_auc")
        fpr, tpr, _ = roc_curve(y[ok], scores.loc[ok, column])
        keep = thin_curve(fpr, tpr)  # a quarter pixel apart, not one point per test row
        roc[f"{label} ({fmt_number(auc, 3)})" if auc else label] = pd.DataFrame(
            {"fpr": fpr[keep], "tpr": tpr[keep]}
        )
        if name in GAINS_SCORERS:
            gains[label] = cumulative_gains(y[ok], scores.loc[ok, column])
        if name in CALIBRATION_SCORERS:
            calibration[label] = reliability_table(
                y[ok],
                scores.loc[ok, column],
                int(evaluation["ece_bins"]),
                evaluation["ece_strategy"],
            )
    return roc, calibration, gains


def build_model_section(
    churn_model_metrics: dict[str, Any],
    churn_test_scores: pd.DataFrame,
    churn_feature_importance: pd.DataFrame,
    horizon_days: int,
    evaluation: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Figure]]:
    """Metrics of every scorer, ROC, calibration, gains and the top drivers."""
    metrics = churn_model_metrics or {}
    scorers = metrics.get("scorers") or {}
    model = scorers.get(MODEL, {})
    top_fraction = float(evaluation["top_fraction"])
    scores = _frame(churn_test_scores)
    usable = bool(len(scores)) and LABEL in scores and scores[LABEL].nunique() == 2
    roc, calibration, gains = (
        _evaluation_curves(scores, scorers, evaluation) if usable else ({}, {}, {})
    )
    missing = None if usable else "No test snapshot with both churners and stayers to evaluate on."
    importance = _frame(churn_feature_importance)
    blocks, figures = _collect(
        (
            _chart(
                "roc",
                "How well the model ranks customers (ROC)",
                takeaways.model_ranking(scorers),
                missing or (None if roc else "No scorer to evaluate."),
                "Higher and further left is better; the dotted diagonal is a random guess.",
            ),
            charts.roc_curves(roc) if roc else None,
        ),
        (
            _chart(
                "calibration",
                "Are the probabilities right? (calibration)",
                takeaways.calibration(model, horizon_days),
                missing or (None if calibration else "No probability scorer to check."),
                "Points on the diagonal mean that customers given a 10% risk churn 10% of the time.",
            ),
            charts.calibration_curves(calibration) if calibration else None,
        ),
        (
            _chart(
                "gains",
                "Who to contact first (gains)",
                takeaways.gains(model, top_fraction),
                missing or (None if gains else "No scorer to evaluate."),
                "Share of all churners reached when contacting customers riskiest first.",
            ),
            charts.gains_chart(gains, top_fraction) if gains else None,
        ),
        (
            _chart(
                "drivers",
                "Top drivers of predicted churn",
                takeaways.drivers(importance, FEATURE_LABELS),
                None if len(importance) else "No feature importance available.",
                "Average size of each feature's push on a customer's churn score (SHAP), test rows.",
            ),
            charts.driver_bars(importance, FEATURE_LABELS) if len(importance) else None,
        ),
    )
    return {
        "charts": blocks,
        "metrics_table": [_metric_row(name, result) for name, result in scorers.items()],
        "split": metrics.get("split_reason", ""),
        "test_window": ", ".join((metrics.get("windows") or {}).get("test", [])),
        "test_rows": fmt_int((metrics.get("rows") or {}).get("test")),
        "test_churn_rate": fmt_share(metrics.get("test_churn_rate")),
        "headline": {"roc_auc": model.get("roc_auc")},
    }, figures


# ----------------------------------------------------------------------------- value
def _segment_values(
    values: pd.DataFrame, survival_table: pd.DataFrame, segments: list[str]
) -> pd.DataFrame:
    """Customers and value at risk per (segment, level) of the static attributes."""
    present = [s for s in segments if s in survival_table]
    if not present or values.empty or "customer_id" not in survival_table:
        return pd.DataFrame(columns=["segment", "level", "customers", "value_at_risk"])
    attributes = survival_table.assign(customer_id=survival_table["customer_id"].astype(str))
    frame = values.merge(attributes[["customer_id", *present]], on="customer_id", how="left")
    parts = []
    for segment in present:
        grouped = frame.groupby(frame[segment].astype(str))["value_at_risk"].agg(["size", "sum"])
        parts.append(
            pd.DataFrame(
                {
                    "segment": segment,
                    "level": grouped.index,
                    "customers": grouped["size"].to_numpy(),
                    "value_at_risk": grouped["sum"].to_numpy(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _clv_block(values: pd.DataFrame, currency: str) -> Block:
    clv = values["clv"].dropna() if "clv" in values else pd.Series(dtype=float)
    block = _chart(
        "clv_distribution",
        "Customer lifetime value",
        takeaways.clv_concentration(clv, currency),
        None if len(clv) else "No customer values: the CLV stage has not run.",
        "CLV = expected future margin over the next years, discounted (parameters_clv.yml).",
    )
    return block, charts.clv_histogram(clv, currency) if len(clv) else None


def _value_at_risk_block(by_segment: pd.DataFrame, source: str, currency: str) -> Block:
    drawable = len(by_segment) and by_segment["value_at_risk"].sum() > 0
    block = _chart(
        "value_at_risk",
        "Value at risk by segment",
        takeaways.value_at_risk_by_segment(by_segment, currency),
        None if drawable else "No value at risk to break down.",
        f"Value at risk = {source}.",
    )
    return block, charts.value_at_risk_bars(by_segment, currency) if drawable else None


def _budget_block(summary: dict[str, Any] | None, absent: str | None, currency: str) -> Block:
    drawable = bool(summary and summary.get("plan"))
    block = _chart(
        "budget_plan",
        "Retention budget plan",
        takeaways.budget_plan(summary, currency),
        None if drawable else absent or "No retention plan.",
        "Expected saved value = save rate of the action × value at risk; "
        "return = (saved − cost) ÷ cost (save rates and budget in parameters_scoring.yml).",
    )
    return block, charts.budget_comparison(summary, currency) if drawable else None


def _plan_rows(summary: dict[str, Any], currency: str) -> list[dict[str, str]]:
    """The budget plan against contacting the same number by churn probability."""
    rows = []
    for label, outcome in (
        ("Budget plan: highest expected saved value net of cost", summary["plan"]),
        (
            "Same number of contacts, highest churn probability first",
            summary.get("top_n_by_churn_probability") or {},
        ),
    ):
        rows.append(
            {
                "strategy": label,
                "contacts": fmt_int(outcome.get("contacts")),
                "cost": fmt_money(outcome.get("cost"), currency, compact=False),
                "saved": fmt_money(outcome.get("expected_saved_value"), currency, compact=False),
                "net": fmt_money(outcome.get("expected_net_return"), currency, compact=False),
                "return": f"{fmt_number(outcome.get('return_on_spend'), 1)}×",
            }
        )
    return rows


def _top_customer_rows(
    top: pd.DataFrame, retention_plan: pd.DataFrame | None, currency: str
) -> list[dict[str, Any]]:
    """The customers with the most value at risk, their reasons, action and plan membership."""
    plan = _frame(retention_plan)
    contacts = (
        set(plan.loc[plan["contact"].astype(bool), "customer_id"].astype(str))
        if "contact" in plan
        else set()
    )
    reason_columns = [c for c in ("reason_1", "reason_2", "reason_3") if c in top]
    return [
        {
            "customer_id": row["customer_id"],
            "probability": fmt_share(row["churn_probability"]),
            "clv": fmt_money(row["clv"], currency, compact=False),
            "value_at_risk": fmt_money(row["value_at_risk"], currency, compact=False),
            "reasons": [row[c] for c in reason_columns if not is_missing(row[c])],
            "action": row.get("recommended_action", ""),
            "in_plan": "yes" if row["customer_id"] in contacts else "no",
        }
        for _, row in top.iterrows()
    ]


def build_value_section(
    customer_value: pd.DataFrame,
    at_risk_customers: pd.DataFrame | None,
    retention_plan: pd.DataFrame | None,
    retention_plan_summary: dict[str, Any] | None,
    survival_table: pd.DataFrame,
    customer_health: pd.DataFrame,
    value_at_risk_segments: Any,
    horizon_days: int,
    params: dict[str, Any],
    run_plan: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Figure]]:
    """CLV distribution, value at risk by segment, the budget plan and the top at-risk list.

    Value at risk = churn probability x CLV from the churn model's at-risk list when it scores
    the current as-of date; without it, the CLV stage's survival-based estimate (said so).
    """
    currency = params["currency"]
    scoring_absent = _scoring_is_current(at_risk_customers, as_of_date(customer_health))
    scored = scoring_absent is None
    values = _frame(customer_value)
    risk = at_risk_customers if scored else values
    risk = risk.dropna(subset=["value_at_risk"]) if "value_at_risk" in risk else pd.DataFrame()
    if "customer_id" in risk:
        risk = risk.assign(customer_id=risk["customer_id"].astype(str))
    source = (
        f"churn model's probability of churning within {horizon_days} days × CLV"
        if scored
        else "survival model's churn probability × CLV (the churn model has not scored the "
        "current customers)"
    )
    segments = chosen_segments(value_at_risk_segments, run_plan or {})
    by_segment = _segment_values(risk, _frame(survival_table), segments)
    summary = retention_plan_summary if scored else None
    blocks, figures = _collect(
        _clv_block(values, currency),
        _value_at_risk_block(by_segment, source, currency),
        _budget_block(summary, scoring_absent, currency),
    )
    total = float(risk["value_at_risk"].sum()) if len(risk) else None
    top = risk.nlargest(int(params["top_customers"]), "value_at_risk") if scored else risk.head(0)
    count, threshold = (
        high_risk(risk, float(params["high_risk_multiple"])) if scored else (None, None)
    )
    return {
        "charts": blocks,
        "scoring_absent": scoring_absent,
        "plan_table": _plan_rows(summary, currency) if summary and summary.get("plan") else [],
        "actions_table": [
            {"action": action, "contacts": fmt_int(n)}
            for action, n in ((summary or {}).get("contacts_by_action") or {}).items()
        ],
        "top_customers": _top_customer_rows(top, retention_plan, currency),
        "top_takeaway": takeaways.top_at_risk(top, total, currency),
        "headline": {
            "high_risk_customers": count,
            "high_risk_threshold": threshold,
            "value_at_risk": total,
            "value_at_risk_source": "churn model" if scored else "survival model",
            "scoring_model_id": (
                risk["model_id"].iat[0] if scored and "model_id" in risk and len(risk) else None
            ),
        },
    }, figures


# ----------------------------------------------------------------------------- run and quality
KEY_PARAMETERS = (
    ("feature_engineering", "horizon_days", "churn horizon (days)"),
    ("feature_engineering", "n_snapshots", "snapshots"),
    ("feature_engineering", "grace_days", "grace days between subscriptions"),
    ("feature_engineering", "inactivity_days", "inactivity days (no subscriptions)"),
    ("churn_model", "promotion", "model promotion rule"),
    ("clv", "gross_margin", "gross margin"),
    ("clv", "annual_discount_rate", "annual discount rate"),
    ("clv", "horizon_months", "CLV horizon (months)"),
    ("retention_plan", "budget", "retention budget"),
    ("retention_plan", "cost_per_contact", "cost per contact"),
    ("retention_metrics", "health_score", "health-score weights"),
)


def _parameter_text(value: Any) -> str:
    if isinstance(value, dict):
        if "weights" in value:
            value = value["weights"]
        return ", ".join(f"{humanize(k)} {v}" for k, v in value.items())
    return (
        f"{value:,}"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else str(value)
    )


def _quality_rows(data_quality: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per table: rows in, clean, quarantined by reason, and whether they reconcile."""
    rows = []
    for table, report in (data_quality.get("tables") or {}).items():
        reasons = report.get("quarantined_by_reason") or {}
        clean, quarantined = report.get("rows_clean", 0), report.get("rows_quarantined", 0)
        rows.append(
            {
                "table": humanize(table),
                "status": report.get("status", ""),
                "rows_in": fmt_int(report.get("rows_in")),
                "rows_clean": fmt_int(report.get("rows_clean")),
                "rows_quarantined": fmt_int(report.get("rows_quarantined")),
                "reasons": "; ".join(f"{r}: {n:,}" for r, n in reasons.items()),
                "reconciled": report.get("status") != "present"
                or report.get("rows_in") == clean + quarantined,
            }
        )
    return rows


def _data_window(
    data_quality: dict[str, Any], monthly: pd.DataFrame, snapshot_dates: list
) -> dict[str, str]:
    first, last = (fmt_date(snapshot_dates[i]) if snapshot_dates else "n/a" for i in (0, -1))
    return {
        "contract": data_quality.get("contract", "unknown"),
        "first_month": fmt_month(monthly["month"].iat[0]) if len(monthly) else "n/a",
        "last_month": fmt_month(monthly["month"].iat[-1]) if len(monthly) else "n/a",
        "as_of": last,
        "snapshots": f"{len(snapshot_dates)} ({first} to {last})" if snapshot_dates else "n/a",
    }


def _model_facts(metadata: dict[str, Any], promotion: dict[str, Any]) -> dict[str, Any]:
    """The latest trained model, its windows and the promotion decision."""
    training = metadata.get("training_window") or {}
    return {
        "trained_id": metadata.get("model_id", "n/a"),
        "trained_at": metadata.get("created_at", "n/a"),
        "train": _window_text(training.get("train")),
        "valid": _window_text(training.get("valid")),
        "test": _window_text(training.get("test")),
        "decision": promotion.get("decision", "n/a"),
        "reason": promotion.get("reason", ""),
        "promoted_id": promotion.get("promoted_model_id", "n/a"),
        "champion_id": promotion.get("champion_model_id"),
        "metric": promotion.get("metric", ""),
        "challenger_score": fmt_number(promotion.get("challenger_score"), 3),
        "champion_score": fmt_number(promotion.get("champion_score"), 3),
        "model_code": (metadata.get("code_version") or {}).get("git_commit", "n/a"),
        "xgboost": (metadata.get("training") or {}).get("xgboost_version", "n/a"),
    }


def _drift_context(drift_report: dict[str, Any]) -> tuple[dict[str, Any], Figure | None]:
    """The Model monitoring subsection from the monitoring stage's drift report."""
    features = pd.DataFrame(drift_report.get("features") or [])
    if "psi" in features:
        features = features.dropna(subset=["psi"]).sort_values("psi", ascending=False)
        features["drifted"] = features.get("drifted", False)
    figure = charts.drift_bars(features, FEATURE_LABELS) if len(features) else None
    rows = [
        {
            "feature": FEATURE_LABELS.get(row["feature"], humanize(row["feature"])),
            "psi": fmt_number(row["psi"], 3),
            "ks": fmt_number(row.get("ks_statistic"), 3),
            "p": fmt_p_value(row.get("ks_pvalue")),
            "drifted": "yes" if row["drifted"] else "no",
        }
        for _, row in features.iterrows()
    ]
    reference = drift_report.get("reference_window") or {}
    shift = drift_report.get("score_shift") or {}
    context = {
        "chart": _chart(
            "drift",
            "Feature drift since training",
            takeaways.drift(drift_report, FEATURE_LABELS),
            None if figure else "The drift check reports no features.",
            "PSI below 0.1: no meaningful shift; 0.1–0.25: moderate; above 0.25: large.",
        ),
        "reference": f"{reference.get('start', 'n/a')} to {reference.get('end', 'n/a')}",
        "scoring_snapshot": drift_report.get("scoring_snapshot", "n/a"),
        "model_age_days": fmt_int(drift_report.get("model_age_days")),
        "score_mean": (
            f"{fmt_share(shift.get('mean_reference'))} → {fmt_share(shift.get('mean_scoring'))}"
        ),
        "recommended": bool(drift_report.get("retraining_recommended")),
        "reasons": list(drift_report.get("reasons") or []),
        "rows": rows,
    }
    return context, figure


HISTORY_TEXT = {
    "full": "a history of customers' starts and ends",
    "single_snapshot": "one snapshot with a churn flag (the history before it is rebuilt from "
    "tenure): one labelled snapshot, no monthly KPIs",
}


def _plan_facts(run_plan: dict[str, Any] | None, data_quality: dict[str, Any]) -> dict[str, Any]:
    """What this run did with these data (the pre-flight run plan) and what each customer
    attribute was taken to be, with its blanks and unparseable values."""
    plan = run_plan or {}
    attributes = ((data_quality.get("tables") or {}).get("customers") or {}).get("attributes")
    columns = (attributes or {}).get("columns") or {}
    stages = plan.get("stages") or {}
    return {
        "mode": HISTORY_TEXT.get(plan.get("history"), "n/a (no run plan)"),
        "skipped": [humanize(name) for name, d in stages.items() if not d["run"]],
        "stages": [
            {"stage": humanize(name), "runs": "yes" if d["run"] else "skipped", "why": d["why"]}
            for name, d in stages.items()
        ],
        "attributes": [
            {
                "column": name,
                "kind": humanize(info["kind"]),
                "levels": fmt_int(info["levels"]),
                "blanks": fmt_int(info["blanks"]),
                "unparseable": fmt_int(info["unparseable"]),
                "use": "segment" if info.get("segment") else "",
            }
            for name, info in columns.items()
        ],
    }


def build_run_section(
    data_quality: dict[str, Any],
    churn_model_metrics: dict[str, Any],
    churn_model_metadata: dict[str, Any],
    monthly_retention: pd.DataFrame,
    customer_health: pd.DataFrame,
    drift_report: dict[str, Any] | None,
    parameters: dict[str, Any],
    run_plan: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Figure]]:
    """Reconciliation and quarantine counts, data window, model versions and promotion,
    parameters, code version, and model monitoring (drift) when a drift check has run."""
    data_quality, parameters = data_quality or {}, parameters or {}
    metadata = churn_model_metadata or {}
    promotion = (churn_model_metrics or {}).get("promotion") or metadata.get("promotion") or {}
    as_of_rows = _as_of_health(customer_health)
    health = _frame(customer_health)
    snapshot_dates = sorted(pd.to_datetime(health["snapshot_date"]).unique()) if len(health) else []
    window = _data_window(data_quality, _frame(monthly_retention), snapshot_dates)
    drift, figure = _drift_context(drift_report) if drift_report else (None, None)
    totals = data_quality.get("totals") or {}
    return {
        "plan": _plan_facts(run_plan, data_quality),
        "quality_table": _quality_rows(data_quality),
        "quality_totals": {k: fmt_int(v) for k, v in totals.items()},
        "window": window,
        "model": _model_facts(metadata, promotion),
        "key_parameters": [
            {"name": label, "value": _parameter_text(parameters[group][key])}
            for group, key, label in KEY_PARAMETERS
            if key in (parameters.get(group) or {})
        ],
        "all_parameters": yaml.safe_dump(parameters, sort_keys=True, default_flow_style=False),
        "code_version": {
            "package": customer_retention.__version__,
            "git_commit": git_commit()[:12],
        },
        "drift": drift,
        "headline": {
            "as_of_date": window["as_of"],
            "active_customers": len(as_of_rows) if len(as_of_rows) else None,
            "promoted_model_id": promotion.get("promoted_model_id"),
        },
    }, {"drift": figure} if figure else {}


def _window_text(dates: list[str] | None) -> str:
    if not dates:
        return "n/a"
    return dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]} ({len(dates)} snapshots)"


# ----------------------------------------------------------------------------- summary
HEADLINES = (
    # key, label, formatter of a value, formatter of a change
    ("active_customers", "Active customers", fmt_int, lambda d: fmt_signed(d, 0)),
    ("churn_rate_pct", "Monthly churn rate", fmt_pct, lambda d: fmt_signed(d, 1, " pts")),
    ("retention_rate_pct", "Monthly retention rate", fmt_pct, lambda d: fmt_signed(d, 1, " pts")),
    (
        "net_revenue_retention_pct",
        "Net revenue retention",
        fmt_pct,
        lambda d: fmt_signed(d, 1, " pts"),
    ),
    (
        "gross_revenue_retention_pct",
        "Gross revenue retention",
        fmt_pct,
        lambda d: fmt_signed(d, 1, " pts"),
    ),
    ("nps", "NPS", lambda v: fmt_number(v), lambda d: fmt_signed(d, 1)),
    ("high_risk_customers", "Customers at high risk", fmt_int, lambda d: fmt_signed(d, 0)),
    ("value_at_risk", "Total value at risk", None, None),
    (
        "churn_model_roc_auc",
        "Churn model ROC-AUC",
        lambda v: fmt_number(v, 3),
        lambda d: fmt_signed(d, 3),
    ),
)


def _changes(
    numbers: dict[str, Any], previous: dict[str, Any] | None, currency: str
) -> list[dict[str, str]]:
    """Each headline number now, in the previous run, and the change."""

    def money(value: Any) -> str:
        return fmt_money(value, currency)

    def money_change(delta: float) -> str:
        return ("+" if delta > 0 else "") + fmt_money(delta, currency)

    rows = []
    for key, label, show, delta in HEADLINES:
        show, delta = show or money, delta or money_change
        now = numbers.get(key)
        before = (previous or {}).get(key)
        change = delta(now - before) if now is not None and before is not None else "n/a"
        rows.append({"metric": label, "previous": show(before), "now": show(now), "change": change})
    return rows


def _cards(
    retention: dict[str, Any],
    value: dict[str, Any],
    run: dict[str, Any],
    scoring_absent: str | None,
    horizon_days: int,
    params: dict[str, Any],
) -> dict[str, Any]:
    """The Summary's headline cards, formatted."""
    has_nps = retention["nps"] is not None
    scored = value["high_risk_customers"] is not None
    return {
        "as_of": run["as_of_date"],
        "active_customers": fmt_int(run["active_customers"]),
        "latest_month": fmt_month(retention["latest_month"]),
        "churn_rate": fmt_pct(retention["churn_rate_pct"]),
        "churn_detail": (
            f"{fmt_int(retention['churned_from_start'])} of "
            f"{fmt_int(retention['customers_start'])} customers"
        ),
        "retention_rate": fmt_pct(retention["retention_rate_pct"]),
        "retention_detail": (
            f"({fmt_int(retention['customers_end'])} − {fmt_int(retention['new_customers'])}) ÷ "
            f"{fmt_int(retention['customers_start'])}"
        ),
        "nrr": fmt_pct(retention["net_revenue_retention_pct"]),
        "grr": fmt_pct(retention["gross_revenue_retention_pct"]),
        "has_revenue": retention["net_revenue_retention_pct"] is not None,
        "nps": fmt_number(retention["nps"]) if has_nps else "n/a",
        "nps_detail": (
            f"{fmt_month(retention['nps_month'])}, {fmt_int(retention['nps_responses'])} answers"
            if has_nps
            else "no NPS answers in the data"
        ),
        "high_risk": fmt_int(value["high_risk_customers"]) if scored else "not scored",
        "high_risk_detail": (
            f"churn probability ≥ {fmt_share(value['high_risk_threshold'])} within "
            f"{horizon_days} days ({float(params['high_risk_multiple']):g}× the average)"
            if scored
            else scoring_absent or ""
        ),
        "value_at_risk": fmt_money(value["value_at_risk"], params["currency"]),
        "value_at_risk_detail": f"from the {value['value_at_risk_source']}",
    }


def summarise_headlines(
    retention_section: dict[str, Any],
    model_section: dict[str, Any],
    value_section: dict[str, Any],
    run_section: dict[str, Any],
    previous_report_summary: dict[str, Any] | None,
    horizon_days: int,
    params: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The headline numbers (saved as ``report_summary.json`` for the next run) and the Summary
    section, with what changed since the previous run's summary (None on the first run)."""
    retention, value = retention_section["headline"], value_section["headline"]
    run = run_section["headline"]
    numbers = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "as_of_date": run["as_of_date"],
        "active_customers": run["active_customers"],
        "latest_month": retention["latest_month"],
        "churn_rate_pct": retention["churn_rate_pct"],
        "retention_rate_pct": retention["retention_rate_pct"],
        "net_revenue_retention_pct": retention["net_revenue_retention_pct"],
        "gross_revenue_retention_pct": retention["gross_revenue_retention_pct"],
        "nps": retention["nps"],
        "high_risk_customers": value["high_risk_customers"],
        "value_at_risk": value["value_at_risk"],
        "value_at_risk_source": value["value_at_risk_source"],
        "churn_model_roc_auc": model_section["headline"]["roc_auc"],
        "promoted_model_id": run["promoted_model_id"],
    }
    numbers = {
        k: None if is_missing(v) else v.item() if isinstance(v, np.generic) else v
        for k, v in numbers.items()
    }
    previous = previous_report_summary or None
    cards = _cards(retention, value, run, value_section["scoring_absent"], horizon_days, params)
    section = {
        "cards": cards,
        "changes": _changes(numbers, previous, params["currency"]),
        "previous": None
        if previous is None
        else {
            "generated_at": _timestamp_text(previous.get("generated_at")),
            "as_of": previous.get("as_of_date", "n/a"),
        },
    }
    logger.info(
        "Report headlines as of %s: %s active customers, churn %s, value at risk %s",
        cards["as_of"],
        cards["active_customers"],
        cards["churn_rate"],
        cards["value_at_risk"],
    )
    return numbers, section


def _timestamp_text(value: Any) -> str:
    """ISO timestamp -> '2026-01-31 14:05 UTC'."""
    if is_missing(value):
        return "n/a"
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_convert("UTC") if stamp.tzinfo else stamp
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


# ----------------------------------------------------------------------------- charts and HTML
def _png(figure: Figure, dpi: int) -> bytes:
    """The figure as PNG bytes (no text chunk naming the matplotlib version)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def encode_report_charts(
    retention: dict[str, Figure],
    survival: dict[str, Figure],
    model: dict[str, Figure],
    value: dict[str, Figure],
    run: dict[str, Figure],
    dpi: int = 100,
) -> tuple[dict[str, bytes], dict[str, str]]:
    """Every section's figure drawn once, as PNG bytes: ``{"<name>.png": bytes}`` for the
    versioned PNG files and ``{name: "data:image/png;base64,..."}`` for the HTML (embedded: no
    file to ship); the file and the embedded image are the same bytes."""
    pngs = {
        name: _png(figure, dpi)
        for section in (retention, survival, model, value, run)
        for name, figure in section.items()
    }
    images = {
        name: "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        for name, png in pngs.items()
    }
    logger.info(
        "Report charts: %s, %s KB embedded",
        len(images),
        f"{sum(len(v) for v in images.values()) // 1024:,}",
    )
    return {f"{name}.png": png for name, png in pngs.items()}, images


def _template_environment() -> Environment:
    return Environment(
        loader=PackageLoader("customer_retention.pipelines.reporting", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(
    summary_section: dict[str, Any],
    retention_section: dict[str, Any],
    survival_section: dict[str, Any],
    model_section: dict[str, Any],
    value_section: dict[str, Any],
    run_section: dict[str, Any],
    report_chart_images: dict[str, str],
    horizon_days: int,
    params: dict[str, Any],
) -> str:
    """Fill the template: one self-contained HTML file (charts embedded, inline CSS, no links
    to anything outside the file)."""
    html = (
        _template_environment()
        .get_template("report.html.j2")
        .render(
            title=params["title"],
            generated_at=_timestamp_text(datetime.now(UTC)),
            horizon_days=horizon_days,
            summary=summary_section,
            retention=retention_section,
            survival=survival_section,
            model=model_section,
            value=value_section,
            run=run_section,
            images=report_chart_images,
        )
    )
    logger.info("Report: %s KB of HTML", f"{len(html.encode('utf-8')) // 1024:,}")
    return html
