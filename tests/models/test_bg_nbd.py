"""BG/NBD: published CDNOW figures (Fader, Hardie & Lee 2005), invariants, recovery, errors."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime
from scipy.special import hyp2f1

from customer_retention.models import BetaGeo, NotFittedError, simulate_bg_nbd
from customer_retention.models.bg_nbd import _BGData, _euler_hyp2f1_term, _log_likelihood

PUBLISHED = {"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259}
TRUE = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}


@pytest.fixture(scope="module")
def cdnow_model(cdnow_summary: pd.DataFrame) -> BetaGeo:
    s = cdnow_summary
    return BetaGeo().fit(s["frequency"], s["recency"], s["T"])


@pytest.fixture(scope="module")
def published_model() -> BetaGeo:
    return BetaGeo.from_params(**PUBLISHED)


# ---------------------------------------------------------------- published figures (CDNOW)
def test_cdnow_summary_counts(cdnow_summary: pd.DataFrame) -> None:
    assert len(cdnow_summary) == 2357
    assert cdnow_summary["frequency"].sum() == 2457
    assert cdnow_summary["frequency_holdout"].sum() == 1882
    assert (cdnow_summary["frequency"] == 0).sum() == 1411


def test_cdnow_parameters_and_log_likelihood(cdnow_model: BetaGeo) -> None:
    # published to 4 decimals; LL to 2 decimals
    for name, value in PUBLISHED.items():
        assert round(cdnow_model.params_[name], 4) == value, name
    assert round(cdnow_model.log_likelihood_, 2) == -9582.43
    assert cdnow_model.n_customers_ == 2357


def test_cdnow_log_likelihood_at_published_parameters(
    cdnow_summary: pd.DataFrame, published_model: BetaGeo
) -> None:
    s = cdnow_summary
    ll = published_model.individual_log_likelihood(s["frequency"], s["recency"], s["T"])
    assert ll.sum() == pytest.approx(-9582.43, abs=0.005)


def test_cdnow_holdout_conditional_expectations(
    cdnow_summary: pd.DataFrame, cdnow_model: BetaGeo, published_model: BetaGeo
) -> None:
    s = cdnow_summary
    for model in (cdnow_model, published_model):
        expected = model.conditional_expected_purchases(39, s["frequency"], s["recency"], s["T"])
        assert isinstance(expected, pd.Series)
        assert expected.index.equals(s.index)
        assert round(expected.sum(), 1) == 1653.4
        zero = s["frequency"] == 0
        assert round(expected[zero].mean(), 3) == 0.225
    assert round(s.loc[s["frequency"] == 0, "frequency_holdout"].mean(), 3) == 0.237


def test_fitted_log_likelihood_equals_sum_of_individual(
    cdnow_summary: pd.DataFrame, cdnow_model: BetaGeo
) -> None:
    s = cdnow_summary
    ll = cdnow_model.individual_log_likelihood(s["frequency"], s["recency"], s["T"])
    assert ll.sum() == pytest.approx(cdnow_model.log_likelihood_, abs=1e-8)


# ---------------------------------------------------------------- invariants
def test_probability_alive_bounds(cdnow_summary: pd.DataFrame, cdnow_model: BetaGeo) -> None:
    s = cdnow_summary
    p = cdnow_model.probability_alive(s["frequency"], s["recency"], s["T"])
    assert ((p >= 0) & (p <= 1)).all()
    assert (p[s["frequency"] == 0] == 1).all()
    # a longer silence since the last purchase lowers P(alive)
    silences = cdnow_model.probability_alive(3, [39, 30, 20, 10, 1], 39)
    assert np.all(np.diff(silences) < 0)


def test_conditional_expectation_increases_with_horizon(cdnow_model: BetaGeo) -> None:
    horizons = np.array([0, 1, 5, 10, 39, 100, 1000])
    for x, t_x in [(0, 0), (1, 5), (5, 30), (20, 38)]:
        values = cdnow_model.conditional_expected_purchases(horizons, x, t_x, 39)
        assert values[0] == 0
        assert np.all(np.diff(values) > 0)
    unconditional = cdnow_model.expected_purchases(horizons)
    assert unconditional[0] == 0
    assert np.all(np.diff(unconditional) > 0)


def test_scalar_inputs_give_scalar(cdnow_model: BetaGeo) -> None:
    assert isinstance(cdnow_model.probability_alive(2, 10, 39), float)
    assert isinstance(cdnow_model.conditional_expected_purchases(10, 2, 10, 39), float)
    assert isinstance(cdnow_model.expected_purchases(39), float)


def test_euler_transformation_matches_textbook_formula() -> None:
    r, a, b = 0.2426, 0.7929, 2.4259
    x = np.array([0.0, 1, 3, 10, 40])
    for z in (0.1, 0.5, 0.9):
        textbook = (1 - z) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
        np.testing.assert_allclose(
            _euler_hyp2f1_term(r, a, b, x, np.full(5, z)), textbook, rtol=1e-10
        )


def test_large_frequency_is_finite(published_model: BetaGeo) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, t_x, big_t = [1e4, 1e4, 1e5], [39.0, 30.0, 39.0], [39.0, 39.0, 39.0]
        alive = published_model.probability_alive(x, t_x, big_t)
        expected = published_model.conditional_expected_purchases(39, x, t_x, big_t)
        ll = published_model.individual_log_likelihood(x, t_x, big_t)
        assert np.all(np.isfinite(alive)) and np.all(np.isfinite(expected))
        assert np.all(np.isfinite(ll))
        assert alive[0] == pytest.approx(1.0, abs=1e-3) and alive[1] < 1e-50
        # a customer buying ~250 times a week who is surely alive keeps buying (fewer after churn)
        assert 5000 < expected[0] < 1e4


def test_fit_with_a_very_large_frequency(cdnow_summary: pd.DataFrame) -> None:
    s = cdnow_summary
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = BetaGeo().fit(
            np.r_[s["frequency"], 1e4], np.r_[s["recency"], 38.5], np.r_[s["T"], 39.0]
        )
    assert np.isfinite(model.log_likelihood_)
    assert all(np.isfinite(v) and v > 0 for v in model.params_.values())


def test_consistent_with_simulation_law_of_total_expectation() -> None:
    """Averaged over customers, E[purchases in (T, T+t] | history] = E[X(T+t)] - E[X(T)]."""
    model = BetaGeo.from_params(**TRUE)
    sim = simulate_bg_nbd(30.0, **TRUE, n_customers=200_000, seed=11)
    assert sim["frequency"].mean() == pytest.approx(model.expected_purchases(30), rel=0.02)
    conditional = model.conditional_expected_purchases(
        20, sim["frequency"], sim["recency"], sim["T"]
    )
    target = model.expected_purchases(50) - model.expected_purchases(30)
    assert conditional.mean() == pytest.approx(target, rel=0.02)


# ---------------------------------------------------------------- estimation
def test_analytic_gradient_matches_finite_differences(cdnow_summary: pd.DataFrame) -> None:
    s = cdnow_summary
    data = _BGData(
        s["frequency"].to_numpy(),
        s["recency"].to_numpy(),
        s["T"].to_numpy(),
        np.ones(len(s)),
        compress=True,
    )
    for params in ([0.24, 4.4, 0.79, 2.4], [1.3, 0.7, 2.5, 0.6]):
        _, grad = _log_likelihood(*params, data, gradient=True)
        numeric = approx_fprime(
            np.array(params), lambda p: _log_likelihood(*p, data, gradient=False)[0], 1e-7
        )
        np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-3)


def test_weights_equal_repeated_rows() -> None:
    x, t_x, big_t = np.array([0, 1, 3, 2]), np.array([0, 5, 30, 20.5]), np.array([39, 38, 39, 30])
    counts = np.array([50, 20, 7, 9])
    weighted = BetaGeo().fit(x, t_x, big_t, weights=counts)
    repeated = BetaGeo().fit(np.repeat(x, counts), np.repeat(t_x, counts), np.repeat(big_t, counts))
    for name in PUBLISHED:
        assert weighted.params_[name] == pytest.approx(repeated.params_[name], rel=1e-5)
    assert weighted.log_likelihood_ == pytest.approx(repeated.log_likelihood_, rel=1e-9)


def test_parameter_recovery_on_one_million_customers() -> None:
    """Simulated from known parameters; also the scale requirement (seconds, not minutes)."""
    rng = np.random.default_rng(3)
    big_t = rng.uniform(10, 52, 1_000_000)
    sim = simulate_bg_nbd(big_t, **TRUE, seed=4)
    start = time.perf_counter()
    model = BetaGeo().fit(sim["frequency"], sim["recency"], sim["T"])
    elapsed = time.perf_counter() - start
    for name, value in TRUE.items():
        assert model.params_[name] == pytest.approx(value, rel=0.03), name
    assert elapsed < 30, f"fitting 1,000,000 customers took {elapsed:.1f} s"


def test_parameter_recovery_small_sample_other_parameters() -> None:
    params = {"r": 1.5, "alpha": 10.0, "a": 2.0, "b": 6.0}
    sim = simulate_bg_nbd(np.full(50_000, 52.0), **params, seed=5)
    model = BetaGeo().fit(sim["frequency"], sim["recency"], sim["T"])
    for name, value in params.items():
        assert model.params_[name] == pytest.approx(value, rel=0.15), name


# ---------------------------------------------------------------- input errors
@pytest.mark.parametrize(
    ("frequency", "recency", "T", "message"),
    [
        ([], [], [], "frequency is empty"),
        ([1, 2], [np.nan, 3], [10, 10], "recency contains 1 NaN"),
        ([1, -2], [1, 3], [10, 10], "frequency must be non-negative"),
        ([1, 2], [1, -3], [10, 10], "recency must be non-negative"),
        ([1, 2], [1, 3], [10, -1], "T must be non-negative"),
        ([1, 2], [1, 12], [10, 10], "recency must not exceed T"),
        ([1.5, 2], [1, 3], [10, 10], "frequency must hold whole numbers"),
        ([1, 2, 3], [1, 3], [10, 10, 10], "frequency, recency must have the same length"),
        ([1, 2], [1, 3], [10, 10, 10], "T must have length 1 or 2"),
        ([0, 2], [1, 3], [10, 10], "recency must be 0 when frequency is 0"),
        ([1, 2], [1, 3], [np.inf, 10], "T contains infinite"),
        ([1, 2], ["a", 3], [10, 10], "recency must be numeric"),
    ],
)
def test_fit_input_errors(frequency, recency, T, message) -> None:
    with pytest.raises(ValueError, match=message):
        BetaGeo().fit(frequency, recency, T)


def test_weights_errors() -> None:
    with pytest.raises(ValueError, match="weights must have one value per customer"):
        BetaGeo().fit([0, 1], [0, 1], 10, weights=[1, 2, 3])
    with pytest.raises(ValueError, match="weights must be non-negative"):
        BetaGeo().fit([0, 1], [0, 1], 10, weights=[1, -2])


def test_prediction_errors(published_model: BetaGeo) -> None:
    with pytest.raises(ValueError, match="t must be non-negative"):
        published_model.conditional_expected_purchases(-1, 1, 1, 10)
    with pytest.raises(ValueError, match="t must be a scalar or have one value per customer"):
        published_model.conditional_expected_purchases([1, 2, 3], [1, 2], [1, 2], 10)
    with pytest.raises(ValueError, match="recency must not exceed T"):
        published_model.probability_alive(1, 11, 10)
    with pytest.raises(ValueError, match="params .r, alpha, a, b. must be strictly positive"):
        BetaGeo.from_params(r=0.2, alpha=-1, a=1, b=1)


def test_predict_before_fit() -> None:
    model = BetaGeo()
    for call in (
        lambda: model.probability_alive(1, 1, 10),
        lambda: model.conditional_expected_purchases(5, 1, 1, 10),
        lambda: model.expected_purchases(5),
        lambda: model.individual_log_likelihood(1, 1, 10),
    ):
        with pytest.raises(NotFittedError, match="BetaGeo instance is not fitted yet"):
            call()
    assert issubclass(NotFittedError, ValueError)
    assert "not fitted" in repr(model)


def test_probability_no_purchase_is_calibrated_on_simulated_futures():
    """Simulate each customer's purchases over (0, T + t] under the BG/NBD story directly; the
    predicted P(no purchase in (T, T + t]) must match the observed share, overall and by
    frequency group."""
    rng = np.random.default_rng(5)
    n, big_t, horizon = 30_000, 30.0, 13.0
    rate = rng.gamma(TRUE["r"], 1 / TRUE["alpha"], n)
    churn = rng.beta(TRUE["a"], TRUE["b"], n)
    x, t_x, quiet = np.zeros(n), np.zeros(n), np.ones(n, dtype=bool)
    for i in range(n):
        times = np.cumsum(rng.exponential(1 / rate[i], 200))
        times = times[times <= big_t + horizon]
        alive_after = rng.random(len(times)) >= churn[i]  # churns right after a purchase
        dead_at = np.flatnonzero(~alive_after)
        times = times[: dead_at[0] + 1] if len(dead_at) else times
        past = times[times <= big_t]
        x[i], t_x[i] = len(past), past[-1] if len(past) else 0.0
        quiet[i] = not np.any(times > big_t)
    model = BetaGeo.from_params(**TRUE)
    predicted = model.probability_no_purchase(horizon, x, t_x, np.full(n, big_t))
    assert np.all((predicted >= 0) & (predicted <= 1))
    assert predicted.mean() == pytest.approx(quiet.mean(), abs=0.01)
    for group in (x == 0, (x >= 1) & (x <= 2), x >= 3):
        assert predicted[group].mean() == pytest.approx(quiet[group].mean(), abs=0.02)
    assert model.probability_no_purchase(0.0, x, t_x, np.full(n, big_t)) == pytest.approx(1.0)
    # An endless window is quiet only for customers who have already churned.
    assert model.probability_no_purchase(1e12, x, t_x, np.full(n, big_t)) == pytest.approx(
        1 - model.probability_alive(x, t_x, np.full(n, big_t)), abs=0.005
    )
