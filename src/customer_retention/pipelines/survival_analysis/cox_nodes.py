"""The Cox and Weibull AFT nodes: fit (or skip, as the run plan says), score, chart."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from customer_retention.core import charts
from customer_retention.core.chart_data import hazard_labels, reference_levels
from customer_retention.core.optional import run_or_explain
from customer_retention.core.run_plan import skip_reason
from customer_retention.models.survival_metrics import concordance_index

from . import cox, screening
from .design import (
    DURATION,
    EVENT,
    progress,
    sample_rows,
    split_customers,
    static_design,
)

logger = logging.getLogger(__name__)


def fit_cox_model(
    survival_table: pd.DataFrame,
    customer_snapshots: pd.DataFrame,
    run_plan: dict[str, Any],
    horizon_days: int,
    params: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Cox PH on the static attributes (:mod:`.cox`): hazard ratios with 95% CI and the
    proportional-hazards test, a held-out C-index, and two uses of the fitted model.

    ``cox_risk_scores``: for every snapshot row, P(churn within ``horizon_days`` | active at
    tenure a) = 1 - S(a + h | x) / S(a | x), the Cox baseline the churn model is compared with.
    The model has seen every customer's full history, so on past snapshots this baseline is,
    if anything, optimistic. ``cox_survival_curves``: each as-of customer's conditional
    survival by month, which CLV uses when the run plan skips the landmark model (empty
    otherwise).
    """
    why_not = skip_reason(run_plan, "cox_and_aft")
    if why_not:
        return (*cox.skipped(why_not, customer_snapshots), pd.DataFrame())

    def fit() -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        summary, hazard_ratios, model, covariates = cox.fit_cox(survival_table, params)
        with progress(f"Cox PH: risk scores of {len(customer_snapshots):,} snapshot rows"):
            risk = cox.cox_churn_probability(
                model, covariates, survival_table, customer_snapshots, horizon_days
            )
        curves = pd.DataFrame()
        if skip_reason(run_plan, "landmark_model"):
            as_of = customer_snapshots[customer_snapshots["is_as_of_snapshot"].astype(bool)]
            with progress(f"Cox PH: survival curves of {len(as_of):,} as-of customers"):
                curves = cox.cox_survival_curves(
                    model, covariates, survival_table, as_of, params["landmark"]["horizon_months"]
                )
        return summary, hazard_ratios, risk, curves

    return run_or_explain(
        "Cox model",
        fit,
        lambda reason: (*cox.skipped(reason, customer_snapshots, "failed"), pd.DataFrame()),
    )


def fit_weibull_aft(
    survival_table: pd.DataFrame, run_plan: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """Weibull AFT on the same covariates: a parametric tail; AIC and held-out C-index."""
    why_not = skip_reason(run_plan, "cox_and_aft")
    if why_not:
        logger.warning("Weibull AFT skipped: %s", why_not)
        return {"status": "skipped", "reason": why_not}
    return run_or_explain(
        "Weibull AFT",
        lambda: _fit_weibull_aft(survival_table, params),
        lambda reason: {"status": "failed", "reason": reason},
    )


def _fit_weibull_aft(survival_table: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    survival_table, screen = screening.screen_attributes(survival_table, params, "Weibull AFT")
    data = sample_rows(
        static_design(survival_table, params),
        params.get("max_customers"),
        params["seed"],
        "Weibull AFT fit",
    )
    train, test = split_customers(data, params["test_share"], params["seed"])
    started = time.perf_counter()
    with progress(
        f"Weibull AFT: fitting {len(train):,} customers x {train.shape[1] - 2} covariates"
    ):
        from lifelines import WeibullAFTFitter  # imported when fitted (start-up time)

        model = WeibullAFTFitter(penalizer=params["cox"]["penalizer"]).fit(train, DURATION, EVENT)
    c_index = concordance_index(
        test[DURATION], model.predict_median(test).replace(np.inf, 1e9), test[EVENT]
    )
    shape = float(np.exp(model.params_.loc[("rho_", "Intercept")]))
    logger.info("Weibull AFT: held-out C-index %.3f, shape %.2f", c_index, shape)
    return {
        "status": "fitted",
        "c_index_test": float(c_index),
        "aic": float(model.AIC_),
        "weibull_shape": shape,
        "fit_seconds": round(time.perf_counter() - started, 2),
        "acceleration_factors": {
            str(k): float(np.exp(v))
            for k, v in model.params_.loc["lambda_"].items()
            if k != "Intercept"
        },
        "coefficients": {f"{a}:{b}": float(v) for (a, b), v in model.params_.items()},
    } | ({"attribute_screen": screening.left_out(screen)} if screen["applied"] else {})


def plot_hazard_ratios(
    hazard_ratios: pd.DataFrame, cox_summary: dict[str, Any], km_summary: dict[str, Any]
) -> Figure:
    """The hazard-ratio forest plot, as the report draws it (covariates that violate
    proportional hazards marked: their ratio is an average over time)."""
    if hazard_ratios is None or hazard_ratios.empty:
        reason = (cox_summary or {}).get("reason") or "no attribute a survival model can use"
        return charts.note(f"No Cox model: {reason}")
    references = reference_levels(cox_summary, km_summary, hazard_ratios)
    return charts.hazard_forest(hazard_ratios, hazard_labels(hazard_ratios, references))
