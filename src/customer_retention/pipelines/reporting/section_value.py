"""The value section: CLV, value at risk by segment, the budget plan and the top customers."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from customer_retention.core import charts
from customer_retention.core.attributes import chosen_segments
from customer_retention.core.chart_data import VALUE_BAND, segment_values, value_bands
from customer_retention.core.formatting import (
    fmt_int,
    fmt_money,
    fmt_number,
    fmt_share,
    humanize,
    is_missing,
)
from customer_retention.models.evaluation import expected_total

from . import takeaways
from .blocks import (
    Block,
    _chart,
    _collect,
    _frame,
    _scoring_is_current,
    as_of_date,
    high_risk,
)


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


def purchase_model_sentence(validation: dict[str, Any]) -> str:
    """How well the purchase model predicted its holdout, in one sentence."""
    calibration, holdout = validation["calibration"], validation["holdout"]
    expected, actual = holdout["repeat_purchases_expected"], holdout["repeat_purchases_actual"]
    errors = holdout["mean_absolute_error"]
    return (
        f"Fitted on the purchases before {calibration['end']}, the purchase model expected "
        f"{expected:,.0f} repeat purchases over the next {holdout['holdout_length_weeks']:.0f} "
        f"weeks and customers made {actual:,} "
        f"({abs(actual / expected - 1):.0%} {'more' if actual > expected else 'fewer'}); "
        f"per customer it missed by {errors['bg_nbd']:.2f} purchases on average, against "
        f"{errors['calibration_rate_carried_forward']:.2f} for the calibration rate carried "
        f"forward and {errors['zero']:.2f} for predicting none."
    )


def _purchase_model_block(
    clv_validation: dict[str, Any] | None, clv_tracking: pd.DataFrame | None
) -> Block | None:
    """The purchase model's holdout check (purchase data only; None otherwise)."""
    if not (clv_validation or {}).get("holdout"):
        return None
    block = _chart(
        "purchase_model_check",
        "Did the purchase model predict the holdout? (BG/NBD)",
        purchase_model_sentence(clv_validation),
        None if clv_tracking is not None and len(clv_tracking) else "No tracking table.",
        "Cumulative repeat purchases by week, actual against the model fitted on the "
        "calibration period only (Fader, Hardie & Lee 2005); the holdout is shaded. The "
        "deployed model is refitted on the whole history.",
    )
    drawable = clv_tracking is not None and len(clv_tracking)
    return block, charts.purchase_tracking(clv_tracking) if drawable else None


def _sbg_block(fit: pd.DataFrame | None, check: dict[str, Any] | None, currency: str) -> Block:
    """The CLV stage's sBG check: each cohort's observed retention by month since signup
    against the shifted-beta-geometric fit, and its CLV against the landmark CLV."""
    check = check or {}
    fit = _frame(fit)
    drawable = len(fit) and check.get("segment")
    reason = (check.get("reason") or "").rstrip(".")
    segment = "all customers" if check.get("segment") == "all_customers" else check.get("segment")
    block = _chart(
        "sbg_fit",
        "Does a simple renewal model agree? (sBG check of CLV)",
        takeaways.sbg_fit(fit, check, currency) if drawable else None,
        None
        if drawable
        else f"No sBG check: {reason}."
        if reason
        else "No sBG check: the CLV stage has not run."
        if not check
        else "No sBG fit: no cohort was large enough, or none of its customers churned.",
        f"Customers who could be observed for {check.get('observed_months', '?')} months after "
        f"signup, by {humanize(segment or '?')}: points are the share still active, lines the "
        "shifted-beta-geometric (sBG) model of monthly renewals fitted to them (Fader & Hardie "
        "2007). The CLV stage uses it to cross-check the landmark CLV the report shows.",
    )
    return block, charts.sbg_fit(fit, check["segment"]) if drawable else None


