"""Step 1, the split: temporal (train on the snapshots whose labels are known by the test date,
test on the snapshot at that date) or customer-grouped random; the held-out calibration slice;
the training-row sample; the model features.

The same recipe splits three times: for the evaluation (tested at the last labelled snapshot),
for each earlier cutoff of the backtest, and for the refit (every labelled snapshot, no test).
In every case a seeded ``calibration_share`` of the customers of the latest training snapshot is
held out (all their rows): their rows at that snapshot stop the boosting and fit the
calibration (``valid``), so the calibration is fitted on labels as recent as the training ones
and on customers the model has not seen.
"""

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
from customer_retention.core.splits import backtest_cutoffs, temporal_parts

from .common import LABEL, _dates, _rows

logger = logging.getLogger(__name__)


def _fold_of_each_row(labelled: pd.DataFrame, folds: int, seed: int) -> np.ndarray:
    """The customer-grouped, label-stratified fold (0 .. folds-1) of each row."""
    y = labelled[LABEL].to_numpy()
    groups = labelled["customer_id"].astype(str).to_numpy()
    fold = np.zeros(len(labelled), dtype=int)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for number, (_, rows) in enumerate(splitter.split(np.zeros(len(y)), y, groups)):
        fold[rows] = number
    return fold


def _grouped_random_split(
    labelled: pd.DataFrame, folds: int, seed: int, test_fold: int | None = 0
) -> np.ndarray:
    """test = customer-grouped, label-stratified fold ``test_fold`` of ``folds`` (None: no test,
    the refit); valid = one fold of the rest; train = the remaining rows. Every customer's rows
    land in a single part."""
    if folds < 3:
        raise ValueError(f"split.fallback_folds must be at least 3, got {folds}")
    split = np.full(len(labelled), "train", dtype=object)
    rest = np.arange(len(labelled))
    if test_fold is not None:
        fold = _fold_of_each_row(labelled, folds, seed)
        split[fold == test_fold] = "test"
        rest = np.flatnonzero(fold != test_fold)
    inner = _fold_of_each_row(labelled.iloc[rest], folds - (test_fold is not None), seed)
    split[rest[inner == 0]] = "valid"
    return split


def _calibration_customers(rows: pd.DataFrame, share: float, seed: int) -> set[str]:
    """A seeded, label-stratified ``share`` of the customers in ``rows`` (one snapshot)."""
    if not 0 < share < 1:
        raise ValueError(f"churn_model.split.calibration_share must be in (0, 1), got {share}")
    rng = np.random.default_rng(seed)
    chosen: list[str] = []
    for _, group in rows.groupby(LABEL, sort=True):
        ids = np.sort(group["customer_id"].astype(str).unique())
        chosen += list(rng.choice(ids, size=max(1, round(share * len(ids))), replace=False))
    return set(chosen)


def _temporal_split(
    labelled: pd.DataFrame, parts: tuple[list, Any, Any | None], share: float, seed: int
) -> np.ndarray:
    """train / valid / test / unused per labelled row for (training dates, calibration date,
    test date or None)."""
    train_dates, calibration_date, test_date = parts
    date = labelled["snapshot_date"]
    held_out = (
        labelled["customer_id"]
        .astype(str)
        .isin(_calibration_customers(labelled[date == calibration_date], share, seed))
    )
    in_training = date.isin(train_dates)
    return np.select(
        [
            date == test_date if test_date is not None else np.zeros(len(date), bool),
            in_training & held_out & (date == calibration_date),
            in_training & ~held_out,
        ],
        ["test", "valid", "train"],
        "unused",
    )


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


class _Plan:
    """How the labelled snapshots are split: temporal (with its possible test dates) or grouped
    random (with its folds), and the sentence that says why."""

    def __init__(
        self, labelled: pd.DataFrame, params: dict[str, Any], horizon_days: int | None
    ) -> None:
        split_params = params["split"]
        self.dates = sorted(pd.Timestamp(d) for d in labelled["snapshot_date"].unique())
        gap = split_params.get("gap_snapshots", "auto")
        if gap == "auto" and horizon_days is None:
            raise ValueError("churn_model.split.gap_snapshots 'auto' needs horizon_days")
        self.gap = gap if gap == "auto" else int(gap)
        self.horizon_days = horizon_days
        self.share = float(split_params.get("calibration_share", 0.2))
        self.folds = int(split_params.get("fallback_folds", 5))
        self.seed = int(params["seed"])
        minimum = max(2, int(split_params.get("min_labelled_snapshots", 2)))
        possible = len(self.dates) >= minimum
        self.temporal = possible and temporal_parts(self.dates, self.gap, horizon_days) is not None
        self.gap_text = (
            f"{horizon_days}-day label horizon" if self.gap == "auto" else f"gap_snapshots={gap}"
        )
        self.fallback_reason = (
            ""
            if self.temporal
            else f"only {len(self.dates)} labelled snapshot(s); the temporal split needs at "
            f"least {minimum} and a snapshot whose label is known by the last one "
            f"({self.gap_text}). Customers were split at random instead (stratified by "
            "label, all of a customer's rows in one part), so the test rows are not later in "
            "time than the training rows"
        )

    def cutoffs(self, count: int) -> list:
        """The backtest's test dates (temporal) or fold numbers (grouped random)."""
        if self.temporal:
            return backtest_cutoffs(self.dates, self.gap, self.horizon_days, count)
        return list(range(min(int(count), self.folds)))

    def split(self, labelled: pd.DataFrame, cutoff: Any) -> tuple[np.ndarray, str]:
        """(part per labelled row, reason) of the model tested at ``cutoff`` (a date or a fold
        number; None = the refit, trained on every labelled row)."""
        if not self.temporal:
            split = _grouped_random_split(labelled, self.folds, self.seed, cutoff)
            return split, self.fallback_reason
        if cutoff is None:
            parts = (self.dates, self.dates[-1], None)
            reason = (
                f"refit on all {len(self.dates)} labelled snapshots "
                f"({self.dates[0].date()} to {self.dates[-1].date()})"
            )
        else:
            dates = [d for d in self.dates if d <= cutoff]
            parts = temporal_parts(dates, self.gap, self.horizon_days)
            train_dates = parts[0]
            reason = (
                f"{len(self.dates)} labelled snapshots: test on {pd.Timestamp(cutoff).date()}, "
                f"train on the {len(train_dates)} snapshots from {train_dates[0].date()} to "
                f"{train_dates[-1].date()} whose labels are known by then ({self.gap_text})"
            )
            if self.gap == 0:
                reason += ": label horizons of train and test overlap"
        reason += (
            f"; {self.share:.0%} of the customers of {parts[1].date()} held out for early "
            "stopping and calibration"
        )
        return _temporal_split(labelled, parts, self.share, self.seed), reason


