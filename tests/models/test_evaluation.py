"""Metrics for churn scores: hand-computed ECE, lift with ties, gains, argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from customer_retention.models.evaluation import (
    classification_metrics,
    cumulative_gains,
    expected_calibration_error,
    ranking_curves,
    reliability_table,
    thin_curve,
    top_fraction_capture,
)


def test_ece_by_hand():
    y = np.array([0, 0, 1, 1, 1, 0, 0, 0])
    p = np.array([0.1, 0.1, 0.1, 0.1, 0.6, 0.6, 0.6, 0.6])
    # Two bins of 4 rows: |0.5 - 0.1| and |0.25 - 0.6|.
    assert expected_calibration_error(y, p, n_bins=2, strategy="uniform") == pytest.approx(
        0.5 * 0.4 + 0.5 * 0.35
    )
    table = reliability_table(y, p, n_bins=10, strategy="uniform")
    assert table["rows"].tolist() == [4, 4]  # empty bins left out


def test_quantile_bins_hold_equal_counts_and_perfect_calibration_scores_near_zero():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.3, 200_000)
    y = (rng.random(p.size) < p).astype(float)
    table = reliability_table(y, p, n_bins=10, strategy="quantile")
    assert table["rows"].tolist() == [20_000] * 10
    assert expected_calibration_error(y, p) < 0.005
    assert expected_calibration_error(y, np.clip(p * 2, 0, 1)) > 0.1


def test_top_decile_lift_and_capture():
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 1] * 10)
    score = np.arange(100)[::-1].astype(float)  # row 0 ranked first
    lift, capture = top_fraction_capture(y, score, 0.1)
    # Top 10 rows hold 7 of the 30 churners... rows 0-9 hold y = 1, 1, 0 x 7, 1 -> 3.
    assert capture == pytest.approx(3 / 30)
    assert lift == pytest.approx((3 / 10) / 0.3)


def test_ties_count_in_proportion():
    y = np.array([1, 0, 1, 0])
    assert top_fraction_capture(y, np.zeros(4), 0.5) == pytest.approx((1.0, 0.5))
    # One row above, three tied: top 2 = the top row + 1/3 of the tied rows' churners (1 of 3).
    lift, capture = top_fraction_capture(y, np.array([1.0, 0, 0, 0]), 0.5)
    assert capture == pytest.approx((1 + 1 / 3) / 2)


def test_cumulative_gains_run_from_zero_to_one():
    rng = np.random.default_rng(1)
    y = (rng.random(1000) < 0.1).astype(float)
    gains = cumulative_gains(y, y + rng.random(1000) * 0.5)
    assert gains["captured_share"].iloc[0] == 0 and gains["captured_share"].iloc[-1] == 1
    assert gains["captured_share"].is_monotonic_increasing
    assert gains["lift"].iloc[5] == pytest.approx(1 / 0.05 * gains["captured_share"].iloc[5])


def test_classification_metrics_of_a_perfect_ranker():
    y = np.array([0, 0, 0, 1])
    metrics = classification_metrics(y, np.array([0.1, 0.2, 0.3, 0.9]), top_fraction=0.25)
    assert metrics["roc_auc"] == 1 and metrics["pr_auc"] == 1
    assert metrics["top_decile_capture_rate"] == 1 and metrics["top_decile_lift"] == 4
    assert metrics["rows"] == 4 and metrics["positives"] == 1
    ranking_only = classification_metrics(y, np.array([5.0, 6, 7, 90]), is_probability=False)
    assert "log_loss" not in ranking_only


@pytest.mark.parametrize(
    ("y", "score", "message"),
    [
        ([0, 1], [0.5], "same length"),
        ([0, 2], [0.5, 0.5], "0/1"),
        ([0, 1], [0.5, np.nan], "NaN"),
        ([], [], "No rows"),
    ],
)
def test_bad_arguments(y, score, message):
    with pytest.raises(ValueError, match=message):
        classification_metrics(np.array(y, dtype=float), np.array(score, dtype=float))


def _scores_with_ties(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=n) < 0.2).astype(int)
    score = np.round(rng.normal(y * 0.8, 1.0), 2)  # rounded: many tied scores
    return y, score


def test_ranking_curves_equal_scikit_learns_curves_and_areas():
    from sklearn.metrics import (
        average_precision_score,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    y, score = _scores_with_ties(20_000)
    curves = ranking_curves(y, score)
    fpr, tpr, _ = roc_curve(y, score, drop_intermediate=False)
    precision, recall, _ = precision_recall_curve(y, score)
    np.testing.assert_allclose(curves["fpr"], fpr, atol=1e-12)
    np.testing.assert_allclose(curves["tpr"], tpr, atol=1e-12)
    np.testing.assert_allclose(curves["precision"], precision, atol=1e-12)
    np.testing.assert_allclose(curves["recall"], recall, atol=1e-12)
    assert curves["roc_auc"] == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert curves["pr_auc"] == pytest.approx(average_precision_score(y, score), abs=1e-12)
    with pytest.raises(ValueError, match="both positives and negatives"):
        ranking_curves(np.zeros(5), np.arange(5.0))


def test_thinned_curves_keep_endpoints_area_and_shape():
    y, score = _scores_with_ties(300_000, seed=1)
    score = score + np.random.default_rng(2).normal(0, 1e-3, len(score))  # ~all distinct
    curves = ranking_curves(y, score)
    resolution = 2.5e-4
    for x_name, y_name in (("fpr", "tpr"), ("recall", "precision")):
        x, v = curves[x_name], curves[y_name]
        keep = thin_curve(x, v, resolution)
        assert keep[0] == 0 and keep[-1] == len(x) - 1
        assert len(keep) < len(x) / 10
        assert np.all(np.diff(keep) > 0)
        # Every dropped point lies within the resolution of the kept point before it.
        previous = keep[np.searchsorted(keep, np.arange(len(x)), side="right") - 1]
        assert np.abs(x - x[previous]).max() <= resolution
        assert np.abs(v - v[previous]).max() <= resolution
    keep = thin_curve(curves["fpr"], curves["tpr"], resolution)
    assert len(keep) <= 2 / resolution + 2
    thinned_auc = np.trapezoid(curves["tpr"][keep], curves["fpr"][keep])
    assert thinned_auc == pytest.approx(curves["roc_auc"], abs=1e-3)
    assert thin_curve([0.0, 1.0], [0.0, 1.0]).tolist() == [0, 1]
