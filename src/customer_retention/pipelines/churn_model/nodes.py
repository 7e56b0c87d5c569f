"""Gradient-boosted churn model: split by time, train, calibrate, evaluate honestly, promote.

1. ``split_snapshots``: labelled snapshot rows -> train (earlier snapshots), valid (the next),
   test (the last labelled snapshot). Never random across snapshots; with fewer labelled
   snapshots than that needs, a customer-grouped stratified random split (said so in metrics).
2. ``train_churn_model``: XGBoost (``tree_method="hist"``, native categoricals), class imbalance
   weighted by ``scale_pos_weight``, early stopping on the validation snapshot by a ranking
   metric (AUC is unaffected by the weighting, log loss is not).
3. ``calibrate_churn_model``: ``scale_pos_weight`` inflates the raw probabilities (their
   log-odds shift by about log(scale_pos_weight)); a Platt or isotonic map fitted on the
   validation snapshot turns them back into probabilities.
4. ``score_benchmarks`` / ``evaluate_scorers``: every scorer on the same test rows -- XGBoost
   raw and calibrated, a logistic-regression baseline, the health score, the demo data's oracle
   and (later) the survival stage's Cox risk.
5. ``describe_churn_model`` / ``promote_churn_model``: metadata for the versioned artifacts and
   the champion/challenger decision.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from matplotlib.figure import Figure
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import customer_retention
from customer_retention.core.calibration import apply_calibrator, fit_calibrator
from customer_retention.core.model_frame import (
    SPLIT_COLUMN,
    booster_from_json,
    booster_to_json,
    build_feature_spec,
    dmatrix,
    model_matrix,
)
from customer_retention.models.evaluation import (
    classification_metrics,
    cumulative_gains,
    probability_metrics,
    ranking_curves,
    ranking_metrics,
    reliability_table,
    thin_curve,
)
from customer_retention.models.simulation import true_churn_probability
from customer_retention.provenance import git_commit

logger = logging.getLogger(__name__)

LABEL = "churned_within_horizon"
KEYS = ["customer_id", "snapshot_date"]

SCORERS: dict[str, dict[str, Any]] = {
    "xgboost_calibrated": {
        "is_probability": True,
        "description": "XGBoost, probabilities calibrated on the validation snapshot",
    },
    "xgboost_raw": {
        "is_probability": True,
        "description": "XGBoost before calibration (distorted by scale_pos_weight)",
    },
    "logistic_baseline": {
        "is_probability": True,
        "description": "Logistic regression on one-hot categoricals and standardised numerics "
        "(median imputation plus missing indicators), fitted on the training snapshots",
    },
    "health_score": {
        "is_probability": True,
        "description": "Risk = 100 - health_score; ranking metrics are those of the score "
        "itself, probability metrics use a Platt (logistic) fit of the risk on the "
        "validation snapshot",
    },
    "oracle": {
        "is_probability": True,
        "description": "Demo data only: the true churn probability under the simulated "
        "Weibull hazard model (knows each customer's latent traits, not their future)",
    },
    # --- cox_risk: filled in by the survival stage (optional input `cox_risk_scores`) ---
    "cox_risk": {
        "is_probability": True,
        "description": "Survival stage: P(churn within the horizon) from the Cox model "
        "(column churn_probability), or ranking metrics only from its relative risk "
        "(column risk)",
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


def jsonable(value: Any) -> Any:
    """Plain-JSON version of nested results: numpy scalars to Python, NaN to None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _rows(frame: pd.DataFrame, part: str) -> pd.DataFrame:
    return frame[frame[SPLIT_COLUMN] == part]


def _dates(frame: pd.DataFrame) -> list[str]:
    return [str(pd.Timestamp(d).date()) for d in sorted(frame["snapshot_date"].unique())]


# ----------------------------------------------------------------------------------------------
# 1. Split
# ----------------------------------------------------------------------------------------------


