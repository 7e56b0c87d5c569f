"""The integrated Brier score on cases whose value is known."""

import numpy as np
import pytest

from customer_retention.models.survival_metrics import integrated_brier_score


def test_perfect_prediction_scores_zero_and_coin_flip_a_quarter():
    durations = np.array([2.0, 4.0, 6.0, 8.0])
    events = np.ones(4)
    times = np.array([1.0, 3.0, 5.0, 7.0])
    perfect = (durations[:, None] > times[None, :]).astype(float)
    assert integrated_brier_score(durations, events, perfect, times) == pytest.approx(0.0)
    assert integrated_brier_score(durations, events, np.full((4, 4), 0.5), times) == pytest.approx(
        0.25
    )


def test_censored_customers_are_reweighted_not_dropped():
    durations = np.array([2.0, 3.0, 5.0, 6.0])
    events = np.array([1, 0, 1, 0])
    times = np.array([1.0, 4.0])
    constant = np.full((4, 2), 0.5)
    assert integrated_brier_score(durations, events, constant, times) == pytest.approx(0.25)


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"survival must have shape \(2, 3\)"):
        integrated_brier_score([1, 2], [1, 1], np.zeros((2, 2)), [1, 2, 3])
