"""Weibull proportional-hazards regression, fitted by maximum likelihood in numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd

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

    minus ``penalizer`` * (number of events) / 2 * ||beta||^2 on standardised covariates. It is
    maximised by Newton steps theta <- theta - s H^-1 g on theta = (log rho, alpha, beta), with
    the exact gradient g, the analytic Hessian H evaluated on an evenly spaced subset of at
    most ``hessian_rows`` rows (scaled up), and s halved until the objective falls; it stops
    when every component of the gradient of the mean objective is below ``tol``. Because g is
    exact the fixed point is the exact optimum (H is refreshed while max |g| > 1e-6, then
    kept); some twenty passes over the data instead of L-BFGS-B's ~70, which also stopped
    short of the optimum on the landmark histories (hazard ratios up to ~1% off).
    Unlike a Cox model the fitted curve extends past the longest follow-up (a parametric tail).

    Attributes (after ``fit``):
        params_: dict with ``rho``, ``alpha`` and ``beta`` (a Series by covariate, original scale).
        hazard_ratios_: exp(beta) per covariate.
        log_likelihood_: the maximised (unpenalised) log-likelihood.
    """

    def __init__(
        self,
        penalizer: float = 0.0,
        max_iter: int = 100,
        tol: float = 1e-9,
        hessian_rows: int = 20_000,
    ) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter
        self.tol = tol
        self.hessian_rows = hessian_rows

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

        penalty = self.penalizer * n_events
        # Curvature from a fixed, evenly spaced subset of rows (all rows up to ``hessian_rows``):
        # it only sets the step, the gradient is exact, so the optimum is the exact one.
        sub = slice(None, None, max(1, -(-len(z) // self.hessian_rows)))
        ones_z = np.column_stack([np.ones(len(log_t[sub])), z[sub]])
        log_t_sub, d_sub, weight = log_t[sub], d[sub], len(z) / len(ones_z)

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            """-(l - penalty) / n_events and its gradient."""
            log_rho, alpha, beta = theta[0], theta[1], theta[2:]
            rho = np.exp(log_rho)
            eta = alpha + z @ beta
            rho_log_t = rho * log_t
            cumulative = np.exp(np.clip(rho_log_t + eta, -700, 700))
            ll = np.sum(d * (log_rho + (rho - 1) * log_t + eta) - cumulative)
            residual = d - cumulative
            grad = np.concatenate(
                [
                    [np.sum(d * (1 + rho_log_t) - cumulative * rho_log_t), residual.sum()],
                    z.T @ residual,
                ]
            )
            grad[2:] -= penalty * beta
            return -(ll - 0.5 * penalty * beta @ beta) / n_events, -grad / n_events

        def hessian(theta: np.ndarray) -> np.ndarray:
            """Second derivatives of the objective (on the row subset, scaled to all rows).

            With c = t^rho e^eta and u = rho log t: d2 l / dlog_rho2 = sum d u - c u^2 - c u,
            d2 l / dlog_rho d(alpha, beta) = -[1, z]' c u, d2 l / d(alpha, beta)2 =
            -[1, z]' diag(c) [1, z]; the penalty adds penalizer * n_events on the beta diagonal.
            """
            rho = np.exp(theta[0])
            u = rho * log_t_sub
            c = np.exp(np.clip(u + ones_z @ theta[1:], -700, 700))
            h = np.empty((k + 2, k + 2))
            h[0, 0] = np.sum(c * u * u + c * u - d_sub * u)
            h[0, 1:] = h[1:, 0] = ones_z.T @ (c * u)
            # einsum, not BLAS: multithreaded GEMM on this thin shape stalls on a busy machine
            h[1:, 1:] = np.einsum("ij,ik->jk", ones_z * c[:, None], ones_z)
            h *= weight
            h[2:, 2:] += penalty * np.eye(k)
            return h / n_events

        theta = np.zeros(k + 2)
        theta[1] = np.log(n_events / np.sum(t))
        value, grad = objective(theta)
        converged, iterations = False, 0
        while iterations < self.max_iter:
            if np.max(np.abs(grad)) < self.tol:
                converged = True
                break
            iterations += 1
            if iterations <= 3 or np.max(np.abs(grad)) > 1e-6:  # near the optimum H barely moves
                curvature = hessian(theta)
            step = _newton_step(curvature, grad)
            size = 1.0
            while size > 1e-10:  # halve the step until the objective falls
                candidate = theta - size * step
                new_value, new_grad = objective(candidate)
                if np.isfinite(new_value) and new_value <= value:
                    break
                size /= 2
            else:
                break
            theta, value, grad = candidate, new_value, new_grad
        self.converged_ = converged
        self.n_iter_ = iterations
        log_rho, alpha, beta = theta[0], theta[1], theta[2:]
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


def _newton_step(hessian: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """H^-1 g, with Levenberg damping added to H until it is positive definite."""
    damping = 0.0
    scale = float(np.max(np.abs(np.diag(hessian)))) or 1.0
    while True:
        try:
            factor = np.linalg.cholesky(hessian + damping * np.eye(len(gradient)))
            return np.linalg.solve(factor.T, np.linalg.solve(factor, gradient))
        except np.linalg.LinAlgError:
            damping = max(damping * 10, 1e-8 * scale)
