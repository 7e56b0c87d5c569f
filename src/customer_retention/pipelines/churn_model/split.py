"""Step 1, the split: temporal (train on earlier snapshots, validate on a later one, test on the
last labelled one) or customer-grouped random; the training-row sample; the model features."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from customer_retention.core.model_frame import (
    SPLIT_COLUMN,
    build_feature_spec,
)
from customer_retention.core.splits import temporal_parts

from .common import LABEL, _dates, _rows

logger = logging.getLogger(__name__)


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


def _labelled_rows(customer_snapshots: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Positions and keys of the labelled rows (the as-of snapshot excluded)."""
    is_labelled = customer_snapshots[LABEL].notna() & ~customer_snapshots[
        "is_as_of_snapshot"
    ].astype(bool)
    positions = np.flatnonzero(is_labelled.to_numpy())
    labelled = customer_snapshots[["customer_id", "snapshot_date", LABEL]].iloc[positions]
    if labelled.empty:
        raise ValueError(
            "customer_snapshots hold no labelled rows: every snapshot's horizon reaches the "
            "as-of date. The churn model needs history older than horizon_days "
            "(conf/base/globals.yml)."
        )
    return positions, labelled


def _assign_parts(
    labelled: pd.DataFrame, params: dict[str, Any], horizon_days: int | None
) -> tuple[np.ndarray, str, str, Any]:
    """(train / valid / test / unused per labelled row, kind, reason, gap) of the temporal
    split when the snapshots allow it, else of the customer-grouped random split."""
    split_params = params["split"]
    dates = sorted(pd.Timestamp(d) for d in labelled["snapshot_date"].unique())
    gap = split_params.get("gap_snapshots", "auto")
    if gap == "auto" and horizon_days is None:
        raise ValueError("churn_model.split.gap_snapshots 'auto' needs horizon_days")
    gap = gap if gap == "auto" else int(gap)
    minimum = max(3, int(split_params.get("min_labelled_snapshots", 3)))
    temporal = temporal_parts(dates, gap, horizon_days) if len(dates) >= minimum else None
    gap_text = f"{horizon_days}-day label horizon" if gap == "auto" else f"gap_snapshots={gap}"
    if temporal is None:
        split = _grouped_random_split(
            labelled, int(split_params.get("fallback_folds", 5)), int(params["seed"])
        )
        reason = (
            f"only {len(dates)} labelled snapshot(s); the temporal split needs at least "
            f"{minimum} and room for train, valid and test apart ({gap_text}). Customers were "
            "split at random instead (stratified by label, all of a customer's rows in one "
            "part), so the test rows are not later in time than the training rows"
        )
        logger.warning("Churn model split: %s", reason)
        return split, "grouped_random", reason, gap
    train_dates, valid_date, test_date = temporal
    date = labelled["snapshot_date"]
    split = np.select(
        [date == test_date, date == valid_date, date.isin(train_dates)],
        ["test", "valid", "train"],
        "unused",
    )
    reason = (
        f"{len(dates)} labelled snapshots: train on the {len(train_dates)} earliest, "
        f"validate on {valid_date.date()}, test on the last labelled snapshot "
        f"{test_date.date()}; {len(dates) - len(train_dates) - 2} left out between them "
        f"({gap_text})"
    )
    if gap == 0:
        reason += ": label horizons of train, valid and test overlap"
    return split, "temporal", reason, gap


def _describe_parts(frame: pd.DataFrame, kind: str) -> dict[str, dict[str, Any]]:
    """Snapshots, rows, customers and churners of each part; every part must hold both
    churned and retained customers."""
    parts = {}
    for part in ("train", "valid", "test"):
        rows = _rows(frame, part)
        if rows[LABEL].nunique() < 2:
            raise ValueError(
                f"The {part} part of the churn-model split ({kind}) holds {len(rows):,} rows "
                "with a single label value: a churn model needs churned and retained customers "
                "in train, valid and test. More customers or more snapshots "
                "(feature_engineering.n_snapshots) are needed."
            )
        parts[part] = {
            "snapshots": _dates(rows),
            "rows": len(rows),
            "customers": int(rows["customer_id"].nunique()),
            "positives": int(rows[LABEL].sum()),
            "churn_rate": float(rows[LABEL].mean()),
        }
    return parts


def split_snapshots(
    customer_snapshots: pd.DataFrame, params: dict[str, Any], horizon_days: int | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Labelled rows with a ``split`` column (train / valid / test) and a description.

    Temporal (at least ``min_labelled_snapshots`` labelled snapshots and room for the gaps):
    test = the last labelled snapshot, valid = an earlier one, train = the snapshots before
    valid; ``gap_snapshots`` (``auto`` by default: from ``horizon_days``, see
    ``core.splits.temporal_parts``) leaves out the snapshots whose label horizons overlap the next part.
    Otherwise: customer-grouped stratified random split (``fallback_folds``), reported as
    ``split: grouped_random`` with the reason. The split is decided on the key columns; the
    wide rows are copied once, at the end.
    """
    positions, labelled = _labelled_rows(customer_snapshots)
    split, kind, reason, gap = _assign_parts(labelled, params, horizon_days)
    used = split != "unused"
    positions, split = positions[used], split[used]
    keep, sampling = _training_sample(
        split, params["split"].get("max_training_rows"), int(params["seed"])
    )
    frame = customer_snapshots.iloc[positions[keep]].reset_index(drop=True)
    frame[SPLIT_COLUMN] = split[keep]
    if sampling:
        reason += f"; {sampling}"
    parts = _describe_parts(frame, kind)
    logger.info("Churn model split (%s): %s", kind, reason)
    return frame, {"split": kind, "reason": reason, "gap_snapshots": gap, "parts": parts}


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
