"""Step 5: evaluation charts and feature importance (SHAP)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from customer_retention.core import charts
from customer_retention.core.chart_data import evaluation_curves
from customer_retention.core.features import FEATURE_LABELS
from customer_retention.models.churn_classifier import contributions, model_from_json

from .common import LABEL, _rows

logger = logging.getLogger(__name__)


def plot_churn_model_evaluation(
    churn_test_scores: pd.DataFrame, churn_model_metrics: dict[str, Any]
) -> tuple[Figure, Figure, Figure, Figure]:
    """ROC, precision-recall, calibration and cumulative-gains charts of every scorer on the
    test rows, drawn as the report draws them (the same tables, the same chart functions)."""
    scorers = churn_model_metrics.get("scorers") or {}
    evaluation = churn_model_metrics["evaluation"]
    y = churn_test_scores[LABEL]
    if y.nunique() < 2:
        note = charts.note("The test rows hold only one class: no curve to draw.")
        return note, note, note, note
    roc, precision_recall, calibration, gains = evaluation_curves(
        churn_test_scores, scorers, evaluation
    )
    return (
        charts.roc_curves(roc),
        charts.precision_recall_curves(precision_recall, float(y.mean())),
        charts.calibration_curves(calibration),
        charts.gains_chart(gains, float(evaluation["top_fraction"])),
    )


def compute_feature_importance(
    churn_model_file: str,
    churn_refit: dict[str, Any],
    churn_model_input: pd.DataFrame,
    sample_rows: int = 20_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean |SHAP| (log-odds) per feature of the deployed model on the test rows, with
    XGBoost's total gain (NaN for the logistic regression).

    Above ``sample_rows`` test rows, the means are taken over a random sample of that size
    (standard error of a mean |SHAP| shrinks as 1/sqrt(n): 20,000 rows are plenty).
    """
    spec = churn_refit["feature_spec"]
    model = model_from_json(churn_model_file, churn_refit["model_kind"])
    test = _rows(churn_model_input, "test")
    if len(test) > sample_rows:  # exact SHAP costs minutes on 100k+ rows; a mean needs fewer
        test = test.sample(n=sample_rows, random_state=seed)
    shares = contributions(model, test, spec)
    gain = model.get_score(importance_type="total_gain") if hasattr(model, "get_score") else {}
    importance = pd.DataFrame(
        {
            "feature": spec["features"],
            "mean_abs_shap": np.abs(shares).mean(axis=0),
            "mean_shap": shares.mean(axis=0),
            "total_gain": [float(gain.get(f, 0.0)) if gain else np.nan for f in spec["features"]],
            "direction": [
                _direction(test[f], shares[:, i], spec["dtypes"][f] == "category")
                for i, f in enumerate(spec["features"])
            ],
        }
    )
    return importance.sort_values("mean_abs_shap", ascending=False, ignore_index=True)


def _direction(values: pd.Series, contribution: np.ndarray, categorical: bool) -> str:
    """How a feature pushes the risk, in words: ``higher raises risk`` / ``lower raises risk``
    (the sign of the rank correlation of the value with its SHAP contribution), or for a
    categorical ``<level> raises risk`` (the level with the highest mean contribution)."""
    if categorical:
        by_level = (
            pd.Series(contribution, index=values.index)
            .groupby(values.astype("string").fillna("(blank)"), observed=True)
            .mean()
        )
        return f"{by_level.idxmax()} raises risk" if len(by_level) > 1 else ""
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    known = numbers.notna().to_numpy()
    if known.sum() < 3 or numbers[known].nunique() < 2 or np.std(contribution[known]) == 0:
        return ""
    rho = pd.Series(numbers[known].to_numpy()).corr(
        pd.Series(contribution[known]), method="spearman"
    )
    if not np.isfinite(rho) or abs(rho) < 0.1:
        return "mixed"
    return "higher raises risk" if rho > 0 else "lower raises risk"


def plot_feature_importance(feature_importance: pd.DataFrame, top: int = 20) -> Figure:
    """The strongest drivers (mean |SHAP|), as the report draws them."""
    return charts.driver_bars(feature_importance, FEATURE_LABELS, top=top)
