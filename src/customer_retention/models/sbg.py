r"""Shifted-beta-geometric (sBG) model of retention in a contractual setting.

Fader, P. S. & Hardie, B. G. S. (2007). "How to project customer retention". *Journal of
Interactive Marketing* 21(1), 76-90; and Fader, P. S. & Hardie, B. G. S. (2010).
"Customer-base valuation in a contractual setting: the perils of ignoring heterogeneity".
*Marketing Science* 29(1), 85-93.

Story: at the end of every period an active subscriber cancels with probability
:math:`\theta` (geometric lifetime), and :math:`\theta \sim \mathrm{Beta}(\alpha, \beta)` across
subscribers. Heterogeneity makes the cohort's retention rate rise over time (the customers
most likely to cancel leave first).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import betaln, digamma, hyp2f1

from ._optimize import MaximumLikelihoodModel, maximise_log_likelihood
from ._validation import (
    as_float_array,
    check_fitted,
    check_integer,
    check_non_negative,
    check_positive,
    to_output,
)

_PARAM_NAMES = ("alpha", "beta")


def _log_likelihood_terms(alpha: float, beta: float, n_alive: np.ndarray, *, gradient: bool):
    r"""Total log-likelihood of a cohort observed for :math:`n` periods:

    .. math::
        LL = \sum_{t=1}^{n} (n_{t-1} - n_t) \ln P(T=t) + n_n \ln S(n), \quad
        P(T=t) = \frac{B(\alpha+1, \beta+t-1)}{B(\alpha,\beta)}, \quad
        S(t) = \frac{B(\alpha, \beta+t)}{B(\alpha,\beta)}
    """
    periods = np.arange(1, len(n_alive))
    lost = n_alive[:-1] - n_alive[1:]
    still = n_alive[-1]
    horizon = periods[-1]
    beta_ab = betaln(alpha, beta)
    log_p = betaln(alpha + 1, beta + periods - 1) - beta_ab
    log_s = betaln(alpha, beta + horizon) - beta_ab
    # 0 * log(...) is 0 even when a probability underflows
    ll = np.sum(np.where(lost > 0, lost * log_p, 0.0)) + (still * log_s if still > 0 else 0.0)
    if not gradient:
        return ll, None
    psi_ab = digamma(alpha + beta)
    psi_abt = digamma(alpha + beta + periods)
    d_log_p_alpha = digamma(alpha + 1) - psi_abt - digamma(alpha) + psi_ab
    d_log_p_beta = digamma(beta + periods - 1) - psi_abt - digamma(beta) + psi_ab
    psi_abn = digamma(alpha + beta + horizon)
    d_log_s_alpha = psi_ab - psi_abn
    d_log_s_beta = digamma(beta + horizon) - psi_abn - digamma(beta) + psi_ab
    grad = np.array(
        [
            lost @ d_log_p_alpha + still * d_log_s_alpha,
            lost @ d_log_p_beta + still * d_log_s_beta,
        ]
    )
    return ll, grad


def _validate_n_alive(n_alive: Any) -> np.ndarray:
    counts = as_float_array(n_alive, "n_alive")
    if len(counts) < 2:
        raise ValueError(
            "n_alive needs at least two values: the cohort size and the number still active "
            "after one period"
        )
    check_non_negative(counts, "n_alive")
    if counts[0] <= 0:
        raise ValueError("n_alive[0] (the cohort size) must be positive")
    increases = np.flatnonzero(np.diff(counts) > 0)
    if increases.size:
        k = int(increases[0]) + 1
        raise ValueError(
            f"n_alive must be non-increasing (customers cannot come back); "
            f"n_alive[{k}] = {counts[k]:g} > n_alive[{k - 1}] = {counts[k - 1]:g}"
        )
    return counts


class ShiftedBetaGeometric(MaximumLikelihoodModel):
    r"""Shifted-beta-geometric (sBG) model of contract renewals.

    Fader & Hardie (2007), "How to project customer retention", *J. Interactive Marketing*.

    Parameters (estimated by ``fit``): ``alpha``, ``beta`` of the beta distribution of the
    per-period cancellation probability :math:`\theta` (mean churn :math:`\alpha/(\alpha+\beta)`).

    * survival: :math:`S(t) = B(\alpha, \beta+t) / B(\alpha, \beta)`, the share of the cohort
      still active after :math:`t` periods (:math:`S(0) = 1`);
    * retention rate: :math:`r_t = S(t)/S(t-1) = (\beta+t-1)/(\alpha+\beta+t-1)`.

    ``fit(n_alive)`` takes the cohort curve: ``n_alive[0]`` is the cohort size and
    ``n_alive[k]`` the number still active after ``k`` periods. Counts need not be integers:
    the estimates depend only on the proportions, so a curve in percent gives the same
    ``alpha``, ``beta`` as the counts (but ``log_likelihood_`` is scaled accordingly; use counts
    when the likelihood matters).

    Constructor options: ``max_iter`` and ``tol`` (iteration limit and projected-gradient
    tolerance of L-BFGS-B on the mean log-likelihood).

    Attributes set by ``fit``: ``params_`` (dict alpha, beta), ``log_likelihood_``,
    ``n_periods_``.
    """

    def __init__(self, *, max_iter: int = 2000, tol: float = 1e-10):
        super().__init__(max_iter=max_iter, tol=tol)
        self.n_periods_: int | None = None

    @classmethod
    def from_params(cls, alpha: float, beta: float) -> ShiftedBetaGeometric:
        """A model with given (e.g. published) parameters, ready for predictions."""
        values = as_float_array([alpha, beta], "params")
        check_positive(values, "params (alpha, beta)")
        model = cls()
        model.params_ = dict(zip(_PARAM_NAMES, map(float, values), strict=True))
        return model

    def fit(self, n_alive: Any) -> ShiftedBetaGeometric:
        """Estimate alpha, beta from one cohort's numbers still active after 0, 1, 2, ... periods."""
        counts = _validate_n_alive(n_alive)
        if counts[-1] == counts[0]:
            raise ValueError("n_alive shows no churn at all; alpha and beta are not identified")
        scale = counts[0]

        def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            params = np.exp(log_params)
            ll, grad = _log_likelihood_terms(*params, counts, gradient=True)
            if not np.isfinite(ll):
                return np.inf, np.zeros_like(log_params)
            return -ll / scale, -grad * params / scale

        log_params = maximise_log_likelihood(
            objective,
            np.zeros(2),
            _PARAM_NAMES,
            "ShiftedBetaGeometric",
            max_iter=self.max_iter,
            tol=self.tol,
        )
        params = np.exp(log_params)
        self.params_ = dict(zip(_PARAM_NAMES, map(float, params), strict=True))
        self.log_likelihood_ = float(_log_likelihood_terms(*params, counts, gradient=False)[0])
        self.n_periods_ = len(counts) - 1
        return self

    def _params(self) -> tuple[float, float]:
        check_fitted(self)
        return self.params_["alpha"], self.params_["beta"]

    def survival(self, periods: Any) -> Any:
        r"""Share of a new cohort still active after ``periods`` periods,
        :math:`S(t) = B(\alpha, \beta+t)/B(\alpha, \beta)`. Multiply by the cohort size to
        project counts."""
        alpha, beta = self._params()
        t = as_float_array(periods, "periods")
        check_non_negative(t, "periods")
        return to_output(np.exp(betaln(alpha, beta + t) - betaln(alpha, beta)), periods)

    def retention_rate(self, periods: Any) -> Any:
        r"""Share of those active after period :math:`t-1` who renew for period :math:`t`:
        :math:`r_t = (\beta+t-1)/(\alpha+\beta+t-1)`, for :math:`t \ge 1`."""
        alpha, beta = self._params()
        t = as_float_array(periods, "periods")
        if (t < 1).any():
            raise ValueError("periods must be >= 1 for a retention rate (renewal of period t)")
        return to_output((beta + t - 1) / (alpha + beta + t - 1), periods)

    def derl(self, discount_rate: float, renewals: Any = 0) -> Any:
        r"""Discounted expected residual lifetime of a customer who has made ``renewals``
        renewals (Fader & Hardie 2010, eq. 6), in units of the per-period payment, just before
        her next renewal decision; the next payment (if she renews) is not discounted:

        .. math::
            DERL(d \mid \alpha, \beta, n) = \sum_{k \ge 0} \frac{S(n+1+k)}{S(n)} (1+d)^{-k}
              = \frac{\beta+n}{\alpha+\beta+n}\,
                {}_2F_1\Big(1, \beta+n+1; \alpha+\beta+n+1; \frac{1}{1+d}\Big)

        Multiply by the margin per period to get the residual value of the customer.
        """
        alpha, beta = self._params()
        d = as_float_array(discount_rate, "discount_rate")
        check_positive(d, "discount_rate")
        n = as_float_array(renewals, "renewals")
        check_non_negative(n, "renewals")
        check_integer(n, "renewals")
        value = (
            (beta + n)
            / (alpha + beta + n)
            * hyp2f1(1.0, beta + n + 1, alpha + beta + n + 1, 1 / (1 + d))
        )
        return to_output(np.asarray(value, dtype=float), discount_rate, renewals)


def simulate_sbg_cohort(
    n_customers: int,
    n_periods: int,
    alpha: float,
    beta: float,
    *,
    seed: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Simulate a cohort's number still active after 0..``n_periods`` periods (vectorised).

    Each customer draws ``theta ~ Beta(alpha, beta)`` and cancels in period
    ``L ~ Geometric(theta)`` (L >= 1); she is active after k periods when ``L > k``.
    """
    rng = np.random.default_rng(seed)
    theta = rng.beta(alpha, beta, size=n_customers)
    lifetime = rng.geometric(np.clip(theta, 1e-300, 1.0))
    ended_by = np.cumsum(np.bincount(np.minimum(lifetime, n_periods + 1), minlength=n_periods + 2))
    return (n_customers - ended_by[: n_periods + 1]).astype(float)