def _grouped_random_split(labelled: pd.DataFrame, folds: int, seed: int) -> np.ndarray:
    """test = one of ``folds`` customer-grouped, label-stratified folds; valid = one fold of
    the rest; train = the remaining rows. Every customer's rows land in a single part."""
    if folds < 3:
        raise ValueError(f"split.fallback_folds must be at least 3, got {folds}")
    y = labelled[LABEL].to_numpy()
    groups = labelled["customer_id"].astype(str).to_numpy()
    split = np.full(len(labelled), "train", dtype=object)
    outer = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    rest, test = next(outer.split(np.zeros(len(y)), y, groups))
    split[test] = "test"
    inner = StratifiedGroupKFold(n_splits=folds - 1, shuffle=True, random_state=seed)
    _, valid = next(inner.split(np.zeros(len(rest)), y[rest], groups[rest]))
    split[rest[valid]] = "valid"
    return split


def _training_sample(split: np.ndarray, max_rows: int | None, seed: int) -> tuple[np.ndarray, str]:
    """Which rows to keep: at most ``max_rows`` training rows, drawn at random (valid and test
    untouched), as a boolean mask over ``split``, and a sentence saying so.

    Standard practice for gradient boosting on large tables: beyond a few hundred thousand rows
    the held-out metrics barely move while training time grows linearly. ``None``: keep all.
    """
    keep = np.ones(len(split), dtype=bool)
    train_index = np.flatnonzero(split == "train")
    available = len(train_index)
    if max_rows is None or available <= int(max_rows):
        return keep, ""
    chosen = np.random.default_rng(seed).choice(train_index, size=int(max_rows), replace=False)
    keep[np.setdiff1d(train_index, chosen)] = False
    message = (
        f"trained on a random sample of {int(max_rows):,} of the {available:,} training rows "
        "(split.max_training_rows)"
    )
    logger.info("Churn model: %s", message)
    return keep, message


def _temporal_parts(
    dates: list, gap: int | str, horizon_days: int | None
) -> tuple[list, Any, Any] | None:
    """(train dates, valid date, test date) of a temporal split, or None when too few dates.

    ``gap = "auto"``: a snapshot's label is known ``horizon_days`` after it, so valid is the
    latest snapshot whose horizon ends by the test date, and train every snapshot whose
    horizon ends by the valid date. No label used in training or calibration lies after the
    date it is evaluated at, as in production, where a model trained today has only seen
    labels of snapshots at least one horizon old. An integer leaves that many snapshots out
    between the parts instead (0 = adjacent snapshots, overlapping horizons).
    """
    test_date = dates[-1]
    if gap == "auto":
        horizon = pd.Timedelta(days=int(horizon_days))
        valid_dates = [d for d in dates if d + horizon <= test_date]
        if not valid_dates:
            return None
        valid_date = valid_dates[-1]
        train_dates = [d for d in dates if d + horizon <= valid_date]
    else:
        if len(dates) < 3 + 2 * gap:
            return None
        valid_date = dates[-2 - gap]
        train_dates = list(dates[: len(dates) - 2 - 2 * gap])
    return (train_dates, valid_date, test_date) if train_dates else None


