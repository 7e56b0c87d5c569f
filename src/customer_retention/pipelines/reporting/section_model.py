"""The churn-model section: every scorer's metrics, ROC, calibration, gains and drivers."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from customer_retention.core import charts
from customer_retention.core.chart_data import SCORER_NAMES, evaluation_curves
from customer_retention.core.features import FEATURE_LABELS
from customer_retention.core.formatting import (
    fmt_int,
    fmt_number,
    fmt_share,
    humanize,
)

from . import takeaways
from .blocks import (
    LABEL,
    MODEL,
    _chart,
    _collect,
    _frame,
)


def _metric_row(name: str, result: dict[str, Any]) -> dict[str, Any]:
    ok = result.get("status") == "ok"

    def show(key: str, decimals: int) -> str:
        return fmt_number(result.get(key), decimals) if ok and key in result else ""

    return {
        "name": SCORER_NAMES.get(name, humanize(name)),
        "description": result.get("description", ""),
        "status": "" if ok else result.get("status", ""),
        "roc_auc": show("roc_auc", 3),
        "pr_auc": show("pr_auc", 3),
        "lift": show("top_decile_lift", 2),
        "capture": fmt_share(result.get("top_decile_capture_rate"), 0) if ok else "",
        "log_loss": show("log_loss", 3),
        "brier": show("brier_score", 4),
        "ece": show("ece", 3),
        "is_model": name == MODEL,
    }


DEFAULT_EVALUATION = {"top_fraction": 0.1, "ece_bins": 10, "ece_strategy": "quantile"}


def build_model_section(
    churn_model_metrics: dict[str, Any],
    churn_test_scores: pd.DataFrame,
    churn_feature_importance: pd.DataFrame,
    horizon_days: int,
) -> tuple[dict[str, Any], dict[str, Figure]]:
    """Metrics of every scorer, ROC, calibration, gains and the top drivers, evaluated with the
    settings the churn model was evaluated with (``evaluation`` in its metrics)."""
    metrics = churn_model_metrics or {}
    evaluation = DEFAULT_EVALUATION | (metrics.get("evaluation") or {})
    scorers = metrics.get("scorers") or {}
    model = scorers.get(MODEL, {})
    top_fraction = float(evaluation["top_fraction"])
    scores = _frame(churn_test_scores)
    usable = bool(len(scores)) and LABEL in scores and scores[LABEL].nunique() == 2
    roc, _, calibration, gains = (
        evaluation_curves(scores, scorers, evaluation) if usable else ({}, {}, {}, {})
    )
    missing = None if usable else "No test snapshot with both churners and stayers to evaluate on."
    importance = _frame(churn_feature_importance)
    blocks, figures = _collect(
        (
            _chart(
                "roc",
                "How well the model ranks customers (ROC)",
                takeaways.model_ranking(scorers),
                missing or (None if roc else "No scorer to evaluate."),
                "Higher and further left is better; the dotted diagonal is a random guess.",
            ),
            charts.roc_curves(roc) if roc else None,
        ),
        (
            _chart(
                "calibration",
                "Are the probabilities right? (calibration)",
                takeaways.calibration(model, horizon_days),
                missing or (None if calibration else "No probability scorer to check."),
                "Points on the diagonal mean that customers given a 10% risk churn 10% of the time.",
            ),
            charts.calibration_curves(calibration) if calibration else None,
        ),
        (
            _chart(
                "gains",
                "Who to contact first (gains)",
                takeaways.gains(model, top_fraction),
                missing or (None if gains else "No scorer to evaluate."),
                "Share of all churners reached when contacting customers riskiest first.",
            ),
            charts.gains_chart(gains, top_fraction) if gains else None,
        ),
        (
            _chart(
                "drivers",
                "Top drivers of predicted churn",
                takeaways.drivers(importance, FEATURE_LABELS),
                None if len(importance) else "No feature importance available.",
                "Average size of each feature's push on a customer's churn score (SHAP), test rows.",
            ),
            charts.driver_bars(importance, FEATURE_LABELS) if len(importance) else None,
        ),
    )
    return {
        "charts": blocks,
        "metrics_table": [_metric_row(name, result) for name, result in scorers.items()],
        "split": metrics.get("split_reason", ""),
        "test_window": ", ".join((metrics.get("windows") or {}).get("test", [])),
        "test_rows": fmt_int((metrics.get("rows") or {}).get("test")),
        "test_churn_rate": fmt_share(metrics.get("test_churn_rate")),
        "headline": {"roc_auc": model.get("roc_auc")},
    }, figures
