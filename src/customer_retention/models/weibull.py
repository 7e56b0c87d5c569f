"""Weibull proportional-hazards regression, fitted by maximum likelihood in numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from ._validation import NotFittedError


class WeibullPH:
    """Weibull proportional-hazards regression for right-censored durations.

    Cumulative hazard and survival of a subject with covariates x at time t > 0:

        H(t | x) = t^rho * exp(alpha + x' beta),    S(t | x) = exp(-H(t | x)),

    i.e. hazard h(t | x) = rho t^(rho - 1) exp(alpha + x' beta): a Weibull baseline whose
    scale is shifted proportionally by exp(x' beta) (Cox 1972's proportional hazards with a
    parametric baseline; equivalently a Weibull accelerated-failure-time model, Kalbfleisch &
    Prentice 2002, ch. 2). The log-likelihood of durations t_i with event flags d_i is

        l = sum_i d_i (log rho + (rho - 1) log t_i + alpha + x_i' beta) - t_i^rho exp(alpha + x_i' beta)

    minus ``penalizer`` / 2 * ||beta||^2 on standardised covariates. It is maximised with
    L-BFGS-B and the analytic gradient, so a million rows fit in seconds; unlike a Cox model
    the fitted curve extends past the longest follow-up (a parametric tail).

    Attributes (after ``fit``):
        params_: dict with ``rho``, ``alpha`` and ``beta`` (a Series by covariate, original scale).
        hazard_ratios_: exp(beta) per covariate.
        log_likelihood_: the maximised (unpenalised) log-likelihood.
    """

    def __init__(self, penalizer: float = 0.0, max_iter: int = 500) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter

    def fit(self, X: pd.DataFrame, durations, events) -> WeibullPH:
        x = np.asarray(X, dtype=float)
        t = np.asarray(durations, dtype=float)
        d = np.asarray(events, dtype=float)
        if len(x) == 0 or len(t) != len(x) or len(d) != len(x):
            raise ValueError("X, durations and events must be non-empty and of the same length")
        if np.any(t <= 0) or not np.all(np.isfinite(t)):
            raise ValueError("durations must be finite and > 0")
        if np.isnan(x).any():
            raise ValueError("X holds missing values; impute them first")
        self.columns_ = (
            list(X.columns) if isinstance(X, pd.DataFrame) else [f"x{i}" for i in range(x.shape[1])]
        )
        self._mean = x.mean(axis=0)
        self._scale = np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        z = (x - self._mean) / self._scale
        log_t = np.log(t)
        n_events = max(d.sum(), 1.0)
        k = z.shape[1]

        def negative_log_likelihood(theta: np.ndarray) -> tuple[float, np.ndarray]:
            log_rho, alpha, beta = theta[0], theta[1], theta[2:]
            rho = np.exp(log_rho)
            eta = alpha + z @ beta
            cumulative = np.exp(np.clip(rho * log_t + eta, -700, 700))
            ll = np.sum(d * (log_rho + (rho - 1) * log_t + eta) - cumulative)
            residual = d - cumulative
            grad_log_rho = np.sum(d * (1 + rho * log_t) - cumulative * rho * log_t)
            grad = np.concatenate([[grad_log_rho, residual.sum()], z.T @ residual])
            penalty = 0.5 * self.penalizer * n_events * beta @ beta
            grad[2:] -= self.penalizer * n_events * beta
            return -(ll - penalty) / n_events, -grad / n_events

        start = np.zeros(k + 2)
        start[1] = np.log(n_events / np.sum(t))
        result = minimize(
            negative_log_likelihood,
            start,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": self.max_iter},
        )
        self.converged_ = bool(result.success)
        log_rho, alpha, beta = result.x[0], result.x[1], result.x[2:]
        beta_original = beta / self._scale
        self.params_ = {
            "rho": float(np.exp(log_rho)),
            "alpha": float(alpha - self._mean @ beta_original),
            "beta": pd.Series(beta_original, index=self.columns_),
        }
        self.hazard_ratios_ = np.exp(self.params_["beta"])
        eta = alpha + z @ beta
        rho = np.exp(log_rho)
        self.log_likelihood_ = float(
            np.sum(d * (log_rho + (rho - 1) * log_t + eta) - np.exp(rho * log_t + eta))
        )
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(
                "WeibullPH is not fitted yet: call fit(X, durations, events) first"
            )

    def predict_log_partial_hazard(self, X: pd.DataFrame) -> np.ndarray:
        """alpha + x' beta: higher means churning sooner."""
        self._check_fitted()
        x = np.asarray(X[self.columns_] if isinstance(X, pd.DataFrame) else X, dtype=float)
        return self.params_["alpha"] + x @ self.params_["beta"].to_numpy()

    def predict_survival(self, X: pd.DataFrame, times) -> np.ndarray:
        """S(t | x) for every row of X (rows) and every time (columns)."""
        eta = self.predict_log_partial_hazard(X)
        times = np.asarray(times, dtype=float)
        return np.exp(-np.exp(eta[:, None] + self.params_["rho"] * np.log(times)[None, :]))

    def predict_median(self, X: pd.DataFrame) -> np.ndarray:
        """Median time: the t with H(t | x) = log 2."""
        eta = self.predict_log_partial_hazard(X)
        return np.exp((np.log(np.log(2)) - eta) / self.params_["rho"])
