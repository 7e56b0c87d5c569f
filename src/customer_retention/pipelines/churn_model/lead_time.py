"""Step 8: how early is the warning? The chosen model at the test snapshot, for the customers
without any "already leaving" signal, and the share of flagged churners that carried one.

A customer who started an exit survey (or whatever ``lead_time.already_leaving_signals`` lists:
any snapshot column, a signal when its value is positive) is usually past saving; a model whose
lift comes from those customers warns late. The metrics without them say how much early
warning is left.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from customer_retention.core.formatting import fmt_number, fmt_share
from customer_retention.core.serialization import jsonable

from .common import LABEL, _rows, metrics_of
from .train import CANDIDATES

logger = logging.getLogger(__name__)

LEAD_TIME_METRICS = ("roc_auc", "pr_auc", "top_decile_lift", "ece")


def _flagged(probability: pd.Series, fraction: float) -> np.ndarray:
    """The top ``fraction`` of rows by probability (ties broken by position)."""
    count = max(1, int(round(fraction * len(probability))))
    order = np.argsort(-probability.to_numpy(), kind="stable")
    flagged = np.zeros(len(probability), dtype=bool)
    flagged[order[:count]] = True
    return flagged


def measure_lead_time(
    churn_test_scores: pd.DataFrame,
    churn_model_input: pd.DataFrame,
    churn_backtest: dict[str, Any],
    params: dict[str, Any],
) -> dict[str, Any]:
    """Metrics of the chosen candidate on the test snapshot: all customers, and those without
    an already-leaving signal; share of flagged churners (top ``evaluation.top_fraction``) and
    of all churners that carried a signal."""
    signals = list(params.get("lead_time", {}).get("already_leaving_signals") or [])
    test = _rows(churn_model_input, "test").reset_index(drop=True)
    present = [s for s in signals if s in test.columns]
    absent = [s for s in signals if s not in test.columns]
    chosen = churn_backtest["selection"]["chosen"]
    result: dict[str, Any] = {
        "model": chosen,
        "signals": present,
        "signals_not_in_the_data": absent,
    }
    if not present:
        reason = (
            "no already-leaving signal in the data"
            if signals
            else "lead_time.already_leaving_signals is empty"
        )
        logger.info("Lead time not measured: %s", reason)
        return jsonable(result | {"status": "not measured", "reason": reason})
    values = test[present].apply(pd.to_numeric, errors="coerce").fillna(0.0)
    signal = (values > 0).any(axis=1).to_numpy()
    y = churn_test_scores[LABEL].reset_index(drop=True)
    probability = churn_test_scores[CANDIDATES[chosen]].reset_index(drop=True)
    evaluation = params["evaluation"]
    flagged = _flagged(probability, float(evaluation["top_fraction"]))
    churners = y.to_numpy() == 1
    flagged_churners = flagged & churners
    result |= {
        "status": "measured",
        "test_rows": len(y),
        "rows_with_signal": int(signal.sum()),
        "share_of_churners_with_signal": float(signal[churners].mean()) if churners.any() else None,
        "share_of_flagged_churners_with_signal": (
            float(signal[flagged_churners].mean()) if flagged_churners.any() else None
        ),
        "flagged_churners": int(flagged_churners.sum()),
        "all_customers": metrics_of(y, probability, evaluation, LEAD_TIME_METRICS),
        "without_signal": metrics_of(
            y[~signal], probability[~signal], evaluation, LEAD_TIME_METRICS
        ),
    }
    logger.info(
        "Lead time: %s of the flagged churners already carried a leaving signal (%s); ROC-AUC "
        "%s overall, %s without them",
        fmt_share(result["share_of_flagged_churners_with_signal"], 0),
        ", ".join(present),
        fmt_number(result["all_customers"].get("roc_auc"), 3),
        fmt_number(result["without_signal"].get("roc_auc"), 3),
    )
    return jsonable(result)
