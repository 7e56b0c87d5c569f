"""What the churn-model steps share: the label, the keys, the scorers, JSON-safe values."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from customer_retention.core.model_frame import (
    SPLIT_COLUMN,
)
from customer_retention.models.evaluation import classification_metrics

logger = logging.getLogger(__name__)

LABEL = "churned_within_horizon"
KEYS = ["customer_id", "snapshot_date"]

SCORERS: dict[str, dict[str, Any]] = {
    "xgboost_calibrated": {
        "is_probability": True,
        "description": "XGBoost, probabilities calibrated on the held-out customers of the "
        "latest training snapshot",
    },
    "xgboost_raw": {
        "is_probability": True,
        "description": "XGBoost before calibration (distorted by scale_pos_weight)",
    },
    "logistic_baseline": {
        "is_probability": True,
        "description": "Logistic regression on one-hot categoricals and standardised numerics "
        "(median imputation plus missing indicators), fitted on the training snapshots and "
        "calibrated like XGBoost",
    },
    "health_score": {
        "is_probability": True,
        "description": "Risk = 100 - health_score; ranking metrics are those of the score "
        "itself, probability metrics use a Platt (logistic) fit of the risk on the "
        "held-out customers of the latest training snapshot",
    },
    "oracle": {
        "is_probability": True,
        "description": "Demo data only: the true churn probability under the simulated "
        "Weibull hazard model (knows each customer's latent traits, not their future)",
    },
    "bg_nbd": {
        "is_probability": True,
        "description": "CLV stage (purchase data): BG/NBD's P(no purchase within the horizon) "
        "from its calibration-period fit, given the purchases before the snapshot",
    },
    # --- cox_risk: filled in by the survival stage (optional input `cox_risk_scores`) ---
    "cox_risk": {
        "is_probability": True,
        "description": "Survival stage: P(churn within the horizon) from the Cox model "
        "(column churn_probability), or ranking metrics only from its relative risk "
        "(column risk). The Cox model is fitted on every customer, so on a customer-grouped "
        "random split it has seen the test customers' outcomes: in sample, optimistic",
    },
}

PROMOTION_DIRECTIONS = {
    "roc_auc": True,
    "pr_auc": True,
    "top_decile_lift": True,
    "top_decile_capture_rate": True,
    "log_loss": False,
    "brier_score": False,
    "ece": False,
}
"""Metrics usable for promotion: True when higher is better."""


def _rows(frame: pd.DataFrame, part: str) -> pd.DataFrame:
    return frame[frame[SPLIT_COLUMN] == part]


def _dates(frame: pd.DataFrame) -> list[str]:
    return [str(pd.Timestamp(d).date()) for d in sorted(frame["snapshot_date"].unique())]


def metrics_of(
    y: pd.Series, probability: Any, evaluation: dict[str, Any], keys: tuple[str, ...]
) -> dict[str, Any]:
    """``keys`` of the classification metrics (``evaluation``: top_fraction, ece_bins,
    ece_strategy) and the row count; a status instead when ``y`` holds one class only."""
    if pd.Series(y).nunique() < 2:
        return {"status": "one class only", "rows": len(y)}
    metrics = classification_metrics(
        y,
        probability,
        top_fraction=float(evaluation["top_fraction"]),
        n_bins=int(evaluation["ece_bins"]),
        strategy=evaluation["ece_strategy"],
    )
    return {**{k: float(metrics[k]) for k in keys}, "rows": len(y)}
