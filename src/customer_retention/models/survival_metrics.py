"""Evaluation of predicted survival curves on censored data (no Kedro imports)."""

from __future__ import annotations

import numpy as np


def integrated_brier_score(
    durations: np.ndarray,
    events: np.ndarray,
    survival: np.ndarray,
    times: np.ndarray,
) -> float:
    """Integrated Brier score with inverse-probability-of-censoring weights.

    Graf, Schmoor, Sauerbrei & Schumacher (1999), "Assessment and comparison of prognostic
    classification schemes for survival data", Statistics in Medicine 18:

        BS(t) = 1/n sum_i [ S_i(t)^2 1(T_i <= t, d_i = 1) / G(T_i-)  +  (1 - S_i(t))^2 1(T_i > t) / G(t) ]
        IBS   = 1/(t_max - t_min) integral BS(t) dt   (trapezoid rule over ``times``)

    where G is the Kaplan-Meier estimate of the censoring distribution. Lower is better; a
    model no better than a constant curve of 0.5 scores 0.25.

    Args:
        durations: observed times T_i.
        events: 1 if T_i is an event, 0 if censored.
        survival: predicted S_i(t) with shape (n, len(times)).
        times: increasing evaluation times, within the follow-up.
    """
    durations = np.asarray(durations, dtype=float)
    events = np.asarray(events, dtype=bool)
    survival = np.asarray(survival, dtype=float)
    times = np.asarray(times, dtype=float)
    if survival.shape != (len(durations), len(times)):
        raise ValueError(
            f"survival must have shape {(len(durations), len(times))}, got {survival.shape}"
        )
    if len(times) < 2 or np.any(np.diff(times) <= 0):
        raise ValueError("times must hold at least two increasing values")
    from lifelines import KaplanMeierFitter  # imported when used (start-up time)

    censoring = KaplanMeierFitter().fit(durations, event_observed=~events)

    def g(t: np.ndarray) -> np.ndarray:
        return np.clip(censoring.survival_function_at_times(t).to_numpy(), 1e-8, None)

    g_at_event = g(np.maximum(durations - 1e-9, 0))
    g_at_times = g(times)
    died = (durations[:, None] <= times[None, :]) & events[:, None]
    alive = durations[:, None] > times[None, :]
    scores = (
        survival**2 * died / g_at_event[:, None] + (1 - survival) ** 2 * alive / g_at_times[None, :]
    ).mean(axis=0)
    return float(np.trapezoid(scores, times) / (times[-1] - times[0]))


def concordance_index(event_times, predicted_scores, event_observed) -> float:
    """Harrell's C-index, the same number as ``lifelines.utils.concordance_index``.

    Harrell, Lee & Mark (1996). A pair (i, j) is admissible when i's event is observed and j
    was still under observation afterwards: T_i < T_j, or T_i = T_j with j censored. With
    predicted scores s (higher = longer survival),

        C = (#{admissible pairs: s_i < s_j} + 0.5 #{admissible pairs: s_i = s_j}) / #admissible.

    Computed group by group of equal times: the scores of the events seen so far are kept
    sorted, and each group's scores are located in them with ``searchsorted``. The cost is
    O(n log n + U D) for U distinct times and D events, made for survival data recorded in
    whole days (a few thousand distinct times at most); with more than ``10_000`` distinct
    times it hands over to lifelines' balanced-tree implementation.
    """
    t = np.asarray(event_times, dtype=float).ravel()
    s = np.asarray(predicted_scores, dtype=float).ravel()
    e = np.asarray(event_observed, dtype=bool).ravel()
    if not (len(t) == len(s) == len(e)):
        raise ValueError("event_times, predicted_scores and event_observed must have one length")
    if np.isnan(t).any() or np.isnan(s).any():
        raise ValueError("NaNs in event_times or predicted_scores")
    times, group = np.unique(t, return_inverse=True)
    if len(times) > 10_000:
        from lifelines.utils import concordance_index as lifelines_concordance_index

        return float(lifelines_concordance_index(t, s, e))
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(len(times) + 1))
    seen = np.empty(0)  # sorted scores of the events at earlier times
    correct = tied = pairs = 0

    def compare(scores: np.ndarray) -> None:
        """Count the pairs of each score with every event in ``seen``."""
        nonlocal correct, tied, pairs
        below = np.searchsorted(seen, scores, side="left")
        correct += int(below.sum())
        tied += int((np.searchsorted(seen, scores, side="right") - below).sum())
        pairs += len(seen) * len(scores)

    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        rows = order[start:stop]
        died = np.sort(s[rows][e[rows]])
        compare(died)  # events at T against the events strictly before T
        seen = np.insert(seen, np.searchsorted(seen, died), died)
        compare(s[rows][~e[rows]])  # censored at T against the events up to and including T
    if pairs == 0:
        raise ZeroDivisionError("No admissable pairs in the dataset.")
    return (correct + tied / 2) / pairs
