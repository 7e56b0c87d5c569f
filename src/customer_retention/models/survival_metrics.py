"""Evaluation of predicted survival curves on censored data (no Kedro imports)."""

from __future__ import annotations

import numpy as np
from lifelines import KaplanMeierFitter


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
