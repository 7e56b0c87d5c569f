"""Step 5: the rolling-origin backtest of both candidates and the choice between them.

At each of the latest ``backtest.cutoffs`` labelled snapshots c, each candidate is trained as it
would have been at c -- on the snapshots whose labels are known by c, a held-out slice of the
latest of them for early stopping and calibration (``split.split_at_cutoff``) -- and tested on
the snapshot at c, which no training label has seen (Tashman 2000, "Out-of-sample tests of
forecasting accuracy", International Journal of Forecasting 16(4): rolling origin). The last
cutoff is the evaluation split of ``churn_model_metrics.json``; its predictions are reused. With
too few labelled snapshots for a temporal split, the cutoffs are customer-grouped folds.

The choice (``select_candidate``): the simpler model (logistic regression) unless XGBoost's mean
advantage on the selection metric over the cutoffs exceeds the standard error of that paired
advantage -- the one-standard-error rule (Hastie, Tibshirani & Friedman 2009, The Elements of
Statistical Learning, 7.10) applied to the paired differences.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from customer_retention.core.calibration import apply_calibrator
from customer_retention.core.formatting import fmt_number
from customer_retention.core.serialization import jsonable
from customer_retention.models.churn_classifier import predict_raw

from .common import LABEL, PROMOTION_DIRECTIONS, _rows, metrics_of
from .split import backtest_splits, define_model_features, split_at_cutoff
from .train import CANDIDATES, fit_candidate

logger = logging.getLogger(__name__)

REPORTED = ("roc_auc", "pr_auc", "top_decile_lift", "ece", "brier_score")
SIMPLER = "logistic"


def _backtest_params(params: dict[str, Any]) -> dict[str, Any]:
    """The churn-model parameters with the backtest's training-row cap, when it has one."""
    cap = params.get("backtest", {}).get("max_training_rows", "same")
    if cap == "same":
        return params
    return params | {"split": params["split"] | {"max_training_rows": cap}}


def _score_cutoff(
    customer_snapshots: pd.DataFrame, params: dict[str, Any], horizon_days: int | None, cutoff: Any
) -> dict[str, Any]:
    """Both candidates trained as at ``cutoff`` and tested on it."""
    frame, info = split_at_cutoff(customer_snapshots, params, horizon_days, cutoff)
    spec = define_model_features(frame, params)
    test = _rows(frame, "test")
    result: dict[str, Any] = {"parts": info["parts"]}
    for kind in CANDIDATES:
        model, calibrator, summary = fit_candidate(kind, frame, spec, params)
        probability = apply_calibrator(calibrator, predict_raw(model, test, spec))
        result[kind] = metrics_of(test[LABEL], probability, params["evaluation"], REPORTED)
        if "trees" in summary:
            result[kind]["trees"] = summary["trees"]
    return result


