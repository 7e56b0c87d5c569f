"""Bootstrap confidence intervals of ranking metrics, for one score or the difference of two.

Customers are resampled with the Poisson bootstrap (Hanley & MacGibbon 2006, "Creating non-
parametric bootstrap samples using Poisson frequencies", Computer Methods and Programs in
Biomedicine 83(1)): each replicate gives every customer a Poisson(1) weight (all their rows share
it), which is the multinomial resample of n customers to within O(1/n) and lets every replicate
reuse one sort of the scores. The metrics are computed with those weights:

* ROC-AUC = sum over tie groups g of neg_g (pos_above_g + pos_g / 2) / (P N), the weighted
  probability that a churner outranks a stayer, ties counting one half;
* PR-AUC (average precision) = sum_g (pos_g / P) precision_g, precision at each threshold;
* top-fraction lift = (churners among the top ``fraction`` of the weight, the group at the
  cut-off in proportion) / (fraction x churn rate).

With unit weights these are exactly scikit-learn's ``roc_auc_score`` and
``average_precision_score``. Intervals are percentile intervals of the replicates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

METRICS = ("roc_auc", "pr_auc", "top_decile_lift")


class _RankedScore:
    """One score sorted once (descending) with its tie groups, for weighted metrics."""

    def __init__(self, y: np.ndarray, score: np.ndarray) -> None:
        self.order = np.argsort(-score, kind="stable")
        ranked = score[self.order]
        self.y = y[self.order].astype(float)
        self.starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])

    def metrics(self, weights: np.ndarray, fraction: float) -> np.ndarray:
        """(ROC-AUC, PR-AUC, lift) under ``weights`` (aligned with the unsorted rows)."""
        w = weights[self.order]
        positive = np.add.reduceat(w * self.y, self.starts)
        total = np.add.reduceat(w, self.starts)
        negative = total - positive
        p, n = positive.sum(), negative.sum()
        if p <= 0 or n <= 0:
            return np.full(3, np.nan)
        positive_cum, total_cum = np.cumsum(positive), np.cumsum(total)
        auc = float((negative * (positive_cum - positive + 0.5 * positive)).sum() / (p * n))
        precision = np.divide(
            positive_cum, total_cum, out=np.zeros_like(total_cum), where=total_cum > 0
        )
        average_precision = float((positive / p * precision).sum())
        cut = fraction * total_cum[-1]
        g = min(int(np.searchsorted(total_cum, cut)), len(total) - 1)
        before = total_cum[g] - total[g]
        captured = positive_cum[g] - positive[g] + (cut - before) * positive[g] / total[g]
        lift = float((captured / cut) / (p / total_cum[-1]))
        return np.array([auc, average_precision, lift])


def bootstrap_intervals(
    y: np.ndarray,
    scores: dict[str, np.ndarray],
    groups: np.ndarray | None = None,
    *,
    differences: list[tuple[str, str]] = (),
    replicates: int = 200,
    seed: int = 0,
    fraction: float = 0.1,
    level: float = 0.95,
) -> dict[str, Any]:
    """Percentile intervals of ROC-AUC, PR-AUC and top-fraction lift of every score, and of
    the differences ``a - b`` for the pairs in ``differences`` (the same replicates, so the
    interval of a difference accounts for the two scores' correlation).

    Rows where a score is NaN are left out of that score (and of its differences).
    ``groups``: the customer of each row (rows of a customer share a weight); default one
    customer per row. Returns ``{name: {metric: (low, high)}}`` and
    ``{"a - b": {metric: (low, high)}}`` under ``"differences"``.
    """
    y = np.asarray(y, dtype=float)
    codes = (
        np.arange(len(y))
        if groups is None
        else np.unique(np.asarray(groups), return_inverse=True)[1]
    )
    n_customers = int(codes.max()) + 1 if len(codes) else 0
    present = {name: np.isfinite(np.asarray(s, dtype=float)) for name, s in scores.items()}
    ranked = {
        name: _RankedScore(y[present[name]], np.asarray(s, dtype=float)[present[name]])
        for name, s in scores.items()
        if len(np.unique(y[present[name]])) == 2
    }
    pairs = [(a, b) for a, b in differences if a in ranked and b in ranked]
    both = {pair: present[pair[0]] & present[pair[1]] for pair in pairs}
    paired = {
        pair: tuple(
            _RankedScore(y[both[pair]], np.asarray(scores[name], dtype=float)[both[pair]])
            for name in pair
        )
        for pair in pairs
    }
    rng = np.random.default_rng(seed)
    draws = {name: np.empty((replicates, 3)) for name in ranked}
    diffs = {pair: np.empty((replicates, 3)) for pair in pairs}
    for r in range(replicates):
        weights = rng.poisson(1.0, n_customers).astype(float)[codes]
        for name, score in ranked.items():
            draws[name][r] = score.metrics(weights[present[name]], fraction)
        for pair, (score_a, score_b) in paired.items():
            shared = weights[both[pair]]
            diffs[pair][r] = score_a.metrics(shared, fraction) - score_b.metrics(shared, fraction)
    tail = (1 - level) / 2 * 100

    def interval(values: np.ndarray) -> dict[str, tuple[float, float]]:
        low = np.nanpercentile(values, tail, axis=0)
        high = np.nanpercentile(values, 100 - tail, axis=0)
        return {m: (float(lo), float(hi)) for m, lo, hi in zip(METRICS, low, high, strict=True)}

    result: dict[str, Any] = {name: interval(values) for name, values in draws.items()}
    result["differences"] = {f"{a} - {b}": interval(values) for (a, b), values in diffs.items()}
    return result


def scaled_intervals(
    y: np.ndarray,
    scores: dict[str, np.ndarray],
    groups: np.ndarray | None,
    *,
    max_customers: int | None,
    seed: int = 0,
    **options: Any,
) -> dict[str, Any]:
    """``bootstrap_intervals`` on at most ``max_customers`` customers: above it, on a seeded
    random subsample of m customers, each interval's half-widths scaled by sqrt(m / n) around
    the full data's metric (a metric's sampling spread shrinks as 1 / sqrt(n)); each result
    records ``subsample``."""
    y = np.asarray(y, dtype=float)
    customers = np.arange(len(y)) if groups is None else np.asarray(groups)
    unique, codes = np.unique(customers, return_inverse=True)
    n = len(unique)
    if max_customers is None or n <= int(max_customers):
        return bootstrap_intervals(y, scores, groups, seed=seed, **options) | {"subsample": None}
    m = int(max_customers)
    keep = np.isin(codes, np.random.default_rng(seed).choice(n, size=m, replace=False))
    sub = bootstrap_intervals(
        y[keep],
        {k: np.asarray(v, dtype=float)[keep] for k, v in scores.items()},
        codes[keep],
        seed=seed,
        **options,
    )
    factor = np.sqrt(m / n)
    fraction = float(options.get("fraction", 0.1))

    def full(name: str) -> dict[str, float]:
        if " - " in name:
            a, b = name.split(" - ")
            first, second = full(a), full(b)
            return {k: first[k] - second[k] for k in METRICS}
        score = np.asarray(scores[name], dtype=float)
        ok = np.isfinite(score)
        return weighted_metrics(y[ok], score[ok], np.ones(int(ok.sum())), fraction)

    def rescale(
        name: str, bounds: dict[str, tuple[float, float]]
    ) -> dict[str, tuple[float, float]]:
        centre = full(name)
        sub_centre = {k: (lo + hi) / 2 for k, (lo, hi) in bounds.items()}
        return {
            k: (
                centre[k] - (sub_centre[k] - lo) * factor,
                centre[k] + (hi - sub_centre[k]) * factor,
            )
            for k, (lo, hi) in bounds.items()
        }

    result = {name: rescale(name, bounds) for name, bounds in sub.items() if name != "differences"}
    result["differences"] = {name: rescale(name, b) for name, b in sub["differences"].items()}
    return result | {"subsample": {"customers": m, "of": n}}


def weighted_metrics(
    y: np.ndarray, score: np.ndarray, weights: np.ndarray, fraction: float
) -> dict[str, float]:
    """ROC-AUC, PR-AUC and lift of ``score`` under row ``weights`` (see the module docstring)."""
    values = _RankedScore(np.asarray(y, dtype=float), np.asarray(score, dtype=float)).metrics(
        np.asarray(weights, dtype=float), fraction
    )
    return dict(zip(METRICS, (float(v) for v in values), strict=True))
