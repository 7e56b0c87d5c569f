"""The model's view of ``customer_snapshots``: which columns are features, with which dtypes.

The feature list is derived from the columns present (a feature group whose source table is
absent is simply not there): every column except the non-model-input columns documented in
``FEATURES`` and the ones excluded in parameters. Numeric and boolean columns become floats;
categorical (category / string / object) columns become pandas categoricals whose levels are the
ones **seen in the training rows**, stored in the feature spec and re-applied, in the same order,
wherever the model is used (validation, test, scoring), so that XGBoost's category codes align.

A categorical level not seen in training (a new plan, a new region) becomes missing (NaN): the
model sends it down each split's default branch for missing values, exactly as it treats a
customer without that attribute. The count of such values is logged per column.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from customer_retention.core.features import FEATURES

logger = logging.getLogger(__name__)

NON_MODEL_COLUMNS = frozenset(name for name, f in FEATURES.items() if not f.is_model_input)
"""Id, label and bookkeeping columns of the snapshots: never model inputs."""

SPLIT_COLUMN = "split"


def _is_categorical(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)
    )


def _observed_levels(series: pd.Series) -> list[str]:
    """Levels present in ``series``, in the categorical's own order (else sorted)."""
    present = set(series.dropna().astype(str).unique())
    if isinstance(series.dtype, pd.CategoricalDtype):
        ordered = [str(level) for level in series.cat.categories]
        return [level for level in ordered if level in present]
    return sorted(present)


def build_feature_spec(
    training_rows: pd.DataFrame, exclude: list[str] | tuple[str, ...] = ()
) -> dict[str, Any]:
    """Features, their model dtypes and the categorical levels seen in ``training_rows``.

    Columns that are entirely missing in the training rows are left out (with a log line):
    the model could learn nothing from them.
    """
    excluded = set(exclude)
    unknown = sorted(excluded - set(training_rows.columns))
    if unknown:
        logger.info("exclude_features not in the snapshots (ignored): %s", ", ".join(unknown))
    candidates = [
        c
        for c in training_rows.columns
        if c not in NON_MODEL_COLUMNS and c != SPLIT_COLUMN and c not in excluded
    ]
    features, dtypes, categorical, empty = [], {}, {}, []
    for column in candidates:
        series = training_rows[column]
        if series.isna().all():
            empty.append(column)
            continue
        features.append(column)
        if _is_categorical(series):
            dtypes[column] = "category"
            categorical[column] = _observed_levels(series)
        else:
            dtypes[column] = "float"
    if empty:
        logger.info("Features missing in every training row, left out: %s", ", ".join(empty))
    if not features:
        raise ValueError("No model features in customer_snapshots: every column is excluded")
    return {
        "features": features,
        "dtypes": dtypes,
        "categorical_levels": categorical,
        "source_dtypes": {c: str(training_rows[c].dtype) for c in features},
    }


def check_feature_columns(frame: pd.DataFrame, spec: dict[str, Any]) -> None:
    """Raise if a feature the model was trained on is missing; log the columns it ignores."""
    missing = [c for c in spec["features"] if c not in frame.columns]
    if missing:
        raise ValueError(
            f"The data lack {len(missing)} feature column(s) the churn model was trained on: "
            f"{', '.join(missing)}. Rebuild the features (kedro run --pipeline "
            "feature_engineering) with the same source tables as at training, or retrain "
            "(kedro run --pipeline churn_model)."
        )
    extra = [
        c
        for c in frame.columns
        if c not in spec["features"] and c not in NON_MODEL_COLUMNS and c != SPLIT_COLUMN
    ]
    if extra:
        logger.info(
            "Columns not used by the churn model (ignored): %s", ", ".join(sorted(map(str, extra)))
        )