def _describe_parts(frame: pd.DataFrame, kind: str, parts: tuple[str, ...]) -> dict[str, Any]:
    """Snapshots, rows, customers and churners of each part; every part must hold both
    churned and retained customers."""
    described = {}
    for part in parts:
        rows = _rows(frame, part)
        if rows[LABEL].nunique() < 2:
            raise ValueError(
                f"The {part} part of the churn-model split ({kind}) holds {len(rows):,} rows "
                "with a single label value: a churn model needs churned and retained customers "
                "in train, valid and test. More customers or more snapshots "
                "(feature_engineering.n_snapshots) are needed."
            )
        described[part] = {
            "snapshots": _dates(rows),
            "rows": len(rows),
            "customers": int(rows["customer_id"].nunique()),
            "positives": int(rows[LABEL].sum()),
            "churn_rate": float(rows[LABEL].mean()),
        }
    return described


def _split_at(
    customer_snapshots: pd.DataFrame,
    params: dict[str, Any],
    horizon_days: int | None,
    cutoff: Any = "last",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    positions, labelled = _labelled_rows(customer_snapshots)
    plan = _Plan(labelled, params, horizon_days)
    if cutoff == "last":
        cutoff = plan.dates[-1] if plan.temporal else 0
    split, reason = plan.split(labelled, cutoff)
    kind = "temporal" if plan.temporal else "grouped_random"
    used = split != "unused"
    positions, split = positions[used], split[used]
    keep, sampling = _training_sample(
        split, params["split"].get("max_training_rows"), int(params["seed"])
    )
    frame = customer_snapshots.iloc[positions[keep]].reset_index(drop=True)
    frame[SPLIT_COLUMN] = split[keep]
    if sampling:
        reason += f"; {sampling}"
    parts = ("train", "valid") if cutoff is None else ("train", "valid", "test")
    info = {
        "split": kind,
        "reason": reason,
        "gap_snapshots": plan.gap,
        "parts": _describe_parts(frame, kind, parts),
    }
    return frame, info


def split_snapshots(
    customer_snapshots: pd.DataFrame, params: dict[str, Any], horizon_days: int | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Labelled rows with a ``split`` column (train / valid / test) and a description: the
    evaluation split, tested at the last labelled snapshot.

    Temporal (at least ``min_labelled_snapshots`` labelled snapshots and a snapshot whose label
    is known by the last one): test = the last labelled snapshot; train = the snapshots whose
    label horizons end by then (``gap_snapshots`` auto, see ``core.splits.temporal_parts``);
    valid = the held-out ``calibration_share`` of the customers of the latest training
    snapshot (all their rows are left out of training). Otherwise: customer-grouped stratified
    random split (``fallback_folds``), reported as ``split: grouped_random`` with the reason.
    The split is decided on the key columns; the wide rows are copied once, at the end.
    """
    frame, info = _split_at(customer_snapshots, params, horizon_days)
    logger.info("Churn model split (%s): %s", info["split"], info["reason"])
    return frame, info


def backtest_splits(
    customer_snapshots: pd.DataFrame, params: dict[str, Any], horizon_days: int | None
) -> list[tuple[str, Any]]:
    """The backtest's cutoffs, oldest first, as (name, cutoff): the latest
    ``backtest.cutoffs`` dates a model can be tested at, or as many customer folds."""
    _, labelled = _labelled_rows(customer_snapshots)
    plan = _Plan(labelled, params, horizon_days)
    count = int(params.get("backtest", {}).get("cutoffs", 4))
    if plan.temporal:
        return [(str(c.date()), c) for c in plan.cutoffs(count)]
    return [(f"fold {f + 1}", f) for f in plan.cutoffs(count)]


def split_at_cutoff(
    customer_snapshots: pd.DataFrame, params: dict[str, Any], horizon_days: int | None, cutoff: Any
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The split of the model tested at a backtest ``cutoff`` (see ``backtest_splits``); None:
    the refit on every labelled row (train and valid, no test)."""
    return _split_at(customer_snapshots, params, horizon_days, cutoff)


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
