"""The landmark model: Weibull proportional hazards on snapshot features, each active
customer's conditional survival curve, and the curves CLV uses."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from customer_retention.core import attributes as attribute_kinds
from customer_retention.core import charts
from customer_retention.core.features import FEATURES
from customer_retention.core.optional import run_or_explain
from customer_retention.core.run_plan import skip_reason
from customer_retention.models.clv import DAYS_PER_MONTH
from customer_retention.models.kaplan_meier import kaplan_meier
from customer_retention.models.survival_metrics import concordance_index, integrated_brier_score
from customer_retention.models.weibull import WeibullPH

from .cox import curves_frame
from .design import (
    DURATION,
    EVENT,
    design_matrix,
    sample_rows,
)

logger = logging.getLogger(__name__)
# The landmark model's outcome: days from the snapshot to churn. Named apart from DURATION,
# which is also a snapshot feature (tenure at the snapshot) the model uses as an input.
LANDMARK_DURATION, LANDMARK_EVENT = "days_to_churn", "churned_after_snapshot"


def _landmark_design(
    snapshots: pd.DataFrame, reference: pd.DataFrame | None, params: dict[str, Any]
) -> pd.DataFrame:
    """Model inputs of the snapshots: numeric features (missing -> training median plus a
    missing flag) and one-hot categoricals, aligned to the training columns when given."""
    features = [
        c for c in snapshots.columns if FEATURES.get(c) is None or FEATURES[c].is_model_input
    ]
    features = [c for c in features if c not in params["landmark_exclude"]]
    design = design_matrix(snapshots, features, params["reference_levels"])
    for column in [
        c
        for c in design
        if design[c].isna().any() or (reference is not None and f"{c}_missing" in reference)
    ]:
        design[f"{column}_missing"] = design[column].isna().astype(float)
    if reference is not None:
        columns = reference.columns.drop([LANDMARK_DURATION, LANDMARK_EVENT], errors="ignore")
        design = design.reindex(columns=columns, fill_value=0.0)
        medians = reference[columns].median()
    else:
        medians = design.median()
    values = design.to_numpy(dtype=float)
    missing = np.isnan(values)
    if missing.any():
        fill = np.nan_to_num(medians.reindex(design.columns).to_numpy(dtype=float), nan=0.0)
        values = np.where(missing, fill[None, :], values)
    return pd.DataFrame(values, columns=design.columns, index=design.index)


def _prepare_landmark(
    rows: pd.DataFrame, censor_at: pd.Timestamp | None, params: dict[str, Any]
) -> pd.DataFrame:
    """Duration from snapshot to churn in days, administratively censored at ``censor_at``."""
    days = rows["days_observed"].astype(float)
    event = rows["churn_observed"].astype(bool)
    if censor_at is not None:
        limit = (censor_at - rows["snapshot_date"]).dt.days
        event = event & (days <= limit)
        days = np.minimum(days, limit)
    design = _landmark_design(rows, None, params)
    design[LANDMARK_DURATION] = np.maximum(days, 1.0)
    design[LANDMARK_EVENT] = event.to_numpy()
    return design


def _evaluate_landmark_model(
    customer_snapshots: pd.DataFrame, params: dict[str, Any]
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The landmark model's held-out evaluation (see ``fit_landmark_model``): its metrics and
    the observed-vs-predicted table."""
    lm = params["landmark"]
    dates = customer_snapshots["snapshot_date"]
    is_labelled = customer_snapshots["churned_within_horizon"].notna()
    test_date = dates[is_labelled].max()
    train_rows = sample_rows(
        customer_snapshots,
        lm["max_training_rows"],
        params["seed"],
        "Landmark model evaluation",
        rows=is_labelled & (dates < test_date),
    )
    test_rows = customer_snapshots[is_labelled & (dates == test_date)]
    train = _prepare_landmark(train_rows, test_date, params)
    started = time.perf_counter()
    model = _fit_weibull_ph(train, lm["penalizer"])
    fit_seconds = time.perf_counter() - started
    test = _landmark_design(test_rows, train, params)
    test_days = np.maximum(test_rows["days_observed"].to_numpy(dtype=float), 1.0)
    test_event = test_rows["churn_observed"].to_numpy(dtype=bool)
    horizon_days = test_days.max()
    grid = np.linspace(DAYS_PER_MONTH, min(horizon_days, 6 * DAYS_PER_MONTH) - 1, 12)
    predicted = model.predict_survival(test, grid)
    reference = kaplan_meier(train[LANDMARK_DURATION], train[LANDMARK_EVENT]).at(grid)
    ibs_model = integrated_brier_score(test_days, test_event, predicted, grid)
    ibs_reference = integrated_brier_score(
        test_days, test_event, np.tile(reference, (len(test_days), 1)), grid
    )
    c_index = concordance_index(test_days, -model.predict_log_partial_hazard(test), test_event)
    logger.info(
        "Landmark model: C-index %.3f, integrated Brier %.4f (Kaplan-Meier reference %.4f), fit %.1f s",
        c_index,
        ibs_model,
        ibs_reference,
        fit_seconds,
    )
    check = _observed_vs_predicted(test_days, test_event, predicted, grid)
    metrics = {
        "test_snapshot": str(test_date.date()),
        "train_snapshots": sorted(str(d.date()) for d in train_rows["snapshot_date"].unique()),
        "train_rows": len(train),
        "test_rows": len(test_rows),
        "c_index_test": float(c_index),
        "integrated_brier_score_test": ibs_model,
        "integrated_brier_score_kaplan_meier_reference": ibs_reference,
        "brier_grid_days": [float(g) for g in grid],
        "fit_seconds": round(fit_seconds, 2),
    }
    return metrics, check


