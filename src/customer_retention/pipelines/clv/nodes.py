"""Customer lifetime value, value at risk and an sBG cross-check.

Contractual data (subscriptions): CLV from each active customer's conditional survival curve
(the landmark model's; the Cox model's or Kaplan-Meier's when it cannot be fitted, see
``survival_analysis.select_survival_curves``) x margin x MRR, discounted monthly. Non-contractual data (transactions only):
BG/NBD expected purchases x Gamma-Gamma expected spend x margin, discounted monthly.
value_at_risk = churn_probability x CLV.
"""

from __future__ import annotations

import logging
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from customer_retention.core import charts
from customer_retention.core.attributes import chosen_segments
from customer_retention.core.chart_data import VALUE_BAND, segment_values, value_bands
from customer_retention.core.optional import run_or_explain
from customer_retention.core.run_plan import skip_reason
from customer_retention.models import BetaGeo, ShiftedBetaGeometric, rfm_summary
from customer_retention.models.clv import (
    DAYS_PER_MONTH,
    contractual_clv,
    monthly_discount_factors,
)

from .validation import (
    bg_nbd_record,
    calibration_end,
    cohort_purchases,
    fit_purchase_models,
    gamma_gamma_record,
    validate_purchase_model,
)

logger = logging.getLogger(__name__)
FIT_COLUMNS = ["level", "month", "observed", "fitted"]
VALUE_COLUMNS = [
    "customer_id",
    "monthly_revenue",
    "expected_remaining_lifetime_months",
    "clv",
    "p_alive",
    "churn_probability",
    "value_at_risk",
    "is_active",
]


def _as_of_rows(customer_snapshots: pd.DataFrame) -> pd.DataFrame:
    return customer_snapshots[customer_snapshots["is_as_of_snapshot"]].set_index("customer_id")


def value_contractual_customers(
    survival_curves: pd.DataFrame, customer_snapshots: pd.DataFrame, params: dict[str, Any]
) -> pd.DataFrame:
    """CLV = sum_k margin x MRR x S(k | alive now) x (1 + d_m)^-k over ``horizon_months``;
    churn_probability = 1 - S(m), m = the label horizon in whole months (rounded up)."""
    horizon = int(params["horizon_months"])
    columns = [f"survival_month_{k}" for k in range(1, horizon + 1)]
    missing = [c for c in columns if c not in survival_curves]
    if missing:
        raise ValueError(
            f"survival_curves stop at month {len(survival_curves.filter(like='survival_month_').columns)}; "
            f"clv.horizon_months = {horizon} needs survival_analysis.landmark.horizon_months >= {horizon}"
        )
    curves = survival_curves.set_index("customer_id")
    revenue = _as_of_rows(customer_snapshots)["mrr_current"].reindex(curves.index).fillna(0.0)
    survival = curves[columns].to_numpy()
    churn_month = int(np.ceil(params["churn_horizon_days"] / DAYS_PER_MONTH))
    value = pd.DataFrame(
        {
            "customer_id": curves.index,
            "monthly_revenue": revenue.to_numpy(),
            "expected_remaining_lifetime_months": survival.sum(axis=1),
            "clv": contractual_clv(
                survival, revenue.to_numpy(), params["gross_margin"], params["annual_discount_rate"]
            ),
            "p_alive": np.nan,
            "churn_probability": 1.0 - survival[:, churn_month - 1],
            "is_active": True,
        }
    )
    value["value_at_risk"] = value["churn_probability"] * value["clv"]
    return value[VALUE_COLUMNS]


def daily_purchases(transactions: ir.Table, as_of: pd.Timestamp) -> pd.DataFrame:
    """The purchases before ``as_of`` merged per customer and day in the engine (same-day
    purchases count once, as is standard): customer_id, day, amount."""
    return (
        transactions.filter(transactions.transaction_date < as_of)
        .mutate(day=transactions.transaction_date.truncate("D"))
        .group_by(["customer_id", "day"])
        .aggregate(amount=transactions.amount.sum())
        .to_pandas()
    )


def purchase_summary(transactions: ir.Table, as_of: pd.Timestamp) -> pd.DataFrame:
    """Frequency / recency / T (weeks) and mean spend per customer, from the purchases before
    ``as_of``, observed up to the day before ``as_of``."""
    return summarise_purchases(daily_purchases(transactions, as_of), as_of)


