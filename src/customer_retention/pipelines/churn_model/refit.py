"""Step 6: the model that gets deployed -- the candidate the backtest chose, refitted on every
labelled snapshot up to the latest, calibrated on a held-out slice of the latest labels."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import pandas as pd

from customer_retention.core.model_frame import SPLIT_COLUMN
from customer_retention.models.churn_classifier import model_to_json

from .common import KEYS, LABEL, _rows
from .split import define_model_features, split_at_cutoff
from .train import fit_candidate

logger = logging.getLogger(__name__)


def _check_no_label_after_as_of(
    customer_snapshots: pd.DataFrame, train_dates: list[str], horizon_days: int | None
) -> dict[str, str]:
    """The training window against the as-of date: every label used is known by then.

    ``horizon_days`` None: the labels are not horizon labels (one snapshot of a customer
    table, labelled by its churn flag), nothing to check."""
    as_of = pd.Timestamp(
        customer_snapshots.loc[
            customer_snapshots["is_as_of_snapshot"].astype(bool), "snapshot_date"
        ].max()
    )
    last = pd.Timestamp(max(train_dates))
    window = {"as_of_date": str(as_of.date()), "latest_training_snapshot": str(last.date())}
    if horizon_days is None:
        return window
    known_by = last + pd.Timedelta(days=int(horizon_days))
    if known_by > as_of:
        raise ValueError(
            f"The churn-model refit would train on labels of {last.date()}, known only on "
            f"{known_by.date()}, after the as-of date {as_of.date()}: the snapshot table's "
            "labels are inconsistent with horizon_days. Rebuild the features."
        )
    return window | {"labels_known_by": str(known_by.date())}


def _fingerprint(frame: pd.DataFrame, spec: dict[str, Any]) -> dict[str, Any]:
    """Rows and label rate per part, and a sha256 of the training rows' keys, label and features."""
    train = _rows(frame, "train")
    hashed = pd.util.hash_pandas_object(train[[*KEYS, LABEL, *spec["features"]]], index=False)
    parts = sorted(set(frame[SPLIT_COLUMN]))
    return {
        "rows": {p: int((frame[SPLIT_COLUMN] == p).sum()) for p in parts},
        "label_rate": {p: float(_rows(frame, p)[LABEL].mean()) for p in parts},
        "training_frame_sha256": hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest(),
    }


def refit_churn_model(
    customer_snapshots: pd.DataFrame,
    churn_backtest: dict[str, Any],
    params: dict[str, Any],
    horizon_days: int | None,
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(model file text, calibrator, refit description) of the chosen candidate trained on
    every labelled snapshot but a held-out ``split.calibration_share`` of the customers of the
    latest one, on whose rows it is early-stopped (XGBoost) and calibrated.

    The description holds the model kind, its feature spec, the training window and the
    training summary; ``describe_churn_model`` turns it into the model's metadata.
    """
    kind = churn_backtest["selection"]["chosen"]
    frame, info = split_at_cutoff(customer_snapshots, params, horizon_days, None)
    spec = define_model_features(frame, params)
    model, calibrator, summary = fit_candidate(kind, frame, spec, params)
    window = _check_no_label_after_as_of(
        customer_snapshots,
        info["parts"]["train"]["snapshots"],
        horizon_days if info["split"] == "temporal" else None,
    )
    calibrator |= {"fitted_on": "held-out customers of the latest labelled snapshot"}
    logger.info(
        "Churn model refit (%s): %s training rows, snapshots %s to %s, calibrated on %s rows",
        kind,
        f"{len(_rows(frame, 'train')):,}",
        info["parts"]["train"]["snapshots"][0],
        info["parts"]["train"]["snapshots"][-1],
        f"{len(_rows(frame, 'valid')):,}",
    )
    description = {
        "model_kind": kind,
        "feature_spec": spec,
        "split": info,
        "window": window,
        "training": summary,
        "data_fingerprint": _fingerprint(frame, spec),
    }
    return model_to_json(model), calibrator, description
