"""Kaplan-Meier estimator and log-rank tests, vectorised in numpy (no Kedro).

Same numbers as lifelines' ``KaplanMeierFitter``, ``multivariate_logrank_test`` and
``pairwise_logrank_test`` (tested against them), without their per-call pandas overhead:
one sort and a few ``bincount`` calls per segment instead of one lifelines fit per group
and one log-rank test per pair of groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class KaplanMeierCurve:
    """Kaplan-Meier estimate on its timeline: 0 and every distinct observed duration.

    With n_j at risk just before t_j and d_j events at t_j:

        S(t) = prod_{t_j <= t} (1 - d_j / n_j),

    computed as exp(cumsum(log(n_j - d_j) - log(n_j))) like lifelines, so the values agree
    with ``KaplanMeierFitter().fit(durations, events).survival_function_`` to rounding.
    """

    timeline: np.ndarray
    at_risk: np.ndarray
    removed: np.ndarray
    observed: np.ndarray
    survival: np.ndarray

    def at(self, times) -> np.ndarray:
        """S at ``times`` (a step function: the value at the last timeline point <= t)."""
        position = np.searchsorted(self.timeline, np.asarray(times, dtype=float), side="right")
        return self.survival[np.maximum(position - 1, 0)]

    def confidence_interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise (lower, upper) bounds of S on the timeline: Greenwood's variance on the
        log(-log S) scale (Kalbfleisch & Prentice 2002), lifelines' default, so the bounds stay
        inside [0, 1]:

            var(log S) = sum_{t_j <= t} d_j / (n_j (n_j - d_j)),
            S^exp(+-z sqrt(var(log S)) / log S).

        Where S is 1 (no event yet) or 0 the bounds equal S."""
        z = float(stats.norm.ppf(0.5 + level / 2))
        n, d = self.at_risk, self.observed
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(n > d, d / (n * (n - d)), 0.0)
            variance = np.cumsum(terms)
            log_s = np.log(self.survival)
            spread = z * np.sqrt(variance) / log_s
            lower = np.power(self.survival, np.exp(-spread))
            upper = np.power(self.survival, np.exp(spread))
        defined = (self.survival > 0) & (self.survival < 1) & np.isfinite(spread)
        return (
            np.where(defined, np.minimum(lower, upper), self.survival),
            np.where(defined, np.maximum(lower, upper), self.survival),
        )

    def frame(self, time_unit: float = 1.0) -> pd.DataFrame:
        """The curve as a table: months (timeline / ``time_unit``), survival, its 95% bounds
        (``confidence_interval``) and the customers at risk."""
        lower, upper = self.confidence_interval()
        return pd.DataFrame(
            {
                "months": self.timeline / time_unit,
                "survival": self.survival,
                "ci_lower": lower,
                "ci_upper": upper,
                "at_risk": self.at_risk.astype(int),
            }
        )

    @property
    def median(self) -> float:
        """First time with S(t) <= 0.5; infinity when the curve never gets there."""
        if self.survival[-1] > 0.5:
            return np.inf
        return float(self.timeline[np.searchsorted(-self.survival, -0.5)])


def kaplan_meier(durations, events) -> KaplanMeierCurve:
    """Kaplan-Meier curve of right-censored ``durations`` (events: True = observed)."""
    durations = np.asarray(durations, dtype=float)
    events = np.asarray(events, dtype=bool)
    if len(durations) == 0 or len(durations) != len(events):
        raise ValueError("durations and events must be non-empty and of the same length")
    timeline, inverse = np.unique(np.concatenate([[0.0], durations]), return_inverse=True)
    inverse = inverse[1:]
    removed = np.bincount(inverse, minlength=len(timeline))
    observed = np.bincount(inverse, weights=events, minlength=len(timeline))
    at_risk = len(durations) - np.concatenate([[0], np.cumsum(removed)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        log_step = np.log(at_risk - observed) - np.log(at_risk)
    survival = np.exp(np.cumsum(log_step))
    return KaplanMeierCurve(timeline, at_risk.astype(float), removed, observed, survival)


def _at_risk_and_events(
    durations: np.ndarray, events: np.ndarray, codes: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """n_tg at risk just before and d_tg events at each distinct time t, per group g."""
    _, inverse = np.unique(durations, return_inverse=True)
    cell = inverse * n_groups + codes
    size = (inverse.max() + 1) * n_groups
    removed = np.bincount(cell, minlength=size).reshape(-1, n_groups)
    observed = np.bincount(cell, weights=events, minlength=size).reshape(-1, n_groups)
    at_risk = removed.sum(axis=0) - np.vstack([np.zeros(n_groups), np.cumsum(removed, 0)[:-1]])
    return at_risk, observed


def _logrank_statistic(at_risk: np.ndarray, observed: np.ndarray) -> float:
    """Chi-square statistic Z' V^+ Z of the K-group log-rank test (first K - 1 groups).

    At each time with n at risk and d events in all groups: expected events of group g
    E_g = sum_t n_tg d_t / n_t, Z_g = O_g - E_g and
    V_gh = sum_t n_tg (delta_gh n_t - n_th) d_t (n_t - d_t) / (n_t^2 (n_t - 1)), with
    (n_t - d_t) / (n_t - 1) taken as 1 when n_t = 1 (lifelines' convention).
    """
    n = at_risk.sum(axis=1)
    d = observed.sum(axis=1)
    keep = d > 0  # times without events add nothing
    at_risk, observed, n, d = at_risk[keep], observed[keep], n[keep], d[keep]
    z = observed.sum(axis=0) - (at_risk * (d / n)[:, None]).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (n - d) / (n - 1)
    ratio[~np.isfinite(ratio)] = 1.0
    factor = ratio * d / n**2
    weighted = at_risk * factor[:, None]
    variance = np.diag(weighted.T @ n) - weighted.T @ at_risk
    k = at_risk.shape[1] - 1
    return float(z[:k] @ np.linalg.pinv(variance[:k, :k]) @ z[:k])


def logrank_tests(durations, events, groups) -> list[dict]:
    """Log-rank tests of equal survival across ``groups``: first all groups together
    (chi-square with K - 1 degrees of freedom), then every pair of groups in sorted order.

    Returns rows ``{"comparison", "test_statistic", "p_value"}`` with comparisons
    "all groups" and "a vs b", matching lifelines' ``multivariate_logrank_test`` and
    ``pairwise_logrank_test``.
    """
    codes, levels = pd.factorize(np.asarray(groups), sort=True)  # np.unique's order, hashed
    at_risk, observed = _at_risk_and_events(
        np.asarray(durations, dtype=float), np.asarray(events, dtype=float), codes, len(levels)
    )
    statistic = _logrank_statistic(at_risk, observed)
    rows = [
        {
            "comparison": "all groups",
            "test_statistic": statistic,
            "p_value": float(stats.chi2.sf(statistic, len(levels) - 1)),
        }
    ]
    for a, b in combinations(range(len(levels)), 2):
        statistic = _logrank_statistic(at_risk[:, [a, b]], observed[:, [a, b]])
        rows.append(
            {
                "comparison": f"{levels[a]} vs {levels[b]}",
                "test_statistic": statistic,
                "p_value": float(stats.chi2.sf(statistic, 1)),
            }
        )
    return rows
