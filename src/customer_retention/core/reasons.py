"""Per-customer churn reasons from SHAP contributions, in words, with a retention action.

XGBoost's ``predict(..., pred_contribs=True)`` splits each customer's log-odds into one
contribution per feature plus a bias (TreeSHAP). The features with the largest **positive**
contributions are the customer's drivers: only what pushes the risk up counts as a reason.
Each driver is turned into a phrase using the customer's own value of the feature (its
``phrase`` in the feature registry, :mod:`customer_retention.core.features`; any feature
without one gets a generic "<feature>: <value>" phrase) and belongs to a driver group that
selects the retention action from parameters (``scoring.actions``: keyed by feature name or
driver group, with a fallback).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .features import DRIVER_GROUPS, PHRASES, ROW_AWARE
from .phrases import generic


def phrase(feature: str, value: Any, row: dict[str, Any] | None = None) -> str:
    """Readable reason for ``feature`` at ``value`` (generic fallback for unknown features).

    ``row`` (the customer's other feature values) is used by the templates in ``ROW_AWARE``.
    """
    template = PHRASES.get(feature)
    if template is None:
        return generic(feature, value)
    try:
        if feature in ROW_AWARE:
            return template(value, row or {})
        return template(value)
    except (TypeError, ValueError):
        return generic(feature, value)


def action_for(feature: str | None, actions: dict[str, Any]) -> str:
    """The retention action for a driver: by feature, else by its group, else the fallback."""
    by_driver = actions.get("by_driver", {})
    if feature is not None:
        if feature in by_driver:
            return by_driver[feature]
        group = DRIVER_GROUPS.get(feature)
        if group in by_driver:
            return by_driver[group]
    return actions["fallback"]


def _driver_positions(contributions: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the column positions of the ``k`` largest contributions (largest first) and
    whether each is positive (only positive contributions are drivers)."""
    contributions = np.asarray(contributions, dtype=float)
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(contributions, order, axis=1) > 0


def top_drivers(contributions: np.ndarray, features: list[str], k: int = 3) -> list[list[str]]:
    """Per row, up to ``k`` features with the largest positive contribution, largest first.

    ``contributions`` has one column per feature (the bias column already removed).
    """
    order, positive = _driver_positions(contributions, k)
    return [
        [features[c] for c, keep in zip(columns, keeps, strict=True) if keep]
        for columns, keeps in zip(order, positive, strict=True)
    ]


def _phrases(
    feature: str, frame: pd.DataFrame, rows: np.ndarray, features: list[str]
) -> np.ndarray:
    """``phrase(feature, value)`` for the given row positions, computed once per distinct value
    (row by row for the templates that read the whole row)."""
    if feature in ROW_AWARE:
        records = frame.iloc[rows][features].to_dict("records")
        return np.array([phrase(feature, row[feature], row) for row in records], dtype=object)
    codes, values = pd.factorize(frame[feature].iloc[rows], use_na_sentinel=False)
    return np.array([phrase(feature, value) for value in values], dtype=object)[codes]


def explain(
    frame: pd.DataFrame,
    contributions: np.ndarray,
    features: list[str],
    actions: dict[str, Any],
    k: int = 3,
) -> pd.DataFrame:
    """Columns reason_1..reason_k (phrases), top_driver (feature) and recommended_action.

    Each row gets ``phrase(driver, its value, its row)`` for each of its drivers
    (``top_drivers``); phrases are built per driver and distinct value, not per row.
    """
    order, positive = _driver_positions(contributions, k)
    names = np.array(features, dtype=object)
    explained = {}
    for rank in range(order.shape[1]):
        reasons = np.full(len(frame), None, dtype=object)
        for position in np.unique(order[positive[:, rank], rank]):
            rows = np.flatnonzero(positive[:, rank] & (order[:, rank] == position))
            reasons[rows] = _phrases(features[position], frame, rows, features)
        explained[f"reason_{rank + 1}"] = reasons
    for rank in range(order.shape[1], k):  # fewer features than reasons asked for
        explained[f"reason_{rank + 1}"] = np.full(len(frame), None, dtype=object)
    top = pd.Series(np.where(positive[:, 0], names[order[:, 0]], None), dtype=object)
    explained["top_driver"] = top.to_numpy()
    explained["recommended_action"] = (
        top.map({feature: action_for(feature, actions) for feature in features})
        .fillna(action_for(None, actions))
        .to_numpy()
    )
    return pd.DataFrame(explained, index=frame.index)
