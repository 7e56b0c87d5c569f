"""PSI and two-sample KS against hand-computed values and scipy.stats.ks_2samp."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from customer_retention.models.drift import (
    bin_shares,
    categorical_psi,
    ks_two_sample,
    psi,
    psi_from_shares,
    quantile_edges,
)


def test_psi_by_hand_two_bins():
    # Reference 0..9, two bins: the median 4.5 splits it 5 / 5. The current sample has 3 values
    # <= 4.5 and 7 above: shares (0.3, 0.7) vs (0.5, 0.5), no missing values in either.
    reference = np.arange(10.0)
    current = np.array([1, 2, 3, 10, 11, 12, 13, 14, 15, 16], dtype=float)
    assert quantile_edges(reference, bins=2).tolist() == [4.5]
    assert bin_shares(current, np.array([4.5])).tolist() == [0.3, 0.7, 0.0]
    expected = (0.3 - 0.5) * math.log(0.3 / 0.5) + (0.7 - 0.5) * math.log(0.7 / 0.5)
    assert psi(reference, current, bins=2) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(0.2 * math.log(7 / 3), abs=1e-12)  # 0.16946


def test_empty_bins_are_floored_at_epsilon():
    # Current values all above the reference median, plus two missing ones: the lower bin is
    # empty (0 -> epsilon) and the missing bin is new (reference 0 -> epsilon).
    reference = np.arange(10.0)
    current = np.array([7, 8, 9, 7, 8, 9, 7, 8, np.nan, np.nan])
    eps = 1e-4
    expected = (
        (eps - 0.5) * math.log(eps / 0.5)
        + (0.8 - 0.5) * math.log(0.8 / 0.5)
        + (0.2 - eps) * math.log(0.2 / eps)
    )
    assert psi(reference, current, bins=2, epsilon=eps) == pytest.approx(expected, rel=1e-12)
    larger = psi(reference, current, bins=2, epsilon=1e-6)
    assert larger > expected  # a smaller floor weighs the empty bins more


def test_quantile_bins_merge_ties_and_use_right_closed_intervals():
    reference = np.array([0.0] * 6 + [1.0, 2.0, 3.0, 4.0])
    edges = quantile_edges(reference, bins=5)  # quantiles 0.2, 0.4: 0; 0.6: 0.4; 0.8: 2.2
    assert edges.tolist() == pytest.approx([0.0, 0.4, 2.2])
    # (-inf, 0], (0, 0.4], (0.4, 2.2], (2.2, inf), missing
    assert bin_shares(reference, edges).tolist() == pytest.approx([0.6, 0.0, 0.2, 0.2, 0.0])
    assert psi(reference, reference, bins=5) == 0.0


def test_psi_grows_with_the_shift_and_is_small_for_a_resample():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=20_000)
    resample = rng.normal(size=5_000)
    values = [psi(reference, resample + shift) for shift in (0.0, 0.25, 0.5, 1.0)]
    assert values[0] < 0.01
    assert values == sorted(values)
    assert values[-1] > 0.25


def test_psi_from_shares_checks_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        psi_from_shares([0.5, 0.5], [1.0])


def test_categorical_psi_by_hand_with_new_and_missing_levels():
    reference = ["a"] * 5 + ["b"] * 5
    current = ["a"] * 4 + ["c"] * 4 + [None] * 2
    eps = 1e-4
    # levels a, b, c, missing: reference (0.5, 0.5, 0, 0), current (0.4, 0, 0.4, 0.2)
    expected = (
        (0.4 - 0.5) * math.log(0.4 / 0.5)
        + (eps - 0.5) * math.log(eps / 0.5)
        + (0.4 - eps) * math.log(0.4 / eps)
        + (0.2 - eps) * math.log(0.2 / eps)
    )
    assert categorical_psi(reference, current, epsilon=eps) == pytest.approx(expected, rel=1e-12)
    assert categorical_psi(reference, list(reversed(reference))) == 0.0


def test_ks_by_hand():
    result = ks_two_sample([1, 2, 3, 4], [3, 4, 5, 6])
    # F_ref - F_cur at x = 2: 0.5 - 0 = 0.5 (the largest gap)
    assert result.statistic == 0.5
    assert ks_two_sample([1, 2, 3], [4, 5, 6]).statistic == 1.0
    assert ks_two_sample([1, 2, np.nan], [1, 2]).statistic == 0.0  # NaN dropped


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ks_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=700)
    b = np.round(rng.normal(0.1 * seed, 1.0, size=450), 1)  # ties within and across samples
    a[:50] = np.round(a[:50], 1)
    ours = ks_two_sample(a, b)
    exact = stats.ks_2samp(a, b)
    asymptotic = stats.ks_2samp(a, b, method="asymp")
    assert ours.statistic == pytest.approx(exact.statistic, abs=1e-12)
    assert ours.pvalue == pytest.approx(asymptotic.pvalue, rel=1e-9, abs=1e-300)


def test_ks_of_an_empty_sample_is_nan():
    result = ks_two_sample([np.nan], [1.0, 2.0])
    assert math.isnan(result.statistic) and math.isnan(result.pvalue)
