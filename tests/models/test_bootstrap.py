"""Bootstrap intervals of ranking metrics: exact at unit weights, and honest coverage."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from customer_retention.models.bootstrap import (
    bootstrap_intervals,
    scaled_intervals,
    weighted_metrics,
)
from customer_retention.models.evaluation import top_fraction_capture


def _sample(n: int, rng: np.random.Generator, strength: float = 1.0):
    y = (rng.random(n) < 0.1).astype(float)
    return y, np.round(rng.normal(strength * y, 1.0), 1)  # rounded: many ties


def test_unit_weights_give_scikit_learns_metrics_and_ours():
    rng = np.random.default_rng(0)
    y, score = _sample(3000, rng)
    metrics = weighted_metrics(y, score, np.ones(len(y)), 0.1)
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert metrics["pr_auc"] == pytest.approx(average_precision_score(y, score), abs=1e-12)
    assert metrics["top_decile_lift"] == pytest.approx(top_fraction_capture(y, score, 0.1)[0])
    # Integer weights are the same as repeating the rows.
    w = rng.integers(0, 3, len(y))
    repeated = weighted_metrics(np.repeat(y, w), np.repeat(score, w), np.ones(w.sum()), 0.1)
    assert weighted_metrics(y, score, w.astype(float), 0.1)["roc_auc"] == pytest.approx(
        repeated["roc_auc"], abs=1e-12
    )


def test_intervals_cover_the_population_auc_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    population_y, population_score = _sample(400_000, rng)
    truth = roc_auc_score(population_y, population_score)
    covered = 0
    trials = 80
    for trial in range(trials):
        rows = rng.choice(len(population_y), 800, replace=False)
        interval = bootstrap_intervals(
            population_y[rows], {"s": population_score[rows]}, replicates=200, seed=trial
        )["s"]["roc_auc"]
        covered += interval[0] <= truth <= interval[1]
    assert 0.85 <= covered / trials <= 1.0, covered  # nominal 95%; 80 trials: sd ~2.4 points


def test_a_difference_interval_separates_a_better_score_and_not_an_equal_one():
    rng = np.random.default_rng(2)
    y, strong = _sample(4000, rng, strength=1.2)
    weak = np.round(rng.normal(0.6 * y, 1.0), 1)
    twin = strong + rng.normal(0, 1e-3, len(y))  # the same ranking, almost
    result = bootstrap_intervals(
        y,
        {"strong": strong, "weak": weak, "twin": twin},
        differences=[("strong", "weak"), ("strong", "twin")],
        replicates=200,
        seed=0,
    )
    low, _ = result["differences"]["strong - weak"]["roc_auc"]
    assert low > 0
    low, high = result["differences"]["strong - twin"]["roc_auc"]
    assert low <= 0 <= high


def test_rows_of_one_customer_move_together():
    rng = np.random.default_rng(3)
    y, score = _sample(500, rng)
    alone = bootstrap_intervals(y, {"s": score}, replicates=300, seed=0)["s"]["roc_auc"]
    # Each customer appears four times: as wide as 500 customers, not as 2,000 rows.
    tripled = bootstrap_intervals(
        np.tile(y, 4), {"s": np.tile(score, 4)}, np.tile(np.arange(500), 4), replicates=300, seed=0
    )["s"]["roc_auc"]
    assert tripled[1] - tripled[0] == pytest.approx(alone[1] - alone[0], rel=0.25)


def test_a_subsample_gives_about_the_full_width_around_the_full_metric():
    rng = np.random.default_rng(4)
    y, score = _sample(40_000, rng)
    full = scaled_intervals(y, {"s": score}, None, max_customers=None, replicates=200)
    sub = scaled_intervals(y, {"s": score}, None, max_customers=8_000, replicates=200)
    assert sub["subsample"] == {"customers": 8_000, "of": 40_000}
    (lo, hi), (slo, shi) = full["s"]["roc_auc"], sub["s"]["roc_auc"]
    assert shi - slo == pytest.approx(hi - lo, rel=0.3)
    assert slo < roc_auc_score(y, score) < shi


def test_expected_churners_interval_covers_the_realised_count_about_90_percent():
    from customer_retention.models.evaluation import expected_total

    rng = np.random.default_rng(5)
    p = rng.beta(1, 9, 3000)
    total = expected_total(p)
    assert total["expected"] == pytest.approx(p.sum())
    realised = (rng.random((2000, len(p))) < p).sum(axis=1)
    covered = ((realised >= total["low"]) & (realised <= total["high"])).mean()
    assert covered == pytest.approx(0.90, abs=0.03)
    value = rng.lognormal(7, 1, len(p))
    lost = expected_total(p, value)
    assert lost["expected"] == pytest.approx((p * value).sum())
    assert lost["low"] < lost["expected"] < lost["high"]