def split_snapshots(
    customer_snapshots: pd.DataFrame, params: dict[str, Any], horizon_days: int | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Labelled rows with a ``split`` column (train / valid / test) and a description.

    Temporal (at least ``min_labelled_snapshots`` labelled snapshots and room for the gaps):
    test = the last labelled snapshot, valid = an earlier one, train = the snapshots before
    valid; ``gap_snapshots`` (``auto`` by default: from ``horizon_days``, see
    ``_temporal_parts``) leaves out the snapshots whose label horizons overlap the next part.
    Otherwise: customer-grouped stratified random split (``fallback_folds``), reported as
    ``split: grouped_random`` with the reason.
    """
    split_params = params["split"]
    # Decide on the key columns only; the wide rows are copied once, at the end.
    is_labelled = customer_snapshots[LABEL].notna() & ~customer_snapshots[
        "is_as_of_snapshot"
    ].astype(bool)
    positions = np.flatnonzero(is_labelled.to_numpy())
    labelled = customer_snapshots[["customer_id", "snapshot_date", LABEL]].iloc[positions]
    if labelled.empty:
        raise ValueError(
            "customer_snapshots hold no labelled rows: every snapshot's horizon reaches the "
            "as-of date. The churn model needs history older than horizon_days "
            "(parameters_feature_engineering.yml)."
        )
    dates = sorted(pd.Timestamp(d) for d in labelled["snapshot_date"].unique())
    gap = split_params.get("gap_snapshots", "auto")
    if gap == "auto" and horizon_days is None:
        raise ValueError("churn_model.split.gap_snapshots 'auto' needs horizon_days")
    gap = gap if gap == "auto" else int(gap)
    minimum = max(3, int(split_params.get("min_labelled_snapshots", 3)))
    temporal = _temporal_parts(dates, gap, horizon_days) if len(dates) >= minimum else None
    gap_text = f"{horizon_days}-day label horizon" if gap == "auto" else f"gap_snapshots={gap}"
    if temporal is not None:
        train_dates, valid_date, test_date = temporal
        date = labelled["snapshot_date"]
        split = np.select(
            [date == test_date, date == valid_date, date.isin(train_dates)],
            ["test", "valid", "train"],
            "unused",
        )
        kind = "temporal"
        reason = (
            f"{len(dates)} labelled snapshots: train on the {len(train_dates)} earliest, "
            f"validate on {valid_date.date()}, test on the last labelled snapshot "
            f"{test_date.date()}; {len(dates) - len(train_dates) - 2} left out between them "
            f"({gap_text})"
        )
        if gap == 0:
            reason += ": label horizons of train, valid and test overlap"
    else:
        split = _grouped_random_split(
            labelled, int(split_params.get("fallback_folds", 5)), int(params["seed"])
        )
        kind = "grouped_random"
        reason = (
            f"only {len(dates)} labelled snapshot(s); the temporal split needs at least "
            f"{minimum} and room for train, valid and test apart ({gap_text}). Customers were "
            "split at random instead (stratified by label, all of a customer's rows in one "
            "part), so the test rows are not later in time than the training rows"
        )
        logger.warning("Churn model split: %s", reason)
    used = split != "unused"
    positions, split = positions[used], split[used]
    keep, sampling = _training_sample(
        split, split_params.get("max_training_rows"), int(params["seed"])
    )
    frame = customer_snapshots.iloc[positions[keep]].reset_index(drop=True)
    frame[SPLIT_COLUMN] = split[keep]
    if sampling:
        reason += f"; {sampling}"
    for part, need in (("train", 2), ("valid", 2), ("test", 2)):
        classes = _rows(frame, part)[LABEL].nunique()
        if classes < need:
            raise ValueError(
                f"The {part} part of the churn-model split ({kind}) holds "
                f"{len(_rows(frame, part)):,} rows with a single label value: a churn model "
                "needs churned and retained customers in train, valid and test. More customers "
                "or more snapshots (feature_engineering.n_snapshots) are needed."
            )
    parts = {}
    for part in ("train", "valid", "test"):
        rows = _rows(frame, part)
        parts[part] = {
            "snapshots": _dates(rows),
            "rows": len(rows),
            "customers": int(rows["customer_id"].nunique()),
            "positives": int(rows[LABEL].sum()),
            "churn_rate": float(rows[LABEL].mean()),
        }
    info = {"split": kind, "reason": reason, "gap_snapshots": gap, "parts": parts}
    logger.info("Churn model split (%s): %s", kind, reason)
    return frame, info


def define_model_features(churn_model_input: pd.DataFrame, params: dict[str, Any]) -> dict:
    """Feature list, dtypes and categorical levels, from the training rows."""
    spec = build_feature_spec(
        _rows(churn_model_input, "train"), params.get("exclude_features") or []
    )
    logger.info(
        "Churn model features: %s (%s categorical)",
        len(spec["features"]),
        len(spec["categorical_levels"]),
    )
    return spec


# ----------------------------------------------------------------------------------------------
# 2-3. Train and calibrate
# ----------------------------------------------------------------------------------------------


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


def predict_raw(booster: Any, frame: pd.DataFrame, spec: dict[str, Any]) -> np.ndarray:
    return booster_from_json(booster).predict(dmatrix(frame, spec))


def calibrate_churn_model(
    churn_model_booster: str,
    churn_model_input: pd.DataFrame,
    feature_spec: dict[str, Any],
    params: dict[str, Any],
) -> dict[str, Any]:
    """Calibration map fitted on the validation rows' raw probabilities (JSON-ready)."""
    valid = _rows(churn_model_input, "valid")
    raw = predict_raw(churn_model_booster, valid, feature_spec)
    calibrator = fit_calibrator(raw, valid[LABEL], params["calibration"]["method"])
    calibrator |= {
        "fitted_on": "valid",
        "rows": len(valid),
        "positives": int(valid[LABEL].sum()),
        "snapshots": _dates(valid),
    }
    return calibrator


def predict_test_snapshot(
    churn_model_booster: str,
    churn_model_calibrator: dict[str, Any],
    churn_model_input: pd.DataFrame,
    feature_spec: dict[str, Any],
) -> pd.DataFrame:
    """The test rows with XGBoost's raw and calibrated probabilities."""
    test = _rows(churn_model_input, "test")
    raw = predict_raw(churn_model_booster, test, feature_spec)
    scores = test[[*KEYS, LABEL]].reset_index(drop=True)
    scores["xgboost_raw"] = raw
    scores["xgboost_calibrated"] = apply_calibrator(churn_model_calibrator, raw)
    return scores


# ----------------------------------------------------------------------------------------------
# 4. Benchmarks and evaluation
# ----------------------------------------------------------------------------------------------


def _baseline_frame(frame: pd.DataFrame, spec: dict[str, Any]) -> pd.DataFrame:
    matrix = model_matrix(frame, spec, log_unseen=False)
    for column in spec["categorical_levels"]:
        matrix[column] = matrix[column].astype(object).where(matrix[column].notna(), "missing")
    return matrix


def _median(values: np.ndarray) -> float:
    """Median of a column's non-missing values (NaN for none: SimpleImputer drops the column).

    The same statistic as ``SimpleImputer(strategy="median")``, which takes it with numpy's
    masked-array median: 1.8 s against 0.3 s on 200k training rows."""
    return float(np.median(values)) if len(values) else np.nan


def fit_logistic_baseline(train: pd.DataFrame, spec: dict[str, Any], params: dict[str, Any]) -> Any:
    """One-hot categoricals, median-imputed (with missing indicators) standardised numerics,
    L2 logistic regression; unseen levels are ignored at prediction."""
    categorical = list(spec["categorical_levels"])
    numeric = [c for c in spec["features"] if c not in spec["categorical_levels"]]
    features = ColumnTransformer(
        [
            (
                "numeric",
                make_pipeline(
                    SimpleImputer(strategy=_median, add_indicator=True), StandardScaler()
                ),
                numeric,
            ),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )
    model = make_pipeline(
        features,
        LogisticRegression(C=float(params["C"]), max_iter=int(params["max_iter"])),
    )
    return model.fit(_baseline_frame(train, spec), train[LABEL].to_numpy())


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
    horizon_days: int,
    params: dict[str, Any],
) -> pd.DataFrame:
    """Every scorer on the test rows: XGBoost plus baseline, health score, oracle, Cox risk.

    Columns: customer_id, snapshot_date, label, one column per scorer (NaN where a scorer has
    no value), and ``health_risk`` (100 - health score, before the Platt map).
    """
    train, valid, test = (_rows(churn_model_input, p) for p in ("train", "valid", "test"))
    test = test.reset_index(drop=True)
    scores = test_predictions.copy()
    if not _keyed(scores[KEYS]).equals(_keyed(test[KEYS])):  # dates as text: 1.2 s at L
        raise ValueError("test_predictions and the test rows of churn_model_input differ")

    baseline = fit_logistic_baseline(train, feature_spec, params["baseline"])
    scores["logistic_baseline"] = baseline.predict_proba(_baseline_frame(test, feature_spec))[:, 1]

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
    }