def _lists_relation(
    risk: pd.DataFrame,
    threshold: float | None,
    retention_plan: pd.DataFrame | None,
    top: pd.DataFrame,
    multiple: float,
) -> str | None:
    """One sentence on how the high-risk count, the contact plan and the top-customers table
    relate: each is chosen by a different rule, so they overlap only in part."""
    plan = _frame(retention_plan)
    if threshold is None or "contact" not in plan or not len(risk):
        return None
    high = set(risk.loc[risk["churn_probability"] >= threshold, "customer_id"].astype(str))
    contacted = set(plan.loc[plan["contact"].astype(bool), "customer_id"].astype(str))
    listed = set(top["customer_id"].astype(str))
    return (
        f"Three lists, three rules: the {fmt_int(len(high))} high-risk customers have a churn "
        f"probability of at least {multiple:g}× the average; the plan contacts "
        f"{fmt_int(len(contacted))} customers chosen by expected saved value net of cost within "
        f"the budget ({fmt_int(len(contacted & high))} of them high-risk); the table lists the "
        f"{fmt_int(len(listed))} customers with the most value at risk "
        f"({fmt_int(len(listed & contacted))} of them in the plan)."
    )


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
    clv_validation: dict[str, Any] | None = None,
    clv_tracking: pd.DataFrame | None = None,
    sbg_fit: pd.DataFrame | None = None,
    sbg_cross_check: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Figure]]:
    """CLV distribution, value at risk by segment, the budget plan and the top at-risk list;
    for purchase data, how well the purchase model predicted its holdout; for subscription
    data, the sBG check of CLV (or why it did not run).

    Value at risk = churn probability x CLV from the churn model's at-risk list when it scores
    the current as-of date; without it, the CLV stage's survival-based estimate (said so).
    """
    currency = params["currency"]
    scoring_absent = _scoring_is_current(at_risk_customers, as_of_date(customer_health))
    scored = scoring_absent is None
    values = _frame(customer_value)
    if "is_active" in values:  # lapsed purchasers are valued too; the report is about the active
        values = values[values["is_active"].astype(bool)]
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
    attributes = _frame(survival_table)
    if not [s for s in segments if s in attributes] and "clv" in risk and len(risk):
        attributes, segments = value_bands(risk), [VALUE_BAND]  # no segment attribute
    by_segment = segment_values(risk, attributes, segments)
    summary = retention_plan_summary if scored else None
    check = _purchase_model_block(clv_validation, clv_tracking)
    sbg = _sbg_block(sbg_fit, sbg_cross_check, currency)
    blocks, figures = _collect(
        _clv_block(values, currency),
        *([check] if check else []),
        sbg,
        _value_at_risk_block(by_segment, source, currency),
        _budget_block(summary, scoring_absent, currency),
    )
    total = float(risk["value_at_risk"].sum()) if len(risk) else None
    scored_rows = risk if scored and "churn_probability" in risk else risk.head(0)
    churners = expected_total(scored_rows["churn_probability"]) if len(scored_rows) else None
    value_lost = (
        expected_total(scored_rows["churn_probability"], scored_rows["clv"])
        if len(scored_rows) and "clv" in scored_rows
        else None
    )
    top_segments = (
        by_segment.sort_values("value_at_risk", ascending=False).head(2).to_dict("records")
        if len(by_segment)
        else []
    )
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
        "lists_relation": _lists_relation(
            risk, threshold, retention_plan, top, float(params["high_risk_multiple"])
        )
        if scored
        else None,
        "headline": {
            "expected_churners": churners,
            "expected_value_lost": value_lost,
            "top_value_segments": top_segments,
            "plan": summary,
            "high_risk_customers": count,
            "high_risk_threshold": threshold,
            "value_at_risk": total,
            "value_at_risk_source": "churn model" if scored else "survival model",
            "scoring_model_id": (
                risk["model_id"].iat[0] if scored and "model_id" in risk and len(risk) else None
            ),
        },
    }, figures
