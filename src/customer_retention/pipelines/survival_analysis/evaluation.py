"""The held-out evaluation shared by the snapshot-feature survival models (the landmark Weibull
PH model and the boosted AFT model): one split, one time grid, one set of metrics, so their
numbers can be compared.

Split (no peeking): the model is trained on the labelled snapshots before the last labelled
one, with each row's follow-up administratively censored at that last snapshot date, and
tested on the customers of the last labelled snapshot with their full follow-up. Metrics on
the test rows: Harrell's C-index and the integrated Brier score (Graf et al. 1999) on a grid of
12 times from one month to min(longest follow-up, 6 months), with the Kaplan-Meier curve of
the training rows as the no-skill reference.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from customer_retention.models.clv import DAYS_PER_MONTH
from customer_retention.models.kaplan_meier import kaplan_meier
from customer_retention.models.survival_metrics import concordance_index, integrated_brier_score

from .design import sample_rows

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LandmarkSplit:
    """Training and test rows of the evaluation, their outcomes (days from the snapshot to
    churn, at least 1; event flags) and the time grid (days) the curves are judged on."""

    test_date: pd.Timestamp
    train_rows: pd.DataFrame
    train_days: np.ndarray
    train_event: np.ndarray
    test_rows: pd.DataFrame
    test_days: np.ndarray
    test_event: np.ndarray
    grid: np.ndarray


# fit_predict(split) -> (S(grid | x) of the test rows, shape (test rows, grid); a score per
# test row, higher = longer expected survival, for the C-index).
FitPredict = Callable[[LandmarkSplit], tuple[np.ndarray, np.ndarray]]


def outcome_after_snapshot(
    rows: pd.DataFrame, censor_at: pd.Timestamp | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Days from each snapshot to churn (at least 1) and the event flag, administratively
    censored at ``censor_at``: a churn after it becomes 'still active on censor_at'."""
    days = rows["days_observed"].to_numpy(dtype=float)
    event = rows["churn_observed"].to_numpy(dtype=bool)
    if censor_at is not None:
        limit = (censor_at - rows["snapshot_date"]).dt.days.to_numpy(dtype=float)
        event = event & (days <= limit)
        days = np.minimum(days, limit)
    return np.maximum(days, 1.0), event


def landmark_split(customer_snapshots: pd.DataFrame, params: dict[str, Any]) -> LandmarkSplit:
    """The evaluation split: train on the labelled snapshots before the last labelled one
    (seeded sample above ``landmark.max_training_rows``), censored at the test date; test on
    the last labelled snapshot."""
    dates = customer_snapshots["snapshot_date"]
    is_labelled = customer_snapshots["churned_within_horizon"].notna()
    test_date = dates[is_labelled].max()
    train_rows = sample_rows(
        customer_snapshots,
        params["landmark"]["max_training_rows"],
        params["seed"],
        "Landmark evaluation (landmark and boosted models)",
        rows=is_labelled & (dates < test_date),
    )
    test_rows = customer_snapshots[is_labelled & (dates == test_date)]
    train_days, train_event = outcome_after_snapshot(train_rows, test_date)
    test_days, test_event = outcome_after_snapshot(test_rows)
    horizon_days = test_days.max()
    grid = np.linspace(DAYS_PER_MONTH, min(horizon_days, 6 * DAYS_PER_MONTH) - 1, 12)
    return LandmarkSplit(
        test_date,
        train_rows,
        train_days,
        train_event,
        test_rows,
        test_days,
        test_event,
        grid,
    )


def evaluate_on_test_snapshot(
    customer_snapshots: pd.DataFrame,
    params: dict[str, Any],
    name: str,
    fit_predict: FitPredict,
) -> tuple[dict[str, Any], LandmarkSplit, np.ndarray]:
    """Train and test ``fit_predict`` on the ``landmark_split``: its metrics (C-index,
    integrated Brier score and the Kaplan-Meier reference's), the split and the predicted
    S(grid) of the test rows. ``fit_seconds`` times fitting and predicting."""
    split = landmark_split(customer_snapshots, params)
    started = time.perf_counter()
    predicted, scores = fit_predict(split)
    fit_seconds = time.perf_counter() - started
    reference = kaplan_meier(split.train_days, split.train_event).at(split.grid)
    test_days, test_event = split.test_days, split.test_event
    ibs_model = integrated_brier_score(test_days, test_event, predicted, split.grid)
    ibs_reference = integrated_brier_score(
        test_days, test_event, np.tile(reference, (len(test_days), 1)), split.grid
    )
    c_index = concordance_index(test_days, scores, test_event)
    logger.info(
        "%s: C-index %.3f, integrated Brier %.4f (Kaplan-Meier reference %.4f), fit %.1f s",
        name,
        c_index,
        ibs_model,
        ibs_reference,
        fit_seconds,
    )
    metrics = {
        "test_snapshot": str(split.test_date.date()),
        "train_snapshots": sorted(
            str(d.date()) for d in split.train_rows["snapshot_date"].unique()
        ),
        "train_rows": len(split.train_rows),
        "test_rows": len(split.test_rows),
        "c_index_test": float(c_index),
        "integrated_brier_score_test": ibs_model,
        "integrated_brier_score_kaplan_meier_reference": ibs_reference,
        "brier_grid_days": [float(g) for g in split.grid],
        "fit_seconds": round(fit_seconds, 2),
    }
    return metrics, split, predicted
