"""WeibullPH recovers simulated parameters and agrees with lifelines' Weibull AFT."""

import numpy as np
import pandas as pd
import pytest
from lifelines import WeibullAFTFitter

from customer_retention.models import NotFittedError, WeibullPH


def _simulate(n: int, rho: float, alpha: float, beta: np.ndarray, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"annual": rng.random(n) < 0.4, "usage": rng.normal(size=n)}).astype(float)
    eta = alpha + X.to_numpy() @ beta
    # H(t) = t^rho exp(eta) = E ~ Exp(1)  =>  t = (E exp(-eta))^(1/rho); censor at 800 days.
    t = (rng.exponential(size=n) * np.exp(-eta)) ** (1 / rho)
    return X, np.minimum(t, 800), t < 800


def test_recovers_simulated_parameters():
    beta = np.array([np.log(0.5), 0.3])
    X, t, d = _simulate(200_000, rho=0.8, alpha=-6.0, beta=beta)
    model = WeibullPH().fit(X, t, d)
    assert model.params_["rho"] == pytest.approx(0.8, rel=0.02)
    assert model.params_["alpha"] == pytest.approx(-6.0, abs=0.05)
    np.testing.assert_allclose(model.hazard_ratios_, np.exp(beta), rtol=0.03)
    assert model.converged_


def test_matches_lifelines_weibull_aft_log_likelihood():
    X, t, d = _simulate(3_000, rho=1.3, alpha=-7.0, beta=np.array([0.5, -0.2]), seed=3)
    ours = WeibullPH().fit(X, t, d)
    frame = X.assign(t=t, d=d)
    theirs = WeibullAFTFitter().fit(frame, "t", "d")
    assert ours.log_likelihood_ == pytest.approx(theirs.log_likelihood_, abs=1e-3)
    # AFT coefficients are -beta / rho in the PH parametrisation.
    rho = np.exp(theirs.params_.loc[("rho_", "Intercept")])
    assert ours.params_["rho"] == pytest.approx(rho, rel=1e-3)
    lifelines_beta = -theirs.params_.loc["lambda_"].drop("Intercept") * rho
    np.testing.assert_allclose(
        ours.params_["beta"][lifelines_beta.index], lifelines_beta, rtol=1e-3
    )


def test_survival_is_monotone_and_median_consistent():
    X, t, d = _simulate(5_000, rho=0.8, alpha=-6.0, beta=np.array([-0.7, 0.3]))
    model = WeibullPH(penalizer=0.01).fit(X, t, d)
    survival = model.predict_survival(X.iloc[:50], np.arange(1, 1000, 10))
    assert (np.diff(survival, axis=1) <= 0).all() and ((survival > 0) & (survival <= 1)).all()
    median = model.predict_median(X.iloc[:5])
    at_median = [model.predict_survival(X.iloc[[i]], [m])[0, 0] for i, m in enumerate(median)]
    np.testing.assert_allclose(at_median, 0.5)


def test_errors_are_clear():
    with pytest.raises(NotFittedError, match="call fit"):
        WeibullPH().predict_median(pd.DataFrame({"a": [1.0]}))
    with pytest.raises(ValueError, match="durations must be finite and > 0"):
        WeibullPH().fit(pd.DataFrame({"a": [1.0, 2.0]}), [0, 1], [1, 1])
    with pytest.raises(ValueError, match="impute them first"):
        WeibullPH().fit(pd.DataFrame({"a": [1.0, np.nan]}), [1, 1], [1, 1])


def test_newton_fit_reaches_the_penalised_optimum():
    """Whatever rows the curvature is taken from, the fit stops where the exact gradient of
    the penalised likelihood vanishes: the optimum a tightly converged BFGS also finds."""
    from scipy.optimize import minimize

    X, t, d = _simulate(30_000, rho=1.3, alpha=-7.0, beta=np.array([0.4, -0.2]), seed=3)
    fits = [WeibullPH(penalizer=0.01, hessian_rows=rows).fit(X, t, d) for rows in (500, 10**6)]
    z = (X.to_numpy() - X.to_numpy().mean(0)) / X.to_numpy().std(0)
    n_events, log_t = d.sum(), np.log(t)

    def objective(theta):
        eta = theta[1] + z @ theta[2:]
        rho = np.exp(theta[0])
        ll = np.sum(d * (theta[0] + (rho - 1) * log_t + eta) - np.exp(rho * log_t + eta))
        return -(ll - 0.5 * 0.01 * n_events * theta[2:] @ theta[2:]) / n_events

    start = np.r_[0.0, np.log(n_events / t.sum()), 0.0, 0.0]
    reference = minimize(objective, start, method="BFGS", options={"gtol": 1e-10}).x
    for model in fits:
        assert model.converged_
        assert model.params_["rho"] == pytest.approx(np.exp(reference[0]), rel=1e-6)
        np.testing.assert_allclose(
            model.params_["beta"].to_numpy() * X.to_numpy().std(0), reference[2:], atol=1e-6
        )
