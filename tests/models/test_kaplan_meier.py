"""The numpy Kaplan-Meier, log-rank tests and C-index give lifelines' numbers."""

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test, pairwise_logrank_test
from lifelines.utils import concordance_index as lifelines_concordance_index

from customer_retention.models.kaplan_meier import kaplan_meier, logrank_tests
from customer_retention.models.survival_metrics import concordance_index


def _censored_days(n: int, seed: int, groups: int = 3):
    """Whole-day durations with many ties, ~40% censored, group-dependent hazards."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, groups, n)
    days = np.ceil(rng.weibull(1.2, n) * 200 * (1 + 0.3 * group)).astype(int)
    censor = rng.integers(1, 600, n)
    return np.minimum(days, censor), days <= censor, np.array(list("abcde"))[group]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("scale", [1.0, 30.4375])
def test_kaplan_meier_matches_lifelines(seed, scale):
    days, events, _ = _censored_days(3000, seed)
    durations = days / scale
    ours = kaplan_meier(durations, events)
    theirs = KaplanMeierFitter().fit(durations, events)
    curve = theirs.survival_function_.iloc[:, 0]
    np.testing.assert_array_equal(ours.timeline, curve.index.to_numpy())
    np.testing.assert_allclose(ours.survival, curve.to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ours.at_risk, theirs.event_table["at_risk"].to_numpy())
    np.testing.assert_array_equal(ours.observed, theirs.event_table["observed"].to_numpy())
    times = np.array([0.5, 1, 7.3, 100, 365, 10_000]) / scale
    np.testing.assert_allclose(
        ours.at(times), theirs.survival_function_at_times(times).to_numpy(), atol=1e-12
    )
    assert ours.median == theirs.median_survival_time_


def test_kaplan_meier_by_hand_and_never_reaching_the_median():
    # 4 at risk: event at 1 (S = 3/4), censored at 2, event at 3 (S = 3/4 * 1/2).
    km = kaplan_meier([1, 2, 3, 4], [True, False, True, False])
    np.testing.assert_allclose(km.at([0, 1, 2, 3, 4]), [1, 0.75, 0.75, 0.375, 0.375])
    assert km.median == 3
    assert (np.diff(km.survival) <= 0).all()
    assert kaplan_meier([5, 6, 7, 8], [False, True, False, False]).median == np.inf  # S = 2/3


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("groups", [2, 4])
def test_logrank_tests_match_lifelines(seed, groups):
    days, events, group = _censored_days(4000, seed, groups)
    rows = logrank_tests(days, events, group)
    overall = multivariate_logrank_test(days, group, events)
    assert rows[0]["comparison"] == "all groups"
    assert rows[0]["test_statistic"] == pytest.approx(overall.test_statistic, rel=1e-9)
    assert rows[0]["p_value"] == pytest.approx(overall.p_value, rel=1e-6, abs=1e-300)
    pairwise = pairwise_logrank_test(days, group, events).summary
    assert [r["comparison"] for r in rows[1:]] == [f"{a} vs {b}" for a, b in pairwise.index]
    for row, (_, expected) in zip(rows[1:], pairwise.iterrows(), strict=True):
        assert row["test_statistic"] == pytest.approx(expected["test_statistic"], rel=1e-9)
        assert row["p_value"] == pytest.approx(expected["p"], rel=1e-6, abs=1e-300)


def test_logrank_of_identical_groups_is_zero():
    days, events, _ = _censored_days(500, 3)
    rows = logrank_tests(np.r_[days, days], np.r_[events, events], ["x"] * 500 + ["y"] * 500)
    assert rows[0]["test_statistic"] == pytest.approx(0, abs=1e-9)
    assert rows[0]["p_value"] == pytest.approx(1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_concordance_index_matches_lifelines_with_ties(seed):
    days, events, _ = _censored_days(3000, seed)
    rng = np.random.default_rng(seed)
    scores = np.round(0.01 * days + rng.normal(size=len(days)), 1)  # ties in scores too
    assert concordance_index(days, scores, events) == lifelines_concordance_index(
        days, scores, events
    )
    assert concordance_index(days, -scores, events) == pytest.approx(
        1 - concordance_index(days, scores, events)
    )


def test_concordance_index_continuous_times_and_errors():
    rng = np.random.default_rng(4)
    t, s, e = rng.random(12_000), rng.random(12_000), rng.random(12_000) < 0.5
    assert concordance_index(t, s, e) == pytest.approx(lifelines_concordance_index(t, s, e))
    assert concordance_index([1, 2, 3], [1, 2, 3], [1, 1, 0]) == 1.0
    with pytest.raises(ZeroDivisionError):
        concordance_index([1, 2], [1, 2], [0, 0])
    with pytest.raises(ValueError):
        concordance_index([1, 2], [1, np.nan], [1, 0])


def test_confidence_interval_is_lifelines_log_log_greenwood_interval():
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(11)
    durations = rng.exponential(10, 400).round()
    events = rng.random(400) < 0.7
    lower, upper = kaplan_meier(durations, events).confidence_interval()
    reference = KaplanMeierFitter().fit(durations, events).confidence_interval_
    np.testing.assert_allclose(lower, reference.iloc[:, 0].to_numpy(), atol=1e-12)
    np.testing.assert_allclose(upper, reference.iloc[:, 1].to_numpy(), atol=1e-12)
    assert (lower <= upper).all() and lower.min() >= 0 and upper.max() <= 1