def _category_codes(
    series: pd.Series, column: str, levels: list[str], log_unseen: bool
) -> np.ndarray:
    """Codes of ``series`` in the training ``levels`` (-1 = missing or unseen in training)."""
    if isinstance(series.dtype, pd.CategoricalDtype) and all(
        isinstance(level, str) for level in series.cat.categories
    ):
        codes = series.cat.set_categories(levels).cat.codes.to_numpy()
    else:
        codes = pd.Categorical(series.astype("string"), categories=levels).codes
    unseen = int(series.notna().sum() - (codes >= 0).sum())
    if unseen and log_unseen:
        new_levels = sorted(set(series.dropna().astype(str)) - set(levels))
        logger.warning(
            "%s: %s value(s) with level(s) unseen in training %s, treated as missing",
            column,
            f"{unseen:,}",
            new_levels[:10],
        )
    return codes


def _numeric_values(series: pd.Series, column: str) -> np.ndarray:
    """Float values; nullable integer / boolean columns: missing becomes NaN."""
    try:
        values = pd.to_numeric(series) if series.dtype == object else series
        return values.to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"Feature {column!r} was numeric at training but holds non-numeric values "
            f"({series.dtype}): {error}"
        ) from error


def feature_array(
    frame: pd.DataFrame, spec: dict[str, Any], *, log_unseen: bool = True
) -> np.ndarray:
    """The features as one float32 array (rows x features, training order); a categorical
    column holds its training-level code, NaN when missing or unseen in training.

    float32 is what XGBoost stores internally, so predictions equal those from a DataFrame.
    Raises ``ValueError`` naming the missing columns when a feature is absent.
    """
    check_feature_columns(frame, spec)
    array = np.empty((len(frame), len(spec["features"])), dtype=np.float32)
    for position, column in enumerate(spec["features"]):
        series = frame[column]
        if spec["dtypes"][column] == "category":
            codes = _category_codes(series, column, spec["categorical_levels"][column], log_unseen)
            array[:, position] = np.where(codes >= 0, codes, np.nan)
        else:
            array[:, position] = _numeric_values(series, column)
    return array


def model_matrix(
    frame: pd.DataFrame, spec: dict[str, Any], *, log_unseen: bool = True
) -> pd.DataFrame:
    """The feature columns in training order and dtypes (categoricals with the training levels).

    Raises ``ValueError`` naming the missing columns when a feature is absent.
    """
    check_feature_columns(frame, spec)
    columns = {}
    for column in spec["features"]:
        series = frame[column]
        if spec["dtypes"][column] == "category":
            levels = spec["categorical_levels"][column]
            codes = _category_codes(series, column, levels, log_unseen)
            columns[column] = pd.Categorical.from_codes(codes, categories=levels)
        else:
            columns[column] = _numeric_values(series, column)
    return pd.DataFrame(columns, index=frame.index)


def dmatrix(
    frame: pd.DataFrame | np.ndarray, spec: dict[str, Any], label: pd.Series | None = None
) -> xgb.DMatrix:
    """An XGBoost DMatrix of the features (a frame, or its ``feature_array``), categoricals as
    codes in the training levels (XGBoost's native categorical support, ``feature_types`` "c")."""
    array = frame if isinstance(frame, np.ndarray) else feature_array(frame, spec)
    return xgb.DMatrix(
        array,
        label=None if label is None else np.asarray(label, dtype=float),
        feature_names=list(spec["features"]),
        feature_types=["c" if spec["dtypes"][c] == "category" else "q" for c in spec["features"]],
        enable_categorical=True,
        missing=np.nan,
    )


def booster_from_json(model: str | bytes | bytearray | xgb.Booster) -> xgb.Booster:
    """A booster from XGBoost's JSON model format (or the booster itself)."""
    if isinstance(model, xgb.Booster):
        return model
    raw = model.encode("utf-8") if isinstance(model, str) else bytes(model)
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    return booster


def booster_to_json(booster: xgb.Booster) -> str:
    return bytes(booster.save_raw(raw_format="json")).decode("utf-8")
