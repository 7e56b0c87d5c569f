"""The temporal split of labelled snapshots, decided in one place: the churn model splits, backtests
and refits by it, and the run plan predicts with it which split the model will use."""

from __future__ import annotations

from typing import Any

import pandas as pd


def temporal_parts(
    dates: list, gap: int | str, horizon_days: int | None
) -> tuple[list, Any, Any] | None:
    """(training dates, calibration date, test date) of a model tested at ``dates[-1]``, or None
    when no snapshot can be trained on.

    ``gap = "auto"``: a snapshot's label is known ``horizon_days`` after it, so the model
    tested at date c trains on every snapshot whose horizon ends by c -- what a model
    retrained at c could have seen, as in production. An integer leaves that many snapshots
    out before the test date instead (0 = train on every earlier snapshot, horizons overlap).
    The calibration date is the latest training date: a held-out slice of its customers
    stops the boosting and fits the calibration (``churn_model.split.calibration_share``).
    """
    test_date = dates[-1]
    if gap == "auto":
        horizon = pd.Timedelta(days=int(horizon_days))
        train_dates = [d for d in dates if d + horizon <= test_date]
    else:
        train_dates = list(dates[: max(0, len(dates) - 1 - int(gap))])
    return (train_dates, train_dates[-1], test_date) if train_dates else None


def backtest_cutoffs(dates: list, gap: int | str, horizon_days: int | None, count: int) -> list:
    """The latest ``count`` labelled dates a model can be tested at (``temporal_parts`` is not
    None for the dates up to them), oldest first."""
    dates = sorted(pd.Timestamp(d) for d in dates)
    possible = [
        c
        for i, c in enumerate(dates)
        if temporal_parts(dates[: i + 1], gap, horizon_days) is not None
    ]
    return possible[-int(count) :] if count > 0 else []


def temporal_split_possible(
    dates: list, gap: int | str, horizon_days: int | None, min_labelled_snapshots: int
) -> bool:
    """Whether the churn model gets a temporal split from these labelled snapshot dates."""
    dates = sorted(pd.Timestamp(d) for d in dates)
    if len(dates) < max(2, int(min_labelled_snapshots)):
        return False
    return temporal_parts(dates, gap if gap == "auto" else int(gap), horizon_days) is not None
