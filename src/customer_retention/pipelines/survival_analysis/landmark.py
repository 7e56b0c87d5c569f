"""The landmark model: Weibull proportional hazards on snapshot features and each active
customer's conditional survival curve (the curves CLV uses are chosen in ``selection``)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from customer_retention.core import charts
from customer_retention.core.features import FEATURES
from customer_retention.core.optional import run_or_explain
from customer_retention.core.run_plan import skip_reason
from customer_retention.models.clv import DAYS_PER_MONTH
from customer_retention.models.kaplan_meier import kaplan_meier
from customer_retention.models.weibull import WeibullPH

from . import screening
from .cox import curves_frame
from .design import design_matrix, progress, sample_rows, with_unusable_excluded
from .evaluation import LandmarkSplit, evaluate_on_test_snapshot, outcome_after_snapshot

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
    rows: pd.DataFrame, days: np.ndarray, event: np.ndarray, params: dict[str, Any]
) -> pd.DataFrame:
    """The model frame: design of ``rows`` plus the outcome (days from snapshot to churn)."""
    design = _landmark_design(rows, None, params)
    design[LANDMARK_DURATION] = days
    design[LANDMARK_EVENT] = event
    return design


def _evaluate_landmark_model(
    customer_snapshots: pd.DataFrame, params: dict[str, Any]
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The landmark model's held-out evaluation (``evaluation.evaluate_on_test_snapshot``, the
    one the boosted model gets too): its metrics and the observed-vs-predicted table."""
    penalizer = params["landmark"]["penalizer"]

    def fit_predict(split: LandmarkSplit) -> tuple[np.ndarray, np.ndarray]:
        train = _prepare_landmark(split.train_rows, split.train_days, split.train_event, params)
        with progress(
            f"Landmark model: evaluation fit on {len(train):,} snapshot rows x "
            f"{train.shape[1] - 2} columns"
        ):
            model = _fit_weibull_ph(train, penalizer)
        test = _landmark_design(split.test_rows, train, params)
        return model.predict_survival(test, split.grid), -np.asarray(
            model.predict_log_partial_hazard(test), dtype=float
        )

    metrics, split, predicted = evaluate_on_test_snapshot(
        customer_snapshots, params, "Landmark model", fit_predict
    )
    check = _observed_vs_predicted(split.test_days, split.test_event, predicted, split.grid)
    return metrics, check


CHECK_COLUMNS = ["kind", "months", "survival"]


def fit_landmark_model(
    customer_snapshots: pd.DataFrame,
    run_plan: dict[str, Any],
    customer_attributes: dict[str, Any],
    params: dict[str, Any],
    survival_table: pd.DataFrame | None = None,
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Weibull proportional hazards on snapshot features: time from a snapshot to churn.

    Evaluation: fitted on the labelled snapshots before the last one, with follow-up censored
    at that last snapshot (no peeking), and scored on the last labelled snapshot: C-index and
    integrated Brier score (vs the Kaplan-Meier curve of the training rows as a no-skill
    reference). Scoring: refitted on every snapshot before the as-of date with full follow-up;
    gives each customer active at the as-of date S(k months | alive at as-of, features) for
    k = 1..horizon_months and the expected remaining lifetime restricted to that horizon.

    Static attributes that the survival models cannot use (identifiers, free text, too many
    levels) are left out, and so are those the attribute screen of ``survival_table`` leaves
    out (:mod:`.screening`, the Cox model's, above ``max_covariates``). When the run plan skips
    the model (fewer than two labelled snapshots with churners, or ``landmark.enabled:
    false``) the summary says why and the curves are empty.
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

    def fit() -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
        inputs, screen = _inputs(customer_attributes, survival_table, params)
        # The evaluation's design matrices are freed before the scoring model's are built.
        evaluation, check = _evaluate_landmark_model(customer_snapshots, inputs)
        lm = inputs["landmark"]
        history = sample_rows(
            customer_snapshots,
            lm["max_training_rows"],
            inputs["seed"],
            "Landmark scoring model",
            rows=~customer_snapshots["is_as_of_snapshot"].astype(bool),
        )
        final_train = _prepare_landmark(history, *outcome_after_snapshot(history), inputs)
        with progress(
            f"Landmark model: scoring fit on {len(final_train):,} snapshot rows x "
            f"{final_train.shape[1] - 2} columns"
        ):
            final = _fit_weibull_ph(final_train, lm["penalizer"])
        curves = survival_curves(final, customer_snapshots, final_train, inputs)
        summary = {
            "status": "fitted",
            "model": "Weibull proportional hazards on snapshot features (landmarking)",
            **evaluation,
            "horizon_months": inputs["landmark"]["horizon_months"],
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
        } | ({"attribute_screen": screening.left_out(screen)} if screen["applied"] else {})
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


def _inputs(
    customer_attributes: dict[str, Any],
    survival_table: pd.DataFrame | None,
    params: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``params`` with ``landmark_exclude`` extended by the static attributes the survival
    models cannot use and those the attribute screen leaves out; the screen's record."""
    params = with_unusable_excluded(params, customer_attributes)
    if survival_table is None:
        return params, {"applied": False}
    _, screen = screening.screen_attributes(survival_table, params, "Landmark model")
    return params | {"landmark_exclude": [*params["landmark_exclude"], *screen["dropped"]]}, screen


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