# ----------------------------------------------------------------------------------------------
# Charts
# ----------------------------------------------------------------------------------------------

CHART_SCORERS = ("xgboost_calibrated", "logistic_baseline", "health_score", "oracle", "cox_risk")


def _chart_scores(scores: pd.DataFrame) -> dict[str, pd.Series]:
    """Scorer -> ranking score (health: the raw risk) restricted to rows it scores."""
    out = {}
    for name in (*CHART_SCORERS, "cox_risk_rank_only"):
        if name in scores and scores[name].notna().any():
            out[name] = scores["health_risk"] if name == "health_score" else scores[name]
    return out


def plot_evaluation(
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


# ----------------------------------------------------------------------------------------------
# 5. Metadata and promotion
# ----------------------------------------------------------------------------------------------


def _fingerprint(churn_model_input: pd.DataFrame, spec: dict[str, Any]) -> dict[str, Any]:
    train = _rows(churn_model_input, "train")
    hashed = pd.util.hash_pandas_object(train[[*KEYS, LABEL, *spec["features"]]], index=False)
    return {
        "rows": {
            p: int((churn_model_input[SPLIT_COLUMN] == p).sum()) for p in ("train", "valid", "test")
        },
        "label_rate": {
            p: float(_rows(churn_model_input, p)[LABEL].mean()) for p in ("train", "valid", "test")
        },
        "training_frame_sha256": hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest(),
    }


def describe_churn_model(
    churn_model_booster: str,
    churn_model_calibrator: dict[str, Any],
    feature_spec: dict[str, Any],
    split_info: dict[str, Any],
    training_summary: dict[str, Any],
    metrics: dict[str, Any],
    churn_model_input: pd.DataFrame,
    params: dict[str, Any],
) -> dict[str, Any]:
    """Metadata stored beside the booster: what it needs, what it saw, how good it is."""
    digest = hashlib.sha256(churn_model_booster.encode("utf-8")).hexdigest()
    created = datetime.now(UTC)
    return {
        "model_id": f"{created:%Y%m%dT%H%M%S}Z-{digest[:10]}",
        "created_at": created.isoformat(timespec="seconds"),
        "booster_sha256": digest,
        "label": LABEL,
        "feature_spec": feature_spec,
        "training_window": {
            "split": split_info["split"],
            "reason": split_info["reason"],
            **{part: info["snapshots"] for part, info in split_info["parts"].items()},
        },
        "parameters": params,
        "training": training_summary,
        "calibration": {k: v for k, v in churn_model_calibrator.items() if k not in ("x", "y")},
        "metrics": {
            name: {k: v for k, v in result.items() if k != "description"}
            for name, result in metrics["scorers"].items()
            if name in ("xgboost_calibrated", "xgboost_raw", "logistic_baseline")
        },
        "data_fingerprint": _fingerprint(churn_model_input, feature_spec),
        "code_version": {
            "package": customer_retention.__version__,
            "git_commit": git_commit(),
        },
    }


def _champion_score(
    champion: dict[str, Any], test: pd.DataFrame, metric: str, params: dict[str, Any]
) -> float:
    spec = champion["metadata"]["feature_spec"]
    raw = champion["booster"].predict(dmatrix(test, spec))
    probability = apply_calibrator(champion["calibrator"], raw)
    evaluation = params["evaluation"]
    return float(
        classification_metrics(
            test[LABEL],
            probability,
            top_fraction=float(evaluation["top_fraction"]),
            n_bins=int(evaluation["ece_bins"]),
            strategy=evaluation["ece_strategy"],
        )[metric]
    )


def promote_churn_model(
    churn_model_booster: str,
    churn_model_calibrator: dict[str, Any],
    churn_model_metadata_draft: dict[str, Any],
    metrics: dict[str, Any],
    champion: dict[str, Any] | None,
    churn_model_input: pd.DataFrame,
    params: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Champion/challenger: promote the new model unless it is worse than the promoted one.

    Both are scored on the challenger's test rows with their own calibration; the challenger
    wins unless its ``promotion.metric`` is worse than the champion's by more than
    ``promotion.tolerance``. A champion that cannot score the current features (a source table
    disappeared) loses. Returns the model to promote (the champion itself when it stays, which
    the promoted store does not rewrite), the metadata and the metrics with the decision.
    """
    promotion = params["promotion"]
    metric, tolerance = promotion["metric"], float(promotion["tolerance"])
    if metric not in PROMOTION_DIRECTIONS:
        raise ValueError(
            f"promotion.metric must be one of {', '.join(PROMOTION_DIRECTIONS)}, got {metric!r}"
        )
    higher_is_better = PROMOTION_DIRECTIONS[metric]
    challenger_id = churn_model_metadata_draft["model_id"]
    challenger_score = float(metrics["scorers"]["xgboost_calibrated"][metric])
    test = _rows(churn_model_input, "test")
    decision: dict[str, Any] = {
        "metric": metric,
        "higher_is_better": higher_is_better,
        "tolerance": tolerance,
        "test_window": _dates(test),
        "challenger_model_id": challenger_id,
        "challenger_score": challenger_score,
        "champion_model_id": None,
        "champion_score": None,
    }
    if champion is None:
        promote, reason = True, "no promoted model yet"
    else:
        champion_meta = champion["metadata"]
        decision["champion_model_id"] = champion_meta["model_id"]
        seen = set(champion_meta["training_window"].get("train", [])) | set(
            champion_meta["training_window"].get("valid", [])
        )
        decision["champion_trained_on_test_window"] = bool(seen & set(decision["test_window"]))
        try:
            champion_score = _champion_score(champion, test, metric, params)
        except (ValueError, xgb.core.XGBoostError) as error:
            promote, reason = True, f"the champion cannot score the current data ({error})"
        else:
            same_model = champion_meta.get("booster_sha256") == churn_model_metadata_draft.get(
                "booster_sha256"
            ) and jsonable(champion["calibrator"]) == jsonable(churn_model_calibrator)
            decision["champion_score"] = champion_score
            margin = challenger_score - champion_score
            if not higher_is_better:
                margin = -margin
            promote = margin >= -tolerance and not same_model
            reason = (
                "identical to the promoted model (same booster and calibration): kept"
                if same_model
                else f"challenger {metric} {challenger_score:.4f} vs champion "
                f"{champion_score:.4f} on the same test window: "
                f"{'within' if promote else 'worse than'} the tolerance {tolerance}"
            )
    decision["decision"] = "promoted" if promote else "kept_champion"
    decision["reason"] = reason
    decision["promoted_model_id"] = challenger_id if promote else decision["champion_model_id"]
    (logger.info if promote else logger.warning)(
        "Champion/challenger: %s (%s)", decision["decision"], reason
    )
    metadata = jsonable(churn_model_metadata_draft | {"promotion": decision})
    if promote:
        promoted = {
            "booster": churn_model_booster,
            "calibrator": churn_model_calibrator,
            "metadata": metadata,
        }
    else:
        promoted = champion
    final_metrics = {"model_id": challenger_id, **metrics, "promotion": decision}
    return promoted, jsonable(metadata), jsonable(final_metrics)
