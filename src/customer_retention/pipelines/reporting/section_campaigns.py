"""The "Did our actions work?" section: each campaign against its control group."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from customer_retention.core import charts
from customer_retention.core.chart_data import arm_survival_curves
from customer_retention.core.formatting import (
    fmt_int,
    fmt_money,
    fmt_number,
    fmt_p_value,
    fmt_share,
)

from .blocks import _chart, _collect, _frame


def _points(value: float | None) -> str:
    return "" if value is None else f"{value * 100:+.1f}"


def _row(campaign: dict[str, Any]) -> dict[str, Any]:
    cox = campaign.get("cox") or {}
    power = campaign.get("power") or {}
    srm = campaign.get("sample_ratio_mismatch") or {}
    interval = (
        f"{_points(campaign['ci_low'])} to {_points(campaign['ci_high'])}"
        if campaign.get("ci_low") is not None
        else ""
    )
    hazard = (
        f"{fmt_number(cox['hazard_ratio'], 2)} ({fmt_number(cox['ci_low'], 2)}–"
        f"{fmt_number(cox['ci_high'], 2)})"
        if cox.get("hazard_ratio") is not None
        else ""
    )
    return {
        "campaign": campaign["campaign"],
        "date": campaign.get("treated_at", ""),
        "arms": f"{fmt_int(campaign['n_treatment'])} / {fmt_int(campaign['n_control'])}",
        "churn": (
            f"{fmt_share(campaign['churn_treatment'])} vs {fmt_share(campaign['churn_control'])}"
            if campaign.get("churn_treatment") is not None
            else ""
        ),
        "effect": _points(campaign.get("effect")),
        "interval": interval,
        "p_value": fmt_p_value(campaign.get("p_value"))
        if campaign.get("p_value") is not None
        else "",
        "hazard_ratio": hazard,
        "srm": fmt_p_value(srm.get("p_value")) if srm.get("p_value") is not None else "",
        "mde": _points(-(power.get("minimum_detectable_reduction") or 0))
        if power.get("minimum_detectable_reduction")
        else "",
        "needed": fmt_int(power.get("customers_per_arm_needed")),
        "status": campaign.get("status", ""),
        "flagged": str(campaign.get("status", "")).startswith("flagged"),
    }


def _takeaway(campaigns: list[dict[str, Any]]) -> str | None:
    """One sentence per campaign: the effect, whether it is distinguishable from none, power."""
    sentences = []
    for c in campaigns:
        if c.get("effect") is None:
            continue
        verdict = (
            "not trustworthy (" + c["status"].removeprefix("flagged: ") + ")"
            if str(c.get("status", "")).startswith("flagged")
            else "significant"
            if c.get("significant")
            else "not significant: the interval includes no effect"
        )
        sentence = (
            f"{c['campaign']}: churn {fmt_share(c['churn_treatment'])} treated vs "
            f"{fmt_share(c['churn_control'])} control, {_points(c['effect'])} points "
            f"(95% CI {_points(c['ci_low'])} to {_points(c['ci_high'])}), {verdict}"
        )
        needed = (c.get("power") or {}).get("customers_per_arm_needed")
        if not c.get("significant") and needed:
            target = (c.get("power") or {}).get("target_reduction", 0) * 100
            sentence += (
                f"; detecting a {target:.0f}-point reduction needs about {fmt_int(needed)} "
                "customers per arm"
            )
        sentences.append(sentence + ".")
    return " ".join(sentences) or None


def _qini_curves(metrics: dict[str, Any]) -> dict[str, pd.DataFrame]:
    return {
        name: pd.DataFrame(result["qini_curve"])
        for name, result in (metrics.get("campaigns") or {}).items()
        if result.get("status") == "fitted"
    }


def _counts_customers(metrics: dict[str, Any]) -> bool:
    """Whether the uplift stage had no customer values and weighed each customer 1
    (``value_basis: one_per_customer``): its plans' values are customers kept, not money."""
    return metrics.get("value_basis") == "one_per_customer"


def _plan_value(value: Any, metrics: dict[str, Any], currency: str) -> str:
    """A plan's incremental value: money, or customers kept (``_counts_customers``)."""
    if _counts_customers(metrics):
        return f"{fmt_number(value, 1)} customers"
    return fmt_money(value, currency)


