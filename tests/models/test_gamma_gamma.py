"""Gamma-Gamma: published CDNOW figures (Fader & Hardie 2013), invariants, recovery, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime

from customer_retention.models import GammaGamma, NotFittedError, simulate_gamma_gamma
from customer_retention.models.gamma_gamma import _log_likelihood_terms


@pytest.fixture(scope="module")
def repeat_buyers(cdnow_summary: pd.DataFrame) -> pd.DataFrame:
    return cdnow_summary[cdnow_summary["frequency"] > 0]


@pytest.fixture(scope="module")
def cdnow_model(repeat_buyers: pd.DataFrame) -> GammaGamma:
    return GammaGamma().fit(repeat_buyers["frequency"], repeat_buyers["monetary_value"])


def test_cdnow_repeat_buyers(repeat_buyers: pd.DataFrame) -> None:
    assert len(repeat_buyers) == 946
    assert round(repeat_buyers["monetary_value"].mean(), 2) == 35.08


def test_cdnow_parameters_and_log_likelihood(cdnow_model: GammaGamma) -> None:
    # published p, q, gamma = 6.25, 3.74, 15.44 (2 decimals); LL -4055.92
    assert round(cdnow_model.params_["p"], 2) == 6.25
    assert round(cdnow_model.params_["q"], 2) == 3.74
    assert round(cdnow_model.params_["gamma"], 2) == 15.44
    assert round(cdnow_model.log_likelihood_, 2) == -4055.92
    assert cdnow_model.n_customers_ == 946


def test_cdnow_log_likelihood_at_published_parameters(repeat_buyers: pd.DataFrame) -> None:
    model = GammaGamma.from_params(p=6.25, q=3.74, gamma=15.44)
    ll = model.individual_log_likelihood(
        repeat_buyers["frequency"], repeat_buyers["monetary_value"]
    )
    # the published parameters are rounded to 2 decimals, which costs < 0.01 of log-likelihood
    assert ll.sum() == pytest.approx(-4055.92, abs=0.01)


def test_conditional_expected_value_is_a_weighted_average(
    repeat_buyers: pd.DataFrame, cdnow_model: GammaGamma
) -> None:
    x, m = repeat_buyers["frequency"], repeat_buyers["monetary_value"]
    expected = cdnow_model.conditional_expected_value(x, m)
    assert isinstance(expected, pd.Series) and expected.index.equals(repeat_buyers.index)
    population = cdnow_model.mean_transaction_value
    p, q, gamma = cdnow_model.params_.values()
    assert population == pytest.approx(p * gamma / (q - 1))
    low, high = np.minimum(m, population), np.maximum(m, population)
    assert ((expected >= low - 1e-9) & (expected <= high + 1e-9)).all()
    # more purchases -> closer to the customer's own mean
    shrink = cdnow_model.conditional_expected_value([1, 5, 50, 5000], 100.0)
    assert np.all(np.diff(shrink) > 0) and shrink[-1] == pytest.approx(100.0, rel=1e-3)
    # no repeat purchase -> population mean, whatever monetary_value says
    assert cdnow_model.conditional_expected_value(0, 0.0) == pytest.approx(population)
    assert cdnow_model.conditional_expected_value(0, 999.0) == pytest.approx(population)


def test_analytic_gradient_matches_finite_differences(repeat_buyers: pd.DataFrame) -> None:
    x = repeat_buyers["frequency"].to_numpy()
    m = repeat_buyers["monetary_value"].to_numpy()
    w = np.ones_like(x)
    for params in ([6.25, 3.74, 15.44], [1.0, 0.8, 3.0]):
        _, grad = _log_likelihood_terms(*params, x, m, w, gradient=True)
        numeric = approx_fprime(
            np.array(params),
            lambda q: w @ _log_likelihood_terms(*q, x, m, w, gradient=False)[0],
            1e-7,
        )
        np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-3)


def test_parameter_recovery() -> None:
    rng = np.random.default_rng(21)
    frequency = 1 + rng.poisson(3.0, 40_000)
    params = {"p": 6.0, "q": 4.0, "gamma": 15.0}
    sim = simulate_gamma_gamma(frequency, **params, seed=22)
    model = GammaGamma().fit(sim["frequency"], sim["monetary_value"])
    for name, value in params.items():
        assert model.params_[name] == pytest.approx(value, rel=0.1), name


def test_large_frequency_is_finite(cdnow_model: GammaGamma) -> None:
    value = cdnow_model.conditional_expected_value([1e4, 1e6], [20.0, 20.0])
    assert np.all(np.isfinite(value))
    ll = cdnow_model.individual_log_likelihood([1e4], [20.0])
    assert np.isfinite(ll[0])


@pytest.mark.parametrize(
    ("frequency", "monetary_value", "message"),
    [
        ([], [], "frequency is empty"),
        (
            [1, 0, 2],
            [10, 0, 12],
            "frequency must be > 0: the Gamma-Gamma model is fitted on repeat",
        ),
        ([1, 2], [10, np.nan], "monetary_value contains 1 NaN"),
        ([1, 2], [10, -5], "monetary_value must be non-negative"),
        ([1, 2], [10, 0], "monetary_value must be > 0 for customers with frequency > 0"),
        ([1, -2], [10, 5], "frequency must be non-negative"),
        ([1, 2.5], [10, 5], "frequency must hold whole numbers"),
        ([1, 2, 3], [10, 5], "frequency, monetary_value must have the same length"),
    ],
)
def test_fit_input_errors(frequency, monetary_value, message) -> None:
    with pytest.raises(ValueError, match=message):
        GammaGamma().fit(frequency, monetary_value)


def test_predict_before_fit() -> None:
    model = GammaGamma()
    with pytest.raises(NotFittedError, match="GammaGamma instance is not fitted yet"):
        model.conditional_expected_value([1], [10.0])
    with pytest.raises(NotFittedError, match="not fitted yet"):
        _ = model.mean_transaction_value
