"""Step 4: the scorers the model is compared with (logistic baseline, health score, Cox risk,
oracle) and every scorer's metrics on the test rows."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from customer_retention.core.calibration import apply_calibrator
from customer_retention.models.bootstrap import scaled_intervals
from customer_retention.models.churn_classifier import predict_raw
from customer_retention.models.evaluation import (
    probability_metrics,
    ranking_metrics,
)
from customer_retention.models.simulation import true_churn_probability

from .common import KEYS, LABEL, SCORERS, _rows
from .train import fit_candidate

logger = logging.getLogger(__name__)


def _as_datetime(series: pd.Series) -> pd.Series:
    """A column of dates as datetime64[ns] (pd.to_datetime only when they are not datetimes
    already: on a datetime column it still boxes thousands of Timestamps to decide on caching)."""
    if pd.api.types.is_datetime64_dtype(series):
        return series.astype("datetime64[ns]")
    return pd.to_datetime(series).astype("datetime64[ns]")


def _keyed(frame: pd.DataFrame) -> pd.DataFrame:
    """customer_id as text and snapshot_date as datetime64[ns], for joins across sources."""
    return frame.astype({"customer_id": str}).assign(
        snapshot_date=_as_datetime(frame["snapshot_date"])
    )


def _lookup(frame: pd.DataFrame, table: pd.DataFrame, column: str) -> np.ndarray:
    """``column`` of ``table`` at each row's (customer_id, snapshot_date): the first match, NaN
    where none. Only the table's rows at the frame's snapshot dates are keyed and joined (the
    tables hold every snapshot; text keys for all of them cost 20 s at 1M customers)."""
    keys = _keyed(frame[KEYS])
    dates = _as_datetime(table["snapshot_date"])
    rows = table.loc[dates.isin(keys["snapshot_date"].unique()).to_numpy(), [*KEYS, column]]
    return keys.merge(_keyed(rows).drop_duplicates(KEYS), on=KEYS, how="left")[column].to_numpy()


def _health_risk(frame: pd.DataFrame, customer_health: pd.DataFrame | None) -> pd.Series:
    """100 - health_score per row of ``frame`` (NaN where no score)."""
    if customer_health is None or "health_score" not in customer_health:
        return pd.Series(np.nan, index=frame.index)
    return pd.Series(100.0 - _lookup(frame, customer_health, "health_score"), index=frame.index)


def _oracle(
    frame: pd.DataFrame, ground_truth: dict[str, Any] | None, horizon_days: int
) -> pd.Series:
    """True P(churn within the horizon) on demo data; NaN for ids not in the ground truth."""
    if not ground_truth:
        return pd.Series(np.nan, index=frame.index)
    # Ground-truth ids are integers, snapshot ids strings.
    ids = pd.to_numeric(frame["customer_id"], errors="coerce")
    known = ids.notna().to_numpy()
    probability = np.full(len(frame), np.nan)
    probability[known] = true_churn_probability(
        ground_truth,
        ids[known].astype("int64").to_numpy(),
        frame["tenure_days"].to_numpy()[known],
        int(horizon_days),
    )
    return pd.Series(probability, index=frame.index)


def _cox_risk(frame: pd.DataFrame, cox_risk_scores: pd.DataFrame | None) -> tuple[pd.Series, bool]:
    """Survival stage's score per row: (values, is_probability). NaN when absent.

    Contract for the survival stage: a table with customer_id, snapshot_date and either
    ``churn_probability`` (P(churn in (t, t + horizon])) or ``risk`` (relative hazard).
    """
    if cox_risk_scores is None or cox_risk_scores.empty:
        return pd.Series(np.nan, index=frame.index), True
    column = "churn_probability" if "churn_probability" in cox_risk_scores else "risk"
    values = _lookup(frame, cox_risk_scores, column)
    return pd.Series(values, index=frame.index), column == "churn_probability"


def score_benchmarks(
    test_predictions: pd.DataFrame,
    churn_model_input: pd.DataFrame,
    feature_spec: dict[str, Any],
    customer_health: pd.DataFrame | None,
    ground_truth: dict[str, Any] | None,
    cox_risk_scores: pd.DataFrame | None,
    bg_nbd_risk_scores: pd.DataFrame | None,
    horizon_days: int,
    params: dict[str, Any],
) -> pd.DataFrame:
    """Every scorer on the test rows: XGBoost plus baseline, health score, oracle, Cox risk.

    Columns: customer_id, snapshot_date, label, one column per scorer (NaN where a scorer has
    no value), and ``health_risk`` (100 - health score, before the Platt map).
    """
    valid, test = (_rows(churn_model_input, p) for p in ("valid", "test"))
    test = test.reset_index(drop=True)
    scores = test_predictions.copy()
    if not _keyed(scores[KEYS]).equals(_keyed(test[KEYS])):  # dates as text: 1.2 s at L
        raise ValueError("test_predictions and the test rows of churn_model_input differ")

    baseline, calibrator, _ = fit_candidate("logistic", churn_model_input, feature_spec, params)
    scores["logistic_baseline"] = apply_calibrator(
        calibrator, predict_raw(baseline, test, feature_spec)
    )

    risk_valid = _health_risk(valid, customer_health)
    scores["health_risk"] = _health_risk(test, customer_health).to_numpy()
    scores["health_score"] = np.nan
    fit_rows = risk_valid.notna().to_numpy()
    if fit_rows.sum() and valid[LABEL][fit_rows].nunique() == 2:
        platt = LogisticRegression(C=1e6, max_iter=1000).fit(
            risk_valid[fit_rows].to_numpy()[:, None] / 100, valid[LABEL][fit_rows]
        )
        has_risk = scores["health_risk"].notna()
        scores.loc[has_risk, "health_score"] = platt.predict_proba(
            scores.loc[has_risk, ["health_risk"]].to_numpy() / 100
        )[:, 1]
    else:
        logger.info("No health scores for the validation rows: health_score scorer skipped")

    scores["oracle"] = _oracle(test, ground_truth, horizon_days).to_numpy()
    # --- bg_nbd scorer: from the CLV stage, for purchase data ---
    bg_nbd_present = bg_nbd_risk_scores is not None and not bg_nbd_risk_scores.empty
    scores["bg_nbd"] = (
        _lookup(test, bg_nbd_risk_scores, "churn_probability") if bg_nbd_present else np.nan
    )
    # --- cox_risk scorer: from the survival stage, when its output exists ---
    cox, cox_is_probability = _cox_risk(test, cox_risk_scores)
    scores["cox_risk"] = cox.to_numpy()
    if not cox_is_probability:
        scores = scores.rename(columns={"cox_risk": "cox_risk_rank_only"})
    return scores


def _scorer_columns(scores: pd.DataFrame) -> dict[str, dict[str, Any]]:
    columns = {}
    for name, spec in SCORERS.items():
        if name in scores:
            columns[name] = spec
        elif name == "cox_risk" and "cox_risk_rank_only" in scores:
            columns["cox_risk_rank_only"] = spec | {"is_probability": False}
    return columns


COMPARED = [("xgboost_calibrated", "logistic_baseline")]
"""Pairs whose difference gets an interval: the churn model minus the logistic baseline."""


def _add_intervals(
    scores: pd.DataFrame, results: dict[str, Any], evaluation: dict[str, Any]
) -> dict[str, Any]:
    """Bootstrap 95% intervals (customers resampled, ``evaluation.bootstrap``) beside ROC-AUC,
    PR-AUC and lift of every evaluated scorer (``<metric>_ci_low`` / ``_ci_high``), and of the
    differences in ``COMPARED``; returns the differences."""
    settings = evaluation.get("bootstrap") or {}
    replicates = int(settings.get("replicates", 200))
    names = [n for n, r in results.items() if r.get("status") == "ok"]
    if replicates <= 0 or not names:
        return {}
    columns = {n: ("health_risk" if n == "health_score" else n) for n in names}
    intervals = scaled_intervals(
        scores[LABEL].to_numpy(),
        {n: scores[c].to_numpy(dtype=float) for n, c in columns.items()},
        scores["customer_id"].astype(str).to_numpy(),
        max_customers=settings.get("max_customers"),
        seed=int(settings.get("seed", 0)),
        differences=COMPARED,
        replicates=replicates,
        fraction=float(evaluation["top_fraction"]),
        level=float(settings.get("level", 0.95)),
    )
    for name in names:
        for metric, (low, high) in intervals.get(name, {}).items():
            results[name][f"{metric}_ci_low"], results[name][f"{metric}_ci_high"] = low, high
    comparisons = {}
    for a, b in COMPARED:
        key = f"{a} - {b}"
        if key not in intervals["differences"]:
            continue
        comparisons[key] = {
            metric: {
                "difference": results[a][metric] - results[b][metric],
                "ci_low": low,
                "ci_high": high,
                "significant": not (low <= 0 <= high),
            }
            for metric, (low, high) in intervals["differences"][key].items()
        }
    logger.info(
        "Bootstrap intervals: %s replicates over %s customers%s",
        replicates,
        f"{scores['customer_id'].nunique():,}",
        "" if not intervals.get("subsample") else f" (subsample {intervals['subsample']})",
    )
    return {
        "method": f"Poisson bootstrap over customers, {replicates} replicates, percentile "
        f"{float(settings.get('level', 0.95)):.0%} intervals",
        "subsample": intervals.get("subsample"),
        "differences": comparisons,
    }


def evaluate_scorers(
    churn_test_scores: pd.DataFrame,
    split_info: dict[str, Any],
    training_summary: dict[str, Any],
    params: dict[str, Any],
) -> dict[str, Any]:
    """Metrics of every scorer on the test rows (see ``customer_retention.models.evaluation``)."""
    evaluation = params["evaluation"]
    y = churn_test_scores[LABEL]
    results: dict[str, Any] = {}
    for name, spec in _scorer_columns(churn_test_scores).items():
        score = churn_test_scores[name]
        if name == "health_score":
            score = churn_test_scores["health_risk"]  # ranking metrics on the raw risk
        present = score.notna() & churn_test_scores[name].notna()
        if not present.any():
            results[name] = {"status": "not available", "description": spec["description"]}
            continue
        if score[present].nunique() < 2:
            # e.g. a health score without any component data: 50 for everybody (AUC 0.5).
            logger.warning("Scorer %s is constant on the test rows: not a benchmark", name)
            results[name] = {
                "status": "not available (the same score for every customer: no data behind it)",
                "description": spec["description"],
            }
            continue
        metrics = ranking_metrics(
            y[present], score[present], top_fraction=float(evaluation["top_fraction"])
        )
        if spec["is_probability"]:
            metrics |= probability_metrics(
                y[present],
                churn_test_scores.loc[present, name],
                n_bins=int(evaluation["ece_bins"]),
                strategy=evaluation["ece_strategy"],
            )
        metrics |= {"rows": int(present.sum()), "positives": int(y[present].sum())}
        results[name] = {"status": "ok", **metrics, "description": spec["description"]}
    if "cox_risk" in results and results["cox_risk"]["status"] != "ok":
        results["cox_risk"]["status"] = "not available (survival stage output absent)"
    comparisons = _add_intervals(churn_test_scores, results, evaluation)
    for name in ("xgboost_calibrated", "logistic_baseline", "health_score", "oracle"):
        if results.get(name, {}).get("status") == "ok":
            logger.info(
                "Test %-20s ROC-AUC %.3f  PR-AUC %.3f  ECE %s  top-decile lift %.2f",
                name,
                results[name]["roc_auc"],
                results[name]["pr_auc"],
                f"{results[name]['ece']:.3f}" if "ece" in results[name] else "-",
                results[name]["top_decile_lift"],
            )
    return {
        "split": split_info["split"],
        "split_reason": split_info["reason"],
        "windows": {part: info["snapshots"] for part, info in split_info["parts"].items()},
        "rows": {part: info["rows"] for part, info in split_info["parts"].items()},
        "test_churn_rate": split_info["parts"]["test"]["churn_rate"],
        "evaluation": {
            key: evaluation[key] for key in ("top_fraction", "ece_bins", "ece_strategy")
        },
        "definitions": {
            "ece": f"expected calibration error over {evaluation['ece_bins']} "
            f"{evaluation['ece_strategy']} bins of predicted probability "
            "(quantile = equal numbers of rows): sum of bin share x |observed - predicted|",
            "top_decile_lift": f"churn rate among the top {evaluation['top_fraction']:.0%} "
            "by score / overall churn rate (ties counted in proportion)",
            "top_decile_capture_rate": f"share of all churners in the top "
            f"{evaluation['top_fraction']:.0%} by score",
            "pr_auc": "average precision",
        },
        "training": {
            key: training_summary[key]
            for key in ("trees", "rounds_run", "scale_pos_weight", "training_seconds")
        },
        "scorers": results,
        "comparisons": comparisons,
    }
