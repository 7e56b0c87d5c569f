"""Step 5: evaluation charts and feature importance (SHAP)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from customer_retention.core.model_frame import (
    booster_from_json,
    dmatrix,
)
from customer_retention.models.evaluation import (
    cumulative_gains,
    ranking_curves,
    reliability_table,
    thin_curve,
)

from .common import LABEL, _dates, _rows

logger = logging.getLogger(__name__)


CHART_SCORERS = ("xgboost_calibrated", "logistic_baseline", "health_score", "oracle", "cox_risk")


def _chart_scores(scores: pd.DataFrame) -> dict[str, pd.Series]:
    """Scorer -> ranking score (health: the raw risk) restricted to rows it scores."""
    out = {}
    for name in (*CHART_SCORERS, "cox_risk_rank_only"):
        if name in scores and scores[name].notna().any():
            out[name] = scores["health_risk"] if name == "health_score" else scores[name]
    return out


def plot_churn_model_evaluation(
    churn_test_scores: pd.DataFrame, params: dict[str, Any]
) -> tuple[Figure, Figure, Figure, Figure]:
    """ROC, precision-recall, reliability and cumulative gains / lift charts (test rows)."""
    evaluation = params["evaluation"]
    y = churn_test_scores[LABEL]
    scorers = _chart_scores(churn_test_scores)
    title = f"test snapshot(s) {', '.join(_dates(churn_test_scores))}, {len(y):,} customers"

    # One sort per scorer for both curves and their areas; the lines thinned to a quarter pixel
    # (all test rows would be 100k+ points each).
    curves = {
        name: ranking_curves(y[score.notna()], score[score.notna()])
        for name, score in scorers.items()
    }
    roc = Figure(figsize=(6, 5.5), layout="constrained")
    ax = roc.subplots()
    for name, curve in curves.items():
        keep = thin_curve(curve["fpr"], curve["tpr"])
        ax.plot(
            curve["fpr"][keep], curve["tpr"][keep], label=f"{name} (AUC {curve['roc_auc']:.3f})"
        )
    ax.plot([0, 1], [0, 1], "k:", lw=1, label="random")
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title=f"ROC\n{title}")
    ax.legend(loc="lower right", fontsize=8)

    pr = Figure(figsize=(6, 5.5), layout="constrained")
    ax = pr.subplots()
    for name, curve in curves.items():
        keep = thin_curve(curve["recall"], curve["precision"])
        ax.plot(
            curve["recall"][keep],
            curve["precision"][keep],
            label=f"{name} (AP {curve['pr_auc']:.3f})",
        )
    ax.axhline(y.mean(), color="k", ls=":", lw=1, label=f"churn rate {y.mean():.1%}")
    ax.set(xlabel="Recall", ylabel="Precision", title=f"Precision-recall\n{title}")
    ax.legend(loc="upper right", fontsize=8)

    reliability = Figure(figsize=(6, 5.5), layout="constrained")
    ax = reliability.subplots()
    top = 0.0
    for name in (
        "xgboost_raw",
        "xgboost_calibrated",
        "logistic_baseline",
        "health_score",
        "oracle",
    ):
        if name not in churn_test_scores or churn_test_scores[name].isna().all():
            continue
        ok = churn_test_scores[name].notna()
        table = reliability_table(
            y[ok],
            churn_test_scores.loc[ok, name],
            int(evaluation["ece_bins"]),
            evaluation["ece_strategy"],
        )
        ax.plot(table["mean_predicted"], table["observed_rate"], "o-", ms=4, label=name)
        top = max(top, table["mean_predicted"].max(), table["observed_rate"].max())
    top = min(1.0, top * 1.05 + 0.01)
    ax.plot([0, top], [0, top], "k:", lw=1, label="perfect calibration")
    ax.set(
        xlim=(0, top),
        ylim=(0, top),
        xlabel="Mean predicted probability",
        ylabel="Observed churn rate",
        title=f"Reliability ({evaluation['ece_bins']} {evaluation['ece_strategy']} bins)\n{title}",
    )
    ax.legend(loc="upper left", fontsize=8)

    gains = Figure(figsize=(11, 5), layout="constrained")
    ax_gain, ax_lift = gains.subplots(1, 2)
    for name, score in scorers.items():
        ok = score.notna()
        table = cumulative_gains(y[ok], score[ok])
        ax_gain.plot(table["population_share"], table["captured_share"], label=name)
        ax_lift.plot(table["population_share"], table["lift"], label=name)
    ax_gain.plot([0, 1], [0, 1], "k:", lw=1, label="random")
    ax_lift.axhline(1, color="k", ls=":", lw=1, label="random")
    ax_gain.set(
        xlabel="Share of customers contacted (by score)",
        ylabel="Share of churners reached",
        title="Cumulative gains",
    )
    ax_lift.set(xlabel="Share of customers contacted (by score)", ylabel="Lift", title="Lift")
    ax_lift.set_xlim(0.05, 1)  # the first few percent are too noisy to read
    for ax in (ax_gain, ax_lift):
        ax.legend(fontsize=8)
    gains.suptitle(title)
    return roc, pr, reliability, gains


def compute_feature_importance(
    churn_model_booster: str,
    churn_model_input: pd.DataFrame,
    feature_spec: dict[str, Any],
    sample_rows: int = 20_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean |SHAP| (log-odds) per feature on the test rows, with XGBoost's total gain.

    Above ``sample_rows`` test rows, the means are taken over a random sample of that size
    (standard error of a mean |SHAP| shrinks as 1/sqrt(n): 20,000 rows are plenty).
    """
    booster = booster_from_json(churn_model_booster)
    test = _rows(churn_model_input, "test")
    if len(test) > sample_rows:  # exact SHAP costs minutes on 100k+ rows; a mean needs fewer
        test = test.sample(n=sample_rows, random_state=seed)
    contributions = booster.predict(dmatrix(test, feature_spec), pred_contribs=True)[:, :-1]
    gain = booster.get_score(importance_type="total_gain")
    importance = pd.DataFrame(
        {
            "feature": feature_spec["features"],
            "mean_abs_shap": np.abs(contributions).mean(axis=0),
            "mean_shap": contributions.mean(axis=0),
            "total_gain": [float(gain.get(f, 0.0)) for f in feature_spec["features"]],
        }
    )
    return importance.sort_values("mean_abs_shap", ascending=False, ignore_index=True)


def plot_feature_importance(feature_importance: pd.DataFrame, top: int = 20) -> Figure:
    data = feature_importance.head(top).iloc[::-1]
    figure = Figure(figsize=(7, 0.3 * len(data) + 1.5), layout="constrained")
    ax = figure.subplots()
    ax.barh(data["feature"], data["mean_abs_shap"], color="tab:blue")
    ax.set(
        xlabel="Mean |SHAP contribution| on the test rows (log-odds)",
        title=f"Churn model: top {len(data)} features",
    )
    return figure
