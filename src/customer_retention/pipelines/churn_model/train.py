"""Steps 2-3: train XGBoost with early stopping, calibrate on the held-out slice, predict the test
snapshot; ``fit_candidate`` does the same for either candidate (XGBoost, logistic regression)."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from customer_retention.core.calibration import apply_calibrator, fit_calibrator
from customer_retention.core.model_frame import (
    booster_to_json,
    dmatrix,
)
from customer_retention.models.churn_classifier import LogisticChurnClassifier, predict_raw

from .common import KEYS, LABEL, _dates, _rows

logger = logging.getLogger(__name__)


def _scale_pos_weight(setting: Any, y: pd.Series) -> float:
    """``balanced`` = negatives / positives of the training rows; or a number (1 = off)."""
    if setting in (None, "none"):
        return 1.0
    if setting == "balanced":
        positives = float(y.sum())
        return (len(y) - positives) / positives
    return float(setting)


def _early_stopping_rows(valid: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """The validation rows early stopping watches: all, or a random sample of ``max_rows``.

    The validation metric is computed after every boosting round; ROC-AUC sorts all the rows
    each time, which dominated training at 1M customers (496,499 validation rows: 24.0 s for
    445 rounds; on 200,000 of them 11.7 s, the same 395 trees, test ROC-AUC 0.7348 both).
    """
    if max_rows is None or len(valid) <= int(max_rows):
        return valid
    chosen = np.random.default_rng(int(seed)).choice(len(valid), size=int(max_rows), replace=False)
    return valid.iloc[np.sort(chosen)]


SMALL_TRAINING_SET = 5000  # rows below which min_child_weight "auto" scales with the data


def _min_child_weight(booster: dict[str, Any], training_rows: int) -> float:
    """``min_child_weight``: a number as given, or ``auto`` = 100 (chosen on the demo data),
    or 2% of the training rows when there are fewer than 5,000 of them: with ~1,000 rows a
    leaf of weight 100 cannot be split off, and the model would be a constant."""
    setting = booster.get("min_child_weight", "auto")
    if setting != "auto":
        return float(setting)
    if training_rows >= SMALL_TRAINING_SET:
        return 100.0
    return max(1.0, 0.02 * training_rows)


def train_churn_model(
    churn_model_input: pd.DataFrame, feature_spec: dict[str, Any], params: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """XGBoost booster (as XGBoost JSON text) trained on train, early-stopped on valid."""
    xgb_params = params["xgboost"]
    train, valid = _rows(churn_model_input, "train"), _rows(churn_model_input, "valid")
    spw = _scale_pos_weight(xgb_params.get("scale_pos_weight"), train[LABEL])
    booster_params = {
        "objective": "binary:logistic",
        "eval_metric": xgb_params.get("early_stopping_metric", "auc"),
        "tree_method": xgb_params.get("tree_method", "hist"),
        "seed": int(params["seed"]),
        "scale_pos_weight": spw,
        **xgb_params["booster"],
        "min_child_weight": _min_child_weight(xgb_params["booster"], len(train)),
    }
    watched = _early_stopping_rows(valid, xgb_params.get("early_stopping_rows"), params["seed"])
    dtrain = dmatrix(train, feature_spec, train[LABEL])
    dvalid = dmatrix(watched, feature_spec, watched[LABEL])
    history: dict[str, Any] = {}
    started = time.perf_counter()
    booster = xgb.train(
        booster_params,
        dtrain,
        num_boost_round=int(xgb_params["num_boost_round"]),
        evals=[(dvalid, "valid")],
        early_stopping_rounds=xgb_params.get("early_stopping_rounds"),
        evals_result=history,
        verbose_eval=False,
    )
    seconds = time.perf_counter() - started
    rounds = len(next(iter(history["valid"].values())))
    try:
        best = booster.best_iteration
        best_score = float(booster.best_score)
        booster = booster[: best + 1]  # keep only the trees up to the best validation round
    except AttributeError:  # no early stopping
        best, best_score = rounds - 1, float(next(iter(history["valid"].values()))[-1])
    summary = {
        "trees": best + 1,
        "rounds_run": rounds,
        f"best_valid_{booster_params['eval_metric']}": best_score,
        "scale_pos_weight": spw,
        "training_seconds": round(seconds, 2),
        "training_rows": len(train),
        "early_stopping_rows": len(watched),
        "booster_params": booster_params,
        "xgboost_version": xgb.__version__,
    }
    logger.info(
        "XGBoost: %s trees (stopped after %s rounds), valid %s %.4f, scale_pos_weight %.2f, %.1f s",
        best + 1,
        rounds,
        booster_params["eval_metric"],
        best_score,
        spw,
        seconds,
    )
    return booster_to_json(booster), summary


def calibrate_churn_model(
    model: Any,
    churn_model_input: pd.DataFrame,
    feature_spec: dict[str, Any],
    params: dict[str, Any],
) -> dict[str, Any]:
    """Calibration map fitted on the held-out rows' raw probabilities (JSON-ready)."""
    valid = _rows(churn_model_input, "valid")
    raw = predict_raw(model, valid, feature_spec)
    calibrator = fit_calibrator(raw, valid[LABEL], params["calibration"]["method"])
    calibrator |= {
        "fitted_on": "valid",
        "rows": len(valid),
        "positives": int(valid[LABEL].sum()),
        "snapshots": _dates(valid),
    }
    return calibrator


def predict_test_snapshot(
    booster: str,
    calibrator: dict[str, Any],
    churn_model_input: pd.DataFrame,
    feature_spec: dict[str, Any],
) -> pd.DataFrame:
    """The test rows with XGBoost's raw and calibrated probabilities."""
    test = _rows(churn_model_input, "test")
    raw = predict_raw(booster, test, feature_spec)
    scores = test[[*KEYS, LABEL]].reset_index(drop=True)
    scores["xgboost_raw"] = raw
    scores["xgboost_calibrated"] = apply_calibrator(calibrator, raw)
    return scores


CANDIDATES = {
    "xgboost": "xgboost_calibrated",
    "logistic": "logistic_baseline",
}
"""The churn-model candidates, the more complex first, and their scorer in the metrics."""


def fit_candidate(
    kind: str, frame: pd.DataFrame, spec: dict[str, Any], params: dict[str, Any]
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(model, calibrator, training summary) of candidate ``kind`` on a split frame: trained
    on its ``train`` rows, early-stopped (XGBoost) and calibrated on its ``valid`` rows."""
    train = _rows(frame, "train")
    if kind == "xgboost":
        model, summary = train_churn_model(frame, spec, params)
    elif kind == "logistic":
        started = time.perf_counter()
        baseline = params["baseline"]
        model = LogisticChurnClassifier(baseline["C"], baseline["max_iter"])
        model.fit(train, train[LABEL], spec)
        summary = {
            "training_rows": len(train),
            "training_seconds": round(time.perf_counter() - started, 2),
            "C": model.C,
        }
    else:
        raise ValueError(f"Unknown churn-model candidate {kind!r}: {', '.join(CANDIDATES)}")
    return model, calibrate_churn_model(model, frame, spec, params), summary
