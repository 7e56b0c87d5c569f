"""Distribution-shift statistics between a reference sample and a current sample.

Population stability index (PSI)
---------------------------------
For bins b = 1..B with reference shares r_b and current shares c_b,

    PSI = sum_b (c_b - r_b) * ln(c_b / r_b)

(the symmetrised Kullback-Leibler divergence, KL(c || r) + KL(r || c); Siddiqi 2006,
*Credit Risk Scorecards*, ch. 8; properties in Yurdakul 2018, *Statistical Properties of
the Population Stability Index*, Western Michigan University). Customary reading:
< 0.1 no meaningful shift, 0.1-0.25 moderate, > 0.25 large.

Binning (numeric): the B - 1 inner edges are the reference quantiles at 1/B, ..., (B-1)/B
(``np.quantile``, linear interpolation), duplicates dropped, so a variable with a large point
mass (many zeros) gets fewer, not empty, bins. The bins are (-inf, e_1], (e_1, e_2], ...,
(e_k, +inf): a current value beyond the reference range falls in an outer bin. Missing values
(NaN) form a bin of their own, so a change in missingness counts as a shift. Categorical
variables: one bin per category seen in either sample (missing is a category too).

Empty bins: a share of 0 makes ln(c/r) infinite, so every share is floored at ``epsilon``
(default 1e-4) before the sum, i.e. r_b := max(r_b, epsilon), c_b := max(c_b, epsilon).

Two-sample Kolmogorov-Smirnov
-----------------------------
D = sup_x |F_ref(x) - F_cur(x)| over the two empirical CDFs (missing values dropped). The
p-value is the asymptotic one, P(D_n > d) of the one-sample Kolmogorov-Smirnov distribution
with n = round(n_ref * n_cur / (n_ref + n_cur)) (``scipy.stats.kstwo``), as
``scipy.stats.ks_2samp(..., method="asymp")`` computes it. With the large samples of a customer
base, tiny shifts have tiny p-values: read D (an effect size) rather than the p-value.

Plain numpy/scipy; no Kedro imports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

DEFAULT_BINS = 10
DEFAULT_EPSILON = 1e-4
MISSING = "__missing__"


def quantile_edges(reference: np.ndarray | pd.Series, bins: int = DEFAULT_BINS) -> np.ndarray:
    """Inner bin edges: the reference quantiles at 1/bins ... (bins-1)/bins, deduplicated.

    Missing values are ignored; an all-missing reference gives no edges (one bin).
    """
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    values = np.asarray(reference, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return np.array([], dtype=float)
    return np.unique(np.quantile(values, np.arange(1, bins) / bins))


def bin_shares(values: np.ndarray | pd.Series, edges: np.ndarray) -> np.ndarray:
    """Shares of ``values`` in the bins (-inf, e_1], ..., (e_k, +inf) and a last bin for NaN."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("Cannot compute bin shares of an empty sample")
    missing = np.isnan(values)
    index = np.searchsorted(edges, values[~missing], side="left")
    counts = np.bincount(index, minlength=len(edges) + 1).astype(float)
    counts = np.append(counts, missing.sum())
    return counts / values.size


def psi_from_shares(
    reference_shares: np.ndarray, current_shares: np.ndarray, epsilon: float = DEFAULT_EPSILON
) -> float:
    """PSI = sum (c - r) ln(c / r) over bins, with both shares floored at ``epsilon``."""
    r = np.maximum(np.asarray(reference_shares, dtype=float), epsilon)
    c = np.maximum(np.asarray(current_shares, dtype=float), epsilon)
    if r.shape != c.shape:
        raise ValueError(f"Share vectors differ in length: {r.shape} vs {c.shape}")
    return float(np.sum((c - r) * np.log(c / r)))


def psi(
    reference: np.ndarray | pd.Series,
    current: np.ndarray | pd.Series,
    bins: int = DEFAULT_BINS,
    epsilon: float = DEFAULT_EPSILON,
) -> float:
    """PSI of a numeric variable, binned on the reference quantiles (see the module docstring)."""
    edges = quantile_edges(reference, bins)
    return psi_from_shares(bin_shares(reference, edges), bin_shares(current, edges), epsilon)


def _category_labels(values: np.ndarray | pd.Series) -> pd.Series:
    series = pd.Series(values, dtype="object")
    return series.where(series.notna(), MISSING).astype(str)


def categorical_psi(
    reference: np.ndarray | pd.Series,
    current: np.ndarray | pd.Series,
    epsilon: float = DEFAULT_EPSILON,
) -> float:
    """PSI over categories: one bin per level seen in either sample, missing as a level."""
    ref, cur = _category_labels(reference), _category_labels(current)
    if ref.empty or cur.empty:
        raise ValueError("Cannot compute the PSI of an empty sample")
    levels = sorted(set(ref) | set(cur))
    r = ref.value_counts(normalize=True).reindex(levels, fill_value=0.0).to_numpy()
    c = cur.value_counts(normalize=True).reindex(levels, fill_value=0.0).to_numpy()
    return psi_from_shares(r, c, epsilon)


@dataclass(frozen=True)
class KSResult:
    """Two-sample Kolmogorov-Smirnov statistic D and its asymptotic two-sided p-value."""

    statistic: float
    pvalue: float


def ks_two_sample(reference: np.ndarray | pd.Series, current: np.ndarray | pd.Series) -> KSResult:
    """D = max |F_ref - F_cur| over the pooled sample points; NaN dropped (module docstring).

    Returns NaN for both when either sample has no non-missing value.
    """
    a = np.asarray(reference, dtype=float)
    b = np.asarray(current, dtype=float)
    a, b = np.sort(a[~np.isnan(a)]), np.sort(b[~np.isnan(b)])
    if a.size == 0 or b.size == 0:
        return KSResult(float("nan"), float("nan"))
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / a.size
    cdf_b = np.searchsorted(b, points, side="right") / b.size
    statistic = float(np.max(np.abs(cdf_a - cdf_b)))
    n = round(a.size * b.size / (a.size + b.size))
    pvalue = float(np.clip(stats.kstwo.sf(statistic, max(n, 1)), 0.0, 1.0))
    return KSResult(statistic, pvalue)