def _uplift_rows(metrics: dict[str, Any], currency: str) -> list[dict[str, Any]]:
    rows = []
    for name, result in (metrics.get("campaigns") or {}).items():
        if result.get("status") != "fitted":
            continue
        plans = result["plans"]
        rows.append(
            {
                "campaign": name,
                "held_out": fmt_int(result["held_out_customers"]),
                "qini": fmt_number(result["qini_coefficient"], 4),
                "qini_risk": fmt_number(result["qini_coefficient_of_risk_ranking"], 4),
                "by_uplift": _plan_value(
                    plans["by_uplift_x_value"].get("incremental_value"), metrics, currency
                ),
                "by_risk": _plan_value(
                    plans["by_risk_x_value"].get("incremental_value"), metrics, currency
                ),
                "share": fmt_share(plans["target_share"], 0),
                "spearman": fmt_number(result.get("spearman_with_planted_effect"), 2)
                if result.get("spearman_with_planted_effect") is not None
                else "",
            }
        )
    return rows


def _uplift_takeaway(metrics: dict[str, Any], currency: str) -> str | None:
    sentences = []
    for name, result in (metrics.get("campaigns") or {}).items():
        if result.get("status") != "fitted":
            continue
        plans = result["plans"]
        uplift_value = plans["by_uplift_x_value"].get("incremental_value")
        risk_value = plans["by_risk_x_value"].get("incremental_value")
        if uplift_value is None or risk_value is None:
            continue
        better = "more" if uplift_value > risk_value else "less"
        sentences.append(
            f"{name}: on {fmt_int(result['held_out_customers'])} held-out customers, contacting "
            f"the top {fmt_share(plans['target_share'], 0)} by expected uplift x value kept "
            f"{_plan_value(uplift_value, metrics, currency)}"
            f"{'' if _counts_customers(metrics) else ' of value'}, "
            f"{better} than the same number by risk x value "
            f"({_plan_value(risk_value, metrics, currency)})"
        )
    return (
        ("; ".join(sentences) + ". Held-out estimates from a few hundred customers are noisy.")
        if sentences
        else None
    )


def build_campaign_section(
    campaign_effects: dict[str, Any] | None,
    campaign_outcomes: pd.DataFrame | None,
    uplift_metrics: dict[str, Any] | None = None,
    currency: str = "",
) -> tuple[dict[str, Any], dict[str, Figure]]:
    """Effect of each campaign with its interval, the randomisation checks, power, the
    Kaplan-Meier curves by arm, and the uplift models' held-out Qini curves and plan
    comparison; a message when there are no campaigns."""
    effects = campaign_effects or {}
    metrics = uplift_metrics or {}
    curves = _qini_curves(metrics)
    campaigns = effects.get("campaigns") or []
    outcomes = _frame(campaign_outcomes)
    absent = (
        None
        if campaigns and len(outcomes)
        else "No campaign data: add an interventions table (customer_id, campaign, treated_at, "
        "arm, action, cost) to data/01_raw to measure what retention actions did."
    )
    blocks, figures = _collect(
        (
            _chart(
                "campaign_survival",
                "Did our actions work? Treated vs control customers",
                _takeaway(campaigns),
                absent,
                "Share of each group still active after the treatment date; log-rank test of "
                "equal survival in each title.",
            ),
            charts.kaplan_meier_grid(*arm_survival_curves(outcomes, effects))
            if absent is None
            else None,
        ),
        (
            _chart(
                "qini",
                "Whom does each action keep? (uplift, held-out customers)",
                _uplift_takeaway(metrics, currency),
                None if curves else absent or metrics.get("reason") or "No uplift model.",
                "Incremental customers kept when contacting customers by expected uplift, "
                "highest first, against random targeting (the straight line).",
            ),
            charts.qini_curves(curves) if curves else None,
        ),
    )
    return {
        "charts": blocks,
        "table": [_row(c) for c in campaigns if c.get("n_treatment") is not None],
        "uplift_table": _uplift_rows(metrics, currency),
        "definitions": effects.get("definitions") or {},
        "absent": absent,
    }, figures
