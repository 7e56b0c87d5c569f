r"""Gamma-Gamma model of the monetary value of repeat purchases.

Fader, P. S. & Hardie, B. G. S. (2013). "The Gamma-Gamma model of monetary value".
http://brucehardie.com/notes/025/ ; and Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005).
"RFM and CLV: using iso-value curves for customer base analysis". *Journal of Marketing
Research* 42(4), 415-430.

Story: the value of each transaction of a customer is :math:`z_i \sim \mathrm{Gamma}(p, \nu)`
(shape, rate), so her mean transaction value is :math:`p/\nu`; across customers
:math:`\nu \sim \mathrm{Gamma}(q, \gamma)`. Transaction values are assumed independent of the
purchase process (check: correlation of frequency and monetary value near 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln

from ._optimize import MaximumLikelihoodModel, maximise_log_likelihood
from ._validation import (
    as_float_array,
    broadcast_together,
    check_fitted,
    check_integer,
    check_non_negative,
    check_positive,
    check_same_length,
    to_output,
)

_PARAM_NAMES = ("p", "q", "gamma")


def _validate(frequency: Any, monetary_value: Any, *, repeat_buyers_only: bool):
    x = as_float_array(frequency, "frequency")
    m = as_float_array(monetary_value, "monetary_value")
    x, m = broadcast_together(frequency=x, monetary_value=m)
    check_non_negative(x, "frequency")
    check_integer(x, "frequency")
    check_non_negative(m, "monetary_value")
    if repeat_buyers_only and (x == 0).any():
        raise ValueError(
            f"frequency must be > 0: the Gamma-Gamma model is fitted on repeat buyers only; "
            f"found {int((x == 0).sum())} customer(s) with frequency 0 "
            "(select them out first, e.g. summary[summary['frequency'] > 0])"
        )
    if ((x > 0) & (m <= 0)).any():
        raise ValueError(
            "monetary_value must be > 0 for customers with frequency > 0 (mean value of their "
            f"repeat purchases); found {int(((x > 0) & (m <= 0)).sum())} value(s) <= 0"
        )
    return x, m


def _log_likelihood_terms(p, q, gamma, x, m, w, *, gradient: bool):
    r"""Per-customer log density of the mean repeat-purchase value :math:`m` given :math:`x`:

    .. math::
        \ell = \ln\Gamma(px+q) - \ln\Gamma(px) - \ln\Gamma(q) + q\ln\gamma + (px-1)\ln m
               + px\ln x - (px+q)\ln(\gamma+mx)
    """
    px = p * x
    log_m = np.log(m)
    log_x = np.log(x)
    log_gmx = np.log(gamma + m * x)
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * log_m
        + px * log_x
        - (px + q) * log_gmx
    )
    if not gradient:
        return ll, None
    psi_pxq = digamma(px + q)
    grad_p = (w * x) @ (psi_pxq - digamma(px) + log_m + log_x - log_gmx)
    grad_q = w @ (psi_pxq - digamma(q) + np.log(gamma) - log_gmx)
    grad_gamma = w @ (q / gamma - (px + q) / (gamma + m * x))
    return ll, np.array([grad_p, grad_q, grad_gamma])


class GammaGamma(MaximumLikelihoodModel):
    r"""Gamma-Gamma model of the average value of a customer's repeat purchases.

    Fader & Hardie (2013), "The Gamma-Gamma model of monetary value"; Fader, Hardie & Lee
    (2005), "RFM and CLV", *JMR*.

    Parameters (estimated by ``fit``): ``p`` -- shape of the transaction-value distribution
    within a customer; ``q``, ``gamma`` -- shape and rate of the gamma distribution of the
    customers' rate parameter :math:`\nu`. The mean transaction value across customers is
    :math:`p\gamma/(q-1)` (finite for :math:`q > 1`).

    ``fit`` uses customers with at least one repeat purchase (frequency :math:`x > 0`), each
    with :math:`m` = mean value of her :math:`x` repeat purchases; it maximises

    .. math::
        \sum \ln \frac{\Gamma(px+q)}{\Gamma(px)\Gamma(q)}
            \frac{\gamma^q\, m^{px-1} x^{px}}{(\gamma+mx)^{px+q}}

    (the density of :math:`m`, FH 2013 eq. 3) over log-parameters with L-BFGS-B and the
    analytic gradient. Customers with frequency 0 raise a ``ValueError`` (select repeat buyers
    first); they carry no information on spend in this model.

    Constructor options: ``max_iter`` and ``tol`` (iteration limit and projected-gradient
    tolerance of L-BFGS-B on the mean log-likelihood).

    Attributes set by ``fit``: ``params_`` (dict p, q, gamma), ``log_likelihood_``,
    ``n_customers_``.
    """

    def __init__(self, *, max_iter: int = 2000, tol: float = 1e-10):
        super().__init__(max_iter=max_iter, tol=tol)
        self.n_customers_: int | None = None

    @classmethod
    def from_params(cls, p: float, q: float, gamma: float) -> GammaGamma:
        """A model with given (e.g. published) parameters, ready for predictions."""
        values = as_float_array([p, q, gamma], "params")
        check_positive(values, "params (p, q, gamma)")
        model = cls()
        model.params_ = dict(zip(_PARAM_NAMES, map(float, values), strict=True))
        return model

    def fit(self, frequency: Any, monetary_value: Any, weights: Any = None) -> GammaGamma:
        """Estimate p, q, gamma on repeat buyers (all ``frequency`` must be > 0)."""
        x, m = _validate(frequency, monetary_value, repeat_buyers_only=True)
        if weights is None:
            w = np.ones_like(x)
        else:
            w = as_float_array(weights, "weights")
            check_same_length(frequency=x, weights=w)
            check_non_negative(w, "weights")
        total_weight = w.sum()

        def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            params = np.exp(log_params)
            ll, grad = _log_likelihood_terms(*params, x, m, w, gradient=True)
            total = w @ ll
            if not np.isfinite(total):
                return np.inf, np.zeros_like(log_params)
            return -total / total_weight, -grad * params / total_weight

        # start: p = 1, q = 2, gamma matching the mean spend (p * gamma / (q - 1) = mean m)
        mean_value = (w @ m) / total_weight
        start = np.log([1.0, 2.0, max(mean_value, 1e-8)])
        log_params = maximise_log_likelihood(
            objective, start, _PARAM_NAMES, "GammaGamma", max_iter=self.max_iter, tol=self.tol
        )
        params = np.exp(log_params)
        self.params_ = dict(zip(_PARAM_NAMES, map(float, params), strict=True))
        ll, _ = _log_likelihood_terms(*params, x, m, w, gradient=False)
        self.log_likelihood_ = float(w @ ll)
        self.n_customers_ = int(round(total_weight))
        return self

    def _params(self) -> tuple[float, float, float]:
        check_fitted(self)
        return tuple(self.params_[name] for name in _PARAM_NAMES)  # type: ignore[return-value]

    @property
    def mean_transaction_value(self) -> float:
        r"""Population mean of a customer's expected transaction value,
        :math:`E[p/\nu] = p\gamma/(q-1)` (infinite when :math:`q \le 1`)."""
        p, q, gamma = self._params()
        return p * gamma / (q - 1) if q > 1 else float("inf")

    def individual_log_likelihood(self, frequency: Any, monetary_value: Any) -> Any:
        """Log density of each repeat buyer's mean repeat-purchase value."""
        params = self._params()
        x, m = _validate(frequency, monetary_value, repeat_buyers_only=True)
        ll, _ = _log_likelihood_terms(*params, x, m, np.ones_like(x), gradient=False)
        return to_output(ll, frequency, monetary_value)

    def conditional_expected_value(self, frequency: Any, monetary_value: Any) -> Any:
        r"""Expected value of a customer's future transactions given her history.

        .. math::
            E[Z \mid p, q, \gamma, m, x] = \frac{p(\gamma + m x)}{px + q - 1}
                = \frac{q-1}{px+q-1}\,\frac{p\gamma}{q-1} + \frac{px}{px+q-1}\, m

        a weighted average of the population mean and the customer's own mean (FH 2013 eq. 5).
        Customers with frequency 0 get the population mean :math:`p\gamma/(q-1)` (their
        ``monetary_value`` is ignored). Infinite when :math:`px + q \le 1`.
        """
        p, q, gamma = self._params()
        x, m = _validate(frequency, monetary_value, repeat_buyers_only=False)
        m = np.where(x > 0, m, 0.0)
        denominator = p * x + q - 1
        with np.errstate(divide="ignore"):
            value = np.where(denominator > 0, p * (gamma + m * x) / denominator, np.inf)
        return to_output(value, frequency, monetary_value)


def simulate_gamma_gamma(
    frequency: Any,
    p: float,
    q: float,
    gamma: float,
    *,
    seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Simulate each customer's mean repeat-purchase value from the Gamma-Gamma model.

    ``nu ~ Gamma(q, rate=gamma)`` per customer; the sum of her ``x`` transaction values, each
    ``Gamma(p, rate=nu)``, is ``Gamma(p x, rate=nu)``; ``monetary_value`` is that sum / x
    (0 for x = 0). Vectorised.
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(frequency, dtype=float)
    nu = rng.gamma(q, 1.0 / gamma, size=len(x))
    value = np.zeros(len(x))
    bought = x > 0
    value[bought] = rng.gamma(p * x[bought], 1.0 / nu[bought]) / x[bought]
    return pd.DataFrame({"frequency": x, "monetary_value": value})
