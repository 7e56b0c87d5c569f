"""The temporal split of labelled snapshots, decided in one place: the churn model splits by it
and the run plan predicts with it which split the model will use."""

from __future__ import annotations

from typing import Any

import pandas as pd


def temporal_parts(
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


def temporal_split_possible(
    dates: list, gap: int | str, horizon_days: int | None, min_labelled_snapshots: int
) -> bool:
    """Whether the churn model gets a temporal split from these labelled snapshot dates."""
    dates = sorted(pd.Timestamp(d) for d in dates)
    if len(dates) < max(3, int(min_labelled_snapshots)):
        return False
    return temporal_parts(dates, gap if gap == "auto" else int(gap), horizon_days) is not None