def _evaluation_cutoff(
    churn_test_scores: pd.DataFrame, split_info: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """The last cutoff from the evaluation split's predictions (the same recipe, already run)."""
    y = churn_test_scores[LABEL]
    result: dict[str, Any] = {"parts": split_info["parts"]}
    for kind, column in CANDIDATES.items():
        result[kind] = metrics_of(
            y, churn_test_scores[column].to_numpy(), params["evaluation"], REPORTED
        )
    return result


def _spread(values: list[float | None]) -> dict[str, Any]:
    present = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    return {
        "mean": float(present.mean()) if len(present) else None,
        "sd": float(present.std(ddof=1)) if len(present) > 1 else None,
        "cutoffs": len(present),
    }


def select_candidate(
    cutoffs: list[dict[str, Any]], metric: str, choice: str = "auto"
) -> dict[str, Any]:
    """The candidate to deploy: ``logistic`` unless XGBoost's mean paired advantage on ``metric``
    over the cutoffs, d = mean_i(s_i (x_i - l_i)) with s = +1 when higher is better, exceeds
    its standard error sd(d_i) / sqrt(k). Fewer than two cutoffs give no noise estimate: the
    simpler model. ``choice`` other than ``auto`` forces a candidate (said so)."""
    higher = PROMOTION_DIRECTIONS[metric]
    sign = 1.0 if higher else -1.0
    pairs = [
        (c["xgboost"].get(metric), c[SIMPLER].get(metric))
        for c in cutoffs
        if c["xgboost"].get(metric) is not None and c[SIMPLER].get(metric) is not None
    ]
    differences = np.array([sign * (x - s) for x, s in pairs], dtype=float)
    k = len(differences)
    advantage = float(differences.mean()) if k else None
    noise = float(differences.std(ddof=1) / math.sqrt(k)) if k > 1 else None
    rule = (
        "the simpler model (logistic) unless XGBoost's mean advantage on the selection metric "
        "over the backtest cutoffs exceeds the standard error of that paired advantage"
    )
    decision = {
        "metric": metric,
        "higher_is_better": higher,
        "rule": rule,
        "paired_cutoffs": k,
        "xgboost_mean_advantage": advantage,
        "advantage_standard_error": noise,
    }
    if choice != "auto":
        if choice not in CANDIDATES:
            raise ValueError(
                f"churn_model.backtest.model must be auto or one of {', '.join(CANDIDATES)}, "
                f"got {choice!r}"
            )
        return decision | {
            "chosen": choice,
            "reason": f"set in parameters (churn_model.backtest.model: {choice})",
        }
    if noise is None:
        chosen = SIMPLER
        reason = (
            f"{k} cutoff(s) with both candidates' {metric}: no estimate of the backtest noise, "
            "so the simpler model"
        )
    else:
        chosen = "xgboost" if advantage > noise else SIMPLER
        reason = (
            f"XGBoost's mean {metric} advantage {advantage:+.4f} over {k} cutoffs is "
            f"{'more' if chosen == 'xgboost' else 'not more'} than its standard error "
            f"{noise:.4f}"
        )
    return decision | {"chosen": chosen, "reason": reason}


def backtest_candidates(
    customer_snapshots: pd.DataFrame,
    churn_test_scores: pd.DataFrame,
    split_info: dict[str, Any],
    params: dict[str, Any],
    horizon_days: int | None,
) -> dict[str, Any]:
    """``backtest.json``: each candidate's ROC-AUC, PR-AUC, top-decile lift, ECE and Brier score
    at each cutoff, their mean and standard deviation over the cutoffs, and the choice."""
    settings = params.get("backtest", {})
    run_params = _backtest_params(params)
    cutoffs = backtest_splits(customer_snapshots, params, horizon_days)
    # The evaluation split is the last date (temporal) or the first fold (grouped random).
    evaluation = len(cutoffs) if split_info["split"] == "temporal" else 1
    results = []
    for number, (name, cutoff) in enumerate(cutoffs, start=1):
        is_evaluation = number == evaluation
        if is_evaluation:
            result = _evaluation_cutoff(churn_test_scores, split_info, params)
        else:
            result = _score_cutoff(customer_snapshots, run_params, horizon_days, cutoff)
        result = {"cutoff": name, "is_evaluation_split": is_evaluation, **result}
        results.append(result)
        logger.info(
            "Backtest %s/%s (%s): XGBoost ROC-AUC %s, logistic %s",
            number,
            len(cutoffs),
            name,
            fmt_number(result["xgboost"].get("roc_auc"), 3),
            fmt_number(result[SIMPLER].get("roc_auc"), 3),
        )
    metric = settings.get("selection_metric", "roc_auc")
    if metric not in PROMOTION_DIRECTIONS:
        raise ValueError(
            f"churn_model.backtest.selection_metric must be one of "
            f"{', '.join(PROMOTION_DIRECTIONS)}, got {metric!r}"
        )
    summary = {
        kind: {m: _spread([c[kind].get(m) for c in results]) for m in REPORTED}
        for kind in CANDIDATES
    }
    selection = select_candidate(results, metric, settings.get("model", "auto"))
    logger.info(
        "Churn model chosen by the backtest: %s (%s)", selection["chosen"], selection["reason"]
    )
    return jsonable(
        {
            "kind": "rolling_origin" if split_info["split"] == "temporal" else "grouped_folds",
            "description": (
                "each cutoff: both candidates trained on the snapshots whose labels are known "
                "by the cutoff and tested on the snapshot at the cutoff"
                if split_info["split"] == "temporal"
                else "each fold: both candidates trained on the other customers and tested on "
                "the fold's customers (too few labelled snapshots for a temporal backtest)"
            ),
            "cutoffs": results,
            "summary": summary,
            "selection": selection,
        }
    )
