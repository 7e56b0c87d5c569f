"""Maximum-likelihood helper shared by the models: L-BFGS-B on log-parameters."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize

# Parameters are optimised on the log scale; exp(+-30) covers every sensible value while
# keeping the likelihood finite when a parameter runs off (e.g. b -> infinity: nobody churns).
LOG_BOUND = 30.0


def maximise_log_likelihood(
    neg_mean_ll_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
    log_start: np.ndarray,
    names: tuple[str, ...],
    model_name: str,
    *,
    max_iter: int = 2000,
    tol: float = 1e-10,
) -> np.ndarray:
    """Minimise a negative mean log-likelihood (with analytic gradient) over log-parameters.

    Returns the optimal log-parameters. Warns (``RuntimeWarning``) when the optimiser did not
    report convergence and the gradient is not small, or when a parameter sits on its bound.
    """
    result = minimize(
        neg_mean_ll_and_grad,
        np.asarray(log_start, dtype=float),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-LOG_BOUND, LOG_BOUND)] * len(log_start),
        options={"maxiter": max_iter, "ftol": 1e-15, "gtol": tol, "maxcor": 20},
    )
    if not result.success and np.max(np.abs(result.jac)) > 1e-4:
        warnings.warn(
            f"{model_name} fit did not converge: {result.message}", RuntimeWarning, stacklevel=3
        )
    on_bound = np.abs(result.x) >= LOG_BOUND - 1e-6
    if on_bound.any():
        stuck = ", ".join(name for name, flag in zip(names, on_bound, strict=True) if flag)
        warnings.warn(
            f"{model_name} fit: parameter(s) {stuck} reached the bound exp(+-{LOG_BOUND:g}); "
            "the data do not identify them (e.g. no sign of churn)",
            RuntimeWarning,
            stacklevel=3,
        )
    return result.x


class MaximumLikelihoodModel:
    """Shared constructor and repr of the maximum-likelihood models of this package.

    ``max_iter`` and ``tol``: iteration limit and projected-gradient tolerance of L-BFGS-B on
    the mean log-likelihood. ``params_`` and ``log_likelihood_`` are None until ``fit``.
    """

    def __init__(self, *, max_iter: int = 2000, tol: float = 1e-10):
        self.max_iter = max_iter
        self.tol = tol
        self.params_: dict[str, float] | None = None
        self.log_likelihood_: float | None = None

    def __repr__(self) -> str:
        name = type(self).__name__
        if self.params_ is None:
            return f"{name}(not fitted)"
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"{name}({shown}, log_likelihood={self.log_likelihood_:.2f})"