def summarise_purchases(daily: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """:func:`purchase_summary` of per-customer-day purchases already read (those before
    ``as_of`` count)."""
    before = daily[daily["day"] < as_of]
    return rfm_summary(
        before, "customer_id", "day", "amount", as_of - pd.Timedelta(days=1), time_unit="W"
    )


def value_noncontractual_customers(
    transactions: ir.Table, customer_snapshots: pd.DataFrame, params: dict[str, Any]
) -> pd.DataFrame:
    """BG/NBD + Gamma-Gamma: expected purchases in each coming month x expected spend per
    purchase x margin, discounted monthly; churn_probability = P(no purchase within
    churn_horizon_days) (1 - P(alive) alone is ~0 for every recent buyer).

    Transactions are first merged per customer and day in the engine (same-day purchases count
    once, as is standard), so only one row per customer-day reaches pandas.
    """
    as_of = customer_snapshots["snapshot_date"].max()
    daily = daily_purchases(transactions, as_of)
    summary = summarise_purchases(daily, as_of)
    # Fitted on the whole cohort, lapsed customers included: dropout is estimated from them
    # (fitted on recent buyers only, BG/NBD finds a -> 0: nobody ever leaves). One acquisition
    # cohort, when configured, is what the models are fitted on; every customer is valued.
    cohort = cohort_purchases(daily, params["bg_nbd"].get("cohort"))["customer_id"].unique()
    bg, gg = fit_purchase_models(summary[summary.index.isin(cohort)])
    active = summary.index.isin(_as_of_rows(customer_snapshots).index)
    spend = gg.conditional_expected_value(summary["frequency"], summary["monetary_value"])
    weeks_per_month = DAYS_PER_MONTH / 7
    horizon = int(params["horizon_months"])
    cumulative = np.column_stack(
        [
            bg.conditional_expected_purchases(
                k * weeks_per_month, summary["frequency"], summary["recency"], summary["T"]
            )
            for k in range(1, horizon + 1)
        ]
    )
    per_month = np.diff(cumulative, axis=1, prepend=0.0)
    discount = monthly_discount_factors(params["annual_discount_rate"], horizon)
    p_alive = np.asarray(
        bg.probability_alive(summary["frequency"], summary["recency"], summary["T"])
    )
    churn_horizon_weeks = params["churn_horizon_days"] / 7
    no_purchase = np.asarray(
        bg.probability_no_purchase(
            churn_horizon_weeks, summary["frequency"], summary["recency"], summary["T"]
        )
    )
    value = pd.DataFrame(
        {
            "customer_id": summary.index,
            "monthly_revenue": np.asarray(spend) * per_month[:, 0],
            "expected_remaining_lifetime_months": np.nan,
            "clv": params["gross_margin"] * np.asarray(spend) * (per_month @ discount),
            "p_alive": p_alive,
            "churn_probability": no_purchase,
            "is_active": active,
        }
    )
    value["value_at_risk"] = value["churn_probability"] * value["clv"]
    logger.info(
        "BG/NBD %s; Gamma-Gamma %s (fitted on %s customers, %s of them active)",
        bg,
        gg,
        f"{len(summary):,}",
        f"{int(active.sum()):,}",
    )
    return value[VALUE_COLUMNS], {
        "bg_nbd": bg_nbd_record(bg),
        "gamma_gamma": gamma_gamma_record(gg),
    }


def _is_contractual(customer_timeline: pd.DataFrame) -> bool:
    return customer_timeline["contract"].iat[0] == "contractual"


def value_purchasing_customers(
    customer_timeline: pd.DataFrame,
    customer_snapshots: pd.DataFrame,
    transactions: ir.Table,
    params: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Non-contractual data: every customer's BG/NBD + Gamma-Gamma value and the deployed
    purchase model's parameters (:func:`value_noncontractual_customers`). Contractual data: no
    rows and no purchase model (CLV comes from the survival curves, :func:`value_customers`).
    A node apart from ``value_customers`` so that the purchase model, and the churn model's
    BG/NBD baseline after it, do not wait for the survival models."""
    if _is_contractual(customer_timeline):
        return pd.DataFrame(columns=VALUE_COLUMNS), {}
    return value_noncontractual_customers(transactions, customer_snapshots, params)


def value_customers(
    customer_timeline: pd.DataFrame,
    survival_curves: pd.DataFrame,
    customer_snapshots: pd.DataFrame,
    purchase_value: pd.DataFrame,
    params: dict[str, Any],
) -> pd.DataFrame:
    """Contractual or non-contractual valuation, by the kind of data at hand: the survival
    curves' (contractual) or ``purchase_value`` (:func:`value_purchasing_customers`). Every
    valued customer has a row; ``is_active`` marks those the plan and the at-risk list
    consider (contractual: all, the survival curves cover the active customers only)."""
    contractual = _is_contractual(customer_timeline)
    if contractual:
        value = value_contractual_customers(survival_curves, customer_snapshots, params)
    else:
        value = purchase_value
    active = value[value["is_active"]]
    logger.info(
        "Customer value (%s): %s active customers, total CLV %s, value at risk %s",
        "contractual" if contractual else "non-contractual",
        f"{len(active):,}",
        f"{active['clv'].sum():,.0f}",
        f"{active['value_at_risk'].sum():,.0f}",
    )
    return value.sort_values("value_at_risk", ascending=False, ignore_index=True)


TRACKING_COLUMNS = ["week", "period", "actual", "expected"]


def validate_clv_model(
    customer_timeline: pd.DataFrame,
    transactions: ir.Table,
    purchase_model: dict[str, Any],
    params: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The purchase model's calibration / holdout check (:mod:`.validation`) and the deployed
    full-history parameters, for non-contractual data: ``clv_validation.json`` and the weekly
    tracking table its chart draws."""
    if not purchase_model:
        reason = "contractual data: CLV comes from survival curves, there is no purchase model"
        return {"status": "skipped", "reason": reason}, pd.DataFrame(columns=TRACKING_COLUMNS)
    as_of = pd.Timestamp(customer_timeline["as_of_date"].iat[0])
    daily = cohort_purchases(daily_purchases(transactions, as_of), params["bg_nbd"].get("cohort"))
    cal_end = calibration_end(daily["day"].min(), as_of, params["bg_nbd"]["calibration_end"])
    record, tracking = run_or_explain(
        "BG/NBD calibration / holdout check",
        lambda: validate_purchase_model(daily, as_of, cal_end),
        lambda reason: (
            {"status": "failed", "reason": reason},
            pd.DataFrame(columns=TRACKING_COLUMNS),
        ),
    )
    holdout = record.pop("holdout", None)
    return {**purchase_model, "calibration": record, "holdout": holdout}, tracking


RISK_COLUMNS = ["customer_id", "snapshot_date", "churn_probability"]


def score_bg_nbd_baseline(
    transactions: ir.Table,
    snapshot_spine: pd.DataFrame,
    clv_validation: dict[str, Any],
    params: dict[str, Any],
) -> pd.DataFrame:
    """BG/NBD as a churn baseline: P(no purchase within the churn horizon | the history before
    t) for every labelled snapshot row at or after the calibration end, from the calibration
    fit (which has seen nothing at or after that date, so no row is scored with hindsight).
    The churn model evaluates it beside its other scorers (``bg_nbd_risk_scores``)."""
    calibration = (clv_validation or {}).get("calibration") or {}
    if "bg_nbd" not in calibration:
        return pd.DataFrame(columns=RISK_COLUMNS)
    model = BetaGeo.from_params(**{k: calibration["bg_nbd"][k] for k in ("r", "alpha", "a", "b")})
    start = pd.Timestamp(calibration["end"])
    labelled = snapshot_spine[
        snapshot_spine["churned_within_horizon"].notna()
        & (snapshot_spine["snapshot_date"] >= start)
    ]
    weeks = float(params["churn_horizon_days"]) / 7
    parts = []
    # The purchases are read once, up to the last snapshot; each snapshot sees those before it.
    daily = (
        daily_purchases(transactions, labelled["snapshot_date"].max()) if len(labelled) else None
    )
    for t, rows in labelled.groupby("snapshot_date"):
        summary = summarise_purchases(daily, pd.Timestamp(t))
        found = summary.reindex(rows["customer_id"].astype(str).to_numpy())
        probability = model.probability_no_purchase(
            weeks, found["frequency"].fillna(0), found["recency"].fillna(0), found["T"].fillna(0)
        )
        # No purchase before t: no history to score.
        probability = np.where(found["T"].isna().to_numpy(), np.nan, probability)
        parts.append(rows[["customer_id", "snapshot_date"]].assign(churn_probability=probability))
    if not parts:
        return pd.DataFrame(columns=RISK_COLUMNS)
    scores = pd.concat(parts, ignore_index=True)
    logger.info(
        "BG/NBD churn baseline: %s snapshot rows from %s on", f"{len(scores):,}", start.date()
    )
    return scores


def _no_check(clv_validation: dict[str, Any]) -> Figure:
    calibration = clv_validation.get("calibration") or {}
    reason = clv_validation.get("reason") or calibration.get("reason", "no purchase history")
    return charts.note(f"No purchase-model check: {reason}")


def plot_purchase_tracking(clv_tracking: pd.DataFrame, clv_validation: dict[str, Any]) -> Figure:
    """Cumulative repeat purchases by week, actual against the calibration fit's expectation."""
    if clv_tracking is None or clv_tracking.empty:
        return _no_check(clv_validation)
    return charts.purchase_tracking(clv_tracking)


def plot_conditional_expectations(clv_validation: dict[str, Any]) -> Figure:
    """Mean holdout purchases by calibration repeat purchases, actual against expected."""
    holdout = clv_validation.get("holdout") or {}
    if not holdout.get("conditional_expectations"):
        return _no_check(clv_validation)
    return charts.conditional_expectations(pd.DataFrame(holdout["conditional_expectations"]))


def _months_active(
    survival_table: pd.DataFrame, as_of: pd.Timestamp
) -> tuple[pd.Series, pd.Series]:
    """Whole months each customer stayed, and whole months they could have been observed."""
    stayed = np.floor(survival_table["tenure_days"] / DAYS_PER_MONTH).astype(int)
    observable = np.floor((as_of - survival_table["signup_date"]).dt.days / DAYS_PER_MONTH).astype(
        int
    )
    return stayed, observable


def _sbg_segment(setting: Any, run_plan: dict[str, Any]) -> str | None:
    """The attribute whose levels get one sBG each: configured, or with ``auto`` the first
    segment attribute of the run plan; None = one sBG for every customer."""
    if setting is None:
        return None
    segments = chosen_segments(setting, run_plan)
    return segments[0] if segments else None


def cross_check_clv_with_sbg(
    survival_table: pd.DataFrame,
    customer_value: pd.DataFrame,
    customer_timeline: pd.DataFrame,
    run_plan: dict[str, Any],
    params: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Fit an sBG per segment on monthly renewals and compare its CLV with the landmark CLV.

    Cohort: the customers who could be observed for at least ``sbg.observed_months`` months;
    n_alive[k] = how many of them were still active k months after signup. The sBG CLV of an
    active customer with n whole months of tenure is margin x MRR x
    sum_{j=1..H} S(n + j) / S(n) x (1 + d_m)^-j, i.e. the same formula as the landmark CLV
    with the segment's sBG survival curve instead of the customer's own.

    Also returns the fit table (level, month, observed and fitted share still active) that the
    sBG chart draws.
    """
    return run_or_explain(
        "sBG cross-check",
        lambda: _cross_check(survival_table, customer_value, customer_timeline, run_plan, params),
        lambda reason: ({"status": "failed", "reason": reason}, pd.DataFrame(columns=FIT_COLUMNS)),
    )


def _cross_check(
    survival_table: pd.DataFrame,
    customer_value: pd.DataFrame,
    customer_timeline: pd.DataFrame,
    run_plan: dict[str, Any],
    params: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The sBG cross-check (see :func:`cross_check_clv_with_sbg`)."""
    if why := skip_reason(run_plan, "sbg_cross_check"):
        logger.warning("sBG cross-check skipped: %s", why)
        return {"status": "skipped", "reason": why}, pd.DataFrame(columns=FIT_COLUMNS)
    sbg = params["sbg"]
    segment, months = _sbg_segment(sbg.get("segment"), run_plan), int(sbg["observed_months"])
    if segment is not None and segment not in survival_table:
        logger.warning("sBG segment %s is not a customer attribute: one sBG for all", segment)
        segment = None
    if segment is None:
        survival_table = survival_table.assign(all_customers="all")
        segment = "all_customers"
    logger.info("sBG cross-check by %s", segment)
    as_of = customer_timeline["as_of_date"].iat[0]
    stayed, observable = _months_active(survival_table, as_of)
    eligible = observable >= months
    horizon = int(params["horizon_months"])
    discount = monthly_discount_factors(params["annual_discount_rate"], horizon)
    value = customer_value.set_index("customer_id")
    results: dict[str, Any] = {}
    fits = []
    for level, group in survival_table[eligible].groupby(segment, observed=True):
        stayed_level = stayed[group.index].to_numpy()
        n_alive = np.array([(stayed_level >= k).sum() for k in range(months + 1)])
        if n_alive[0] < sbg["min_cohort"] or n_alive[-1] == n_alive[0]:
            continue
        model = ShiftedBetaGeometric().fit(n_alive)
        active = survival_table[(survival_table[segment] == level) & ~survival_table["churned"]]
        active = active[active["customer_id"].isin(value.index)]
        tenure = np.floor(active["tenure_days"].to_numpy() / DAYS_PER_MONTH).astype(int)
        curve = np.asarray(model.survival(np.arange(tenure.max(initial=0) + horizon + 1)))
        future = tenure[:, None] + np.arange(1, horizon + 1)[None, :]
        conditional = curve[future] / curve[tenure][:, None]
        revenue = value.loc[active["customer_id"], "monthly_revenue"].to_numpy()
        sbg_clv = params["gross_margin"] * revenue * (conditional @ discount)
        landmark_clv = value.loc[active["customer_id"], "clv"].to_numpy()
        results[str(level)] = {
            "cohort_size": int(n_alive[0]),
            "alpha": model.params_["alpha"],
            "beta": model.params_["beta"],
            "active_customers": len(active),
            "mean_clv_sbg": float(sbg_clv.mean()) if len(active) else None,
            "mean_clv_landmark": float(landmark_clv.mean()) if len(active) else None,
        }
        fits.append(
            pd.DataFrame(
                {
                    "level": str(level),
                    "month": np.arange(months + 1),
                    "observed": n_alive / n_alive[0],
                    "fitted": np.asarray(model.survival(np.arange(months + 1))),
                }
            )
        )
    fit = pd.concat(fits, ignore_index=True) if fits else pd.DataFrame(columns=FIT_COLUMNS)
    return {"segment": segment, "observed_months": months, "by_level": results}, fit


def plot_sbg_fit(sbg_fit: pd.DataFrame, sbg_cross_check: dict[str, Any]) -> Figure:
    """Observed monthly retention of each cohort against its sBG fit (or why there is none)."""
    if sbg_fit is None or sbg_fit.empty:
        reason = sbg_cross_check.get("reason") or "no cohort large enough, or no churn in it"
        return charts.note(f"sBG cross-check not drawn: {reason}")
    return charts.sbg_fit(sbg_fit, sbg_cross_check["segment"])


def plot_clv_distribution(customer_value: pd.DataFrame, params: dict[str, Any]) -> Figure:
    """CLV of the active customers, as the report draws it."""
    active = customer_value[customer_value["is_active"].astype(bool)]
    return charts.clv_histogram(active["clv"].dropna(), params["currency"])


def plot_value_at_risk_by_segment(
    customer_value: pd.DataFrame,
    as_of_snapshot: pd.DataFrame,
    run_plan: dict[str, Any],
    params: dict[str, Any],
) -> Figure:
    """Value at risk (the CLV stage's churn probability x CLV) by segment, as the report draws
    it (the report's own chart uses the churn model's probabilities when it has scored)."""
    segments = [
        s
        for s in chosen_segments(params["value_at_risk_segments"], run_plan)
        if s in as_of_snapshot
    ]
    active = customer_value[customer_value["is_active"].astype(bool)]
    attributes = as_of_snapshot[["customer_id", *segments]]
    if not segments:  # no segment attribute: CLV quartiles
        attributes, segments = value_bands(active), [VALUE_BAND]
    by_segment = segment_values(active, attributes, segments)
    if by_segment.empty:
        return charts.note("No segment to break the value at risk down by.")
    return charts.value_at_risk_bars(by_segment, params["currency"])