CHECK_COLUMNS = ["kind", "months", "survival"]


def fit_landmark_model(
    customer_snapshots: pd.DataFrame,
    run_plan: dict[str, Any],
    customer_attributes: dict[str, Any],
    params: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Weibull proportional hazards on snapshot features: time from a snapshot to churn.

    Evaluation: fitted on the labelled snapshots before the last one, with follow-up censored
    at that last snapshot (no peeking), and scored on the last labelled snapshot: C-index and
    integrated Brier score (vs the Kaplan-Meier curve of the training rows as a no-skill
    reference). Scoring: refitted on every snapshot before the as-of date with full follow-up;
    gives each customer active at the as-of date S(k months | alive at as-of, features) for
    k = 1..horizon_months and the expected remaining lifetime restricted to that horizon.

    Static attributes that the survival models cannot use (identifiers, free text, too many
    levels) are left out. When the run plan skips the model (fewer than two labelled snapshots
    with churners, or ``landmark.enabled: false``) the summary says why and the curves are empty.
    Also returns ``landmark_check``: observed (Kaplan-Meier) against mean predicted survival of
    the test snapshot's customers, the model's calibration at a glance.
    """
    why_not = skip_reason(run_plan, "landmark_model")
    if why_not:
        logger.warning("Landmark model skipped: %s", why_not)
        return (
            {"status": "skipped", "reason": why_not},
            pd.DataFrame(),
            pd.DataFrame(columns=CHECK_COLUMNS),
        )

    unusable = [
        c
        for c in customer_attributes.get("columns", {})
        if c not in attribute_kinds.covariates(customer_attributes)
    ]
    params = params | {"landmark_exclude": [*params["landmark_exclude"], *unusable]}

    def fit() -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
        # The evaluation's design matrices are freed before the scoring model's are built.
        evaluation, check = _evaluate_landmark_model(customer_snapshots, params)
        lm = params["landmark"]
        history = sample_rows(
            customer_snapshots,
            lm["max_training_rows"],
            params["seed"],
            "Landmark scoring model",
            rows=~customer_snapshots["is_as_of_snapshot"].astype(bool),
        )
        final_train = _prepare_landmark(history, None, params)
        final = _fit_weibull_ph(final_train, lm["penalizer"])
        curves = survival_curves(final, customer_snapshots, final_train, params)
        summary = {
            "status": "fitted",
            "model": "Weibull proportional hazards on snapshot features (landmarking)",
            **evaluation,
            "horizon_months": params["landmark"]["horizon_months"],
            "mean_expected_remaining_lifetime_months": float(
                curves["expected_remaining_lifetime_months"].mean()
            ),
            "scoring_model_rows": len(final_train),
            "scoring_model": {
                "rho": final.params_["rho"],
                "alpha": final.params_["alpha"],
                "hazard_ratios": {k: float(v) for k, v in final.hazard_ratios_.items()},
                "converged": final.converged_,
            },
        }
        return summary, curves, check

    return run_or_explain(
        "Landmark model",
        fit,
        lambda reason: (
            {"status": "failed", "reason": reason},
            pd.DataFrame(),
            pd.DataFrame(columns=CHECK_COLUMNS),
        ),
    )


def plot_landmark_check(landmark_check: pd.DataFrame, landmark_summary: dict[str, Any]) -> Figure:
    """Observed against predicted survival after the test snapshot (or why there is none)."""
    if landmark_check is None or landmark_check.empty:
        reason = (landmark_summary or {}).get("reason", "not fitted")
        return charts.note(f"Landmark model not fitted: {reason}")
    title = f"Landmark model: customers active on {landmark_summary['test_snapshot']}"
    return charts.landmark_check(landmark_check, title)


def _fit_weibull_ph(design: pd.DataFrame, penalizer: float) -> WeibullPH:
    return WeibullPH(penalizer=penalizer).fit(
        design.drop(columns=[LANDMARK_DURATION, LANDMARK_EVENT]),
        design[LANDMARK_DURATION],
        design[LANDMARK_EVENT],
    )


def survival_curves(
    model: WeibullPH,
    customer_snapshots: pd.DataFrame,
    reference: pd.DataFrame,
    params: dict[str, Any],
) -> pd.DataFrame:
    """S(k months | alive at as-of, features) for k = 1..H for every customer active at the as-of
    date, plus the expected remaining lifetime restricted to H months (sum of the monthly S)."""
    as_of_rows = customer_snapshots[customer_snapshots["is_as_of_snapshot"]]
    design = _landmark_design(as_of_rows, reference, params)
    months = np.arange(1, params["landmark"]["horizon_months"] + 1)
    survival = model.predict_survival(design, months * DAYS_PER_MONTH)
    return curves_frame(as_of_rows, survival)


def select_survival_curves(
    landmark_curves: pd.DataFrame,
    cox_curves: pd.DataFrame,
    survival_table: pd.DataFrame,
    as_of_snapshot: pd.DataFrame,
    params: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The survival curves CLV uses: the landmark model's, else the Cox model's (one snapshot
    of data cannot train the landmark model), else the Kaplan-Meier curve of all customers,
    conditional on each customer's tenure: S(a + k months) / S(a)."""
    if len(landmark_curves):
        return landmark_curves, {"source": "landmark model"}
    if len(cox_curves):
        logger.info("Survival curves for CLV from the Cox model (no landmark model)")
        return cox_curves, {"source": "Cox model (static attributes, conditional on tenure)"}
    logger.warning(
        "Survival curves for CLV from the Kaplan-Meier curve of all customers (no landmark "
        "or Cox model): every customer of the same tenure gets the same curve"
    )
    km = kaplan_meier(survival_table[DURATION], survival_table[EVENT])
    tenure = as_of_snapshot["tenure_days"].to_numpy(dtype=float)
    months = np.arange(1, params["landmark"]["horizon_months"] + 1) * DAYS_PER_MONTH
    now = np.maximum(km.at(tenure), 1e-12)
    later = km.at((tenure[:, None] + months[None, :]).ravel()).reshape(len(tenure), -1)
    curves = curves_frame(as_of_snapshot, later / now[:, None])
    return curves, {"source": "Kaplan-Meier curve of all customers, conditional on tenure"}


def _observed_vs_predicted(
    days: np.ndarray, events: np.ndarray, predicted: np.ndarray, grid: np.ndarray
) -> pd.DataFrame:
    """Kaplan-Meier of the test customers (each step, up to the last grid point) and the mean
    predicted survival at the grid, in months: the table the check chart draws."""
    km = kaplan_meier(days, events)
    shown = km.timeline <= grid[-1]
    observed = pd.DataFrame(
        {
            "kind": "observed",
            "months": np.concatenate([[0.0], km.timeline[shown] / DAYS_PER_MONTH]),
            "survival": np.concatenate([[1.0], km.survival[shown]]),
        }
    )
    mean = pd.DataFrame(
        {"kind": "predicted", "months": grid / DAYS_PER_MONTH, "survival": predicted.mean(axis=0)}
    )
    return pd.concat([observed, mean], ignore_index=True)[CHECK_COLUMNS]
