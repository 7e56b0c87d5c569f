r"""BG/NBD model of repeat buying in a non-contractual setting.

Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "'Counting your customers' the easy way:
an alternative to the Pareto/NBD model". *Marketing Science* 24(2), 275-284.

Story: while active, a customer buys at Poisson rate :math:`\lambda`; right after each repeat
purchase she churns ("drops out") with probability :math:`p`. Across customers
:math:`\lambda \sim \mathrm{Gamma}(r, \alpha)` (shape, rate) and :math:`p \sim \mathrm{Beta}(a, b)`.

Data per customer, measured from her first purchase: ``frequency`` :math:`x` (repeat purchases),
``recency`` :math:`t_x` (time of the last repeat purchase, 0 if none) and ``T`` (length of
observation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from ._optimize import MaximumLikelihoodModel, maximise_log_likelihood
from ._validation import (
    as_float_array,
    check_fitted,
    check_non_negative,
    check_positive,
    to_output,
    validate_horizon,
    validate_rfm,
)

_PARAM_NAMES = ("r", "alpha", "a", "b")


def _compress(
    x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Collapse identical (x, t_x, T) rows into one row with the summed weight (exact)."""
    frame = pd.DataFrame({"x": x, "t_x": t_x, "T": big_t, "w": weights})
    grouped = frame.groupby(["x", "t_x", "T"], sort=False)["w"].sum().reset_index()
    return (
        grouped["x"].to_numpy(),
        grouped["t_x"].to_numpy(),
        grouped["T"].to_numpy(),
        grouped["w"].to_numpy(),
    )


class _BGData:
    """Data prepared once per fit.

    Customers with no repeat purchase contribute only ``r ln(alpha / (alpha + T))``, so they are
    kept apart (collapsed by T); for repeat buyers the terms that depend only on x are computed
    once per distinct x.
    """

    def __init__(
        self, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray, w: np.ndarray, compress: bool
    ):
        zero = x == 0
        if compress:
            self.t_zero, inverse = np.unique(big_t[zero], return_inverse=True)
            self.w_zero = np.bincount(inverse, weights=w[zero], minlength=len(self.t_zero))
            self.x, self.t_x, self.big_t, self.w = _compress(
                x[~zero], t_x[~zero], big_t[~zero], w[~zero]
            )
        else:
            self.t_zero, self.w_zero = big_t[zero], w[zero]
            self.x, self.t_x, self.big_t, self.w = x[~zero], t_x[~zero], big_t[~zero], w[~zero]
        self.x_unique, self.x_index = np.unique(self.x, return_inverse=True)
        self.w_per_x = np.bincount(self.x_index, weights=self.w, minlength=len(self.x_unique))
        self.total_weight = self.w.sum() + self.w_zero.sum()


def _log_likelihood(
    r: float, alpha: float, a: float, b: float, data: _BGData, *, gradient: bool
) -> tuple[float, np.ndarray | None]:
    r"""Total (weighted) log-likelihood and, optionally, its gradient w.r.t. (r, alpha, a, b).

    .. math::
        \ell = \ln\Gamma(r+x) - \ln\Gamma(r) + r\ln\alpha
            + \ln\Big[ \tfrac{B(a, b+x)}{B(a,b)} (\alpha+T)^{-(r+x)}
            + \delta_{x>0} \tfrac{B(a+1, b+x-1)}{B(a,b)} (\alpha+t_x)^{-(r+x)} \Big]

    which for :math:`x = 0` reduces to :math:`r \ln(\alpha / (\alpha+T))`.
    """
    # customers without repeat purchase
    log_alpha = np.log(alpha)
    log_alpha_t0 = np.log(alpha + data.t_zero)
    total = r * (data.w_zero.sum() * log_alpha - data.w_zero @ log_alpha_t0)

    # repeat buyers
    xu, idx = data.x_unique, data.x_index
    beta_ab = betaln(a, b)
    # x-only parts of the two terms inside the bracket (A2: still alive, A3: dropped out at t_x)
    a2_x = betaln(a, b + xu) - beta_ab
    a3_x = betaln(a + 1, b + xu - 1) - beta_ab
    log_alpha_t = np.log(alpha + data.big_t)
    log_alpha_tx = np.log(alpha + data.t_x)
    r_x = r + data.x
    a2 = a2_x[idx] - r_x * log_alpha_t
    a3 = a3_x[idx] - r_x * log_alpha_tx
    log_bracket = np.logaddexp(a2, a3)
    total += (
        data.w_per_x @ (gammaln(r + xu) - gammaln(r))
        + data.w.sum() * r * log_alpha
        + data.w @ log_bracket
    )
    if not gradient:
        return float(total), None

    w = data.w
    p_dropped = np.exp(a3 - log_bracket)  # posterior weight of "dropped out after t_x"
    wp_dropped = w * p_dropped
    wp_alive = w - wp_dropped
    psi_ab = digamma(a + b)
    psi_abx = digamma(a + b + xu)
    d_a2_a = psi_ab - psi_abx
    d_a2_b = digamma(b + xu) - psi_abx - digamma(b) + psi_ab
    d_a3_a = digamma(a + 1) - psi_abx - digamma(a) + psi_ab
    d_a3_b = digamma(b + xu - 1) - psi_abx - digamma(b) + psi_ab
    alive_per_x = np.bincount(idx, weights=wp_alive, minlength=len(xu))
    dropped_per_x = data.w_per_x - alive_per_x

    grad_r = (
        data.w_zero.sum() * log_alpha
        - data.w_zero @ log_alpha_t0
        + data.w_per_x @ (digamma(r + xu) - digamma(r))
        + data.w.sum() * log_alpha
        - wp_alive @ log_alpha_t
        - wp_dropped @ log_alpha_tx
    )
    grad_alpha = (
        data.total_weight * r / alpha
        - r * (data.w_zero @ (1.0 / (alpha + data.t_zero)))
        - (wp_alive * r_x) @ (1.0 / (alpha + data.big_t))
        - (wp_dropped * r_x) @ (1.0 / (alpha + data.t_x))
    )
    grad_a = alive_per_x @ d_a2_a + dropped_per_x @ d_a3_a
    grad_b = alive_per_x @ d_a2_b + dropped_per_x @ d_a3_b
    return float(total), np.array([grad_r, grad_alpha, grad_a, grad_b])


def _individual_log_likelihood(r, alpha, a, b, x, t_x, big_t) -> np.ndarray:
    """Per-customer log-likelihood (same formula as :func:`_log_likelihood`, row by row)."""
    beta_ab = betaln(a, b)
    a2 = betaln(a, b + x) - beta_ab - (r + x) * np.log(alpha + big_t)
    a3 = np.where(
        x > 0,
        betaln(a + 1, b + np.maximum(x, 1) - 1) - beta_ab - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return gammaln(r + x) - gammaln(r) + r * np.log(alpha) + np.logaddexp(a2, a3)


def _euler_hyp2f1_term(r: float, a: float, b: float, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    r""":math:`(1-z)^{r+x}\,{}_2F_1(r+x, b+x; a+b+x-1; z)`, computed as
    :math:`(1-z)^{a-1}\,{}_2F_1(a+b-1-r, a-1; a+b+x-1; z)` (Euler's transformation).

    The left-hand form multiplies a vanishing power by an exploding series when ``x`` is large;
    the right-hand form is bounded and well behaved for any ``x`` (the series tends to 1).
    """
    return np.exp((a - 1) * np.log1p(-z)) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)


class BetaGeo(MaximumLikelihoodModel):
    r"""BG/NBD ("beta-geometric / negative binomial distribution") model.

    Fader, Hardie & Lee (2005), "'Counting your customers' the easy way", *Marketing Science*.

    Parameters (estimated by ``fit``): ``r``, ``alpha`` -- shape and rate of the gamma
    distribution of purchase rates (mean rate ``r / alpha`` per time unit); ``a``, ``b`` -- the
    beta distribution of the churn probability after each repeat purchase (mean ``a / (a + b)``).

    Likelihood of one customer with :math:`x` repeat purchases, last one at :math:`t_x`,
    observed for :math:`T`:

    .. math::
        L = \frac{B(a, b+x)}{B(a,b)} \frac{\Gamma(r+x)\,\alpha^r}{\Gamma(r)(\alpha+T)^{r+x}}
            + \delta_{x>0} \frac{B(a+1, b+x-1)}{B(a,b)}
              \frac{\Gamma(r+x)\,\alpha^r}{\Gamma(r)(\alpha+t_x)^{r+x}}

    evaluated in log space (``gammaln``, ``betaln``, ``logaddexp``). ``fit`` maximises the total
    log-likelihood over the log-parameters with L-BFGS-B and the analytic gradient, after
    collapsing identical (x, t_x, T) rows into weighted rows (exact).

    Constructor options: ``max_iter`` and ``tol`` (iteration limit and projected-gradient
    tolerance of L-BFGS-B on the mean log-likelihood).

    Attributes set by ``fit``: ``params_`` (dict r, alpha, a, b), ``log_likelihood_`` (maximised
    total log-likelihood), ``n_customers_``.

    Example::

        model = BetaGeo().fit(summary["frequency"], summary["recency"], summary["T"])
        model.conditional_expected_purchases(
            39, summary["frequency"], summary["recency"], summary["T"]
        )
    """

    def __init__(self, *, max_iter: int = 2000, tol: float = 1e-10):
        super().__init__(max_iter=max_iter, tol=tol)
        self.n_customers_: int | None = None

    @classmethod
    def from_params(cls, r: float, alpha: float, a: float, b: float) -> BetaGeo:
        """A model with given (e.g. published) parameters, ready for predictions."""
        values = as_float_array([r, alpha, a, b], "params")
        check_positive(values, "params (r, alpha, a, b)")
        model = cls()
        model.params_ = dict(zip(_PARAM_NAMES, map(float, values), strict=True))
        return model

    # ------------------------------------------------------------------ fitting
    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None) -> BetaGeo:
        """Estimate r, alpha, a, b by maximum likelihood.

        ``frequency``, ``recency``, ``T``: one value per customer (``T`` may be a scalar).
        ``weights``: optional number of customers sharing each row (e.g. an aggregated table).
        """
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        if weights is None:
            w = np.ones_like(x)
        else:
            w = as_float_array(weights, "weights")
            if len(w) != len(x):
                raise ValueError(
                    f"weights must have one value per customer ({len(x)}); got {len(w)}"
                )
            check_non_negative(w, "weights")
        if (big_t <= 0).all():
            raise ValueError("T must be positive for at least one customer (observation length)")
        data = _BGData(x, t_x, big_t, w, compress=True)

        def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            params = np.exp(log_params)
            total, grad = _log_likelihood(*params, data, gradient=True)
            if not np.isfinite(total):
                return np.inf, np.zeros_like(log_params)
            # chain rule for log-parameters; mean over customers keeps the scale O(1)
            return -total / data.total_weight, -grad * params / data.total_weight

        # start: r = 1, alpha matching the mean purchase rate, a = 1, b = 3
        mean_rate = max((w @ x) / max(w @ big_t, 1e-12), 1e-6)
        start = np.log([1.0, 1.0 / mean_rate, 1.0, 3.0])
        log_params = maximise_log_likelihood(
            objective, start, _PARAM_NAMES, "BetaGeo", max_iter=self.max_iter, tol=self.tol
        )
        params = np.exp(log_params)
        self.params_ = dict(zip(_PARAM_NAMES, map(float, params), strict=True))
        self.log_likelihood_ = _log_likelihood(*params, data, gradient=False)[0]
        self.n_customers_ = int(round(data.total_weight))
        return self

    def _params(self) -> tuple[float, float, float, float]:
        check_fitted(self)
        return tuple(self.params_[name] for name in _PARAM_NAMES)  # type: ignore[return-value]

    def individual_log_likelihood(self, frequency: Any, recency: Any, T: Any) -> Any:
        """Log-likelihood of each customer's (frequency, recency, T) under the fitted model."""
        params = self._params()
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        return to_output(_individual_log_likelihood(*params, x, t_x, big_t), frequency, recency, T)

    # ------------------------------------------------------------------ predictions
    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> Any:
        r"""Probability that a customer is still active at the end of observation ``T``.

        .. math::
            P(\text{alive} \mid x, t_x, T) = \Big[1 + \delta_{x>0} \frac{a}{b+x-1}
                \Big(\frac{\alpha+T}{\alpha+t_x}\Big)^{r+x}\Big]^{-1}

        (FHL 2005, eq. 11 of the technical note), computed as a logistic function of a log-odds
        so that it stays in [0, 1] for any frequency. Equals 1 for customers with no repeat
        purchase, since in the BG/NBD churn can only happen right after a repeat purchase.
        """
        r, alpha, a, b = self._params()
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        result = self._probability_alive(r, alpha, a, b, x, t_x, big_t)
        return to_output(result, frequency, recency, T)

    @staticmethod
    def _probability_alive(r, alpha, a, b, x, t_x, big_t) -> np.ndarray:
        positive = x > 0
        log_odds_dead = np.full(x.shape, -np.inf)
        xp = x[positive]
        log_odds_dead[positive] = (
            np.log(a)
            - np.log(b + xp - 1)
            + (r + xp) * (np.log(alpha + big_t[positive]) - np.log(alpha + t_x[positive]))
        )
        return expit(-log_odds_dead)

    def probability_no_purchase(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
        r"""Probability of no repeat purchase in :math:`(T, T+t]` given the history.

        .. math::
            P(Y(t) = 0 \mid x, t_x, T) = 1 - P_\text{alive} + P_\text{alive}
                \Big(\frac{\alpha+T}{\alpha+T+t}\Big)^{r+x}

        A customer alive at T has purchase rate :math:`\lambda \sim \text{Gamma}(r+x,
        \alpha+T)` a posteriori, and P(no purchase in t | lambda) = exp(-lambda t); she cannot
        churn in a window without purchases, since BG/NBD churn follows a purchase. With the
        label's horizon as ``t`` this is the non-contractual churn probability (no activity in
        the horizon), which unlike 1 - P(alive) does not vanish for recent buyers.
        """
        r, alpha, a, b = self._params()
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        alive = self._probability_alive(r, alpha, a, b, x, t_x, big_t)
        horizon = np.asarray(t, dtype=float)
        quiet_if_alive = np.exp((r + x) * (np.log(alpha + big_t) - np.log(alpha + big_t + horizon)))
        return to_output(1.0 - alive + alive * quiet_if_alive, frequency, recency, T)

    def conditional_expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
        r"""Expected number of repeat purchases in :math:`(T, T+t]` given the history.

        .. math::
            E[Y(t) \mid x, t_x, T] = \frac{a+b+x-1}{a-1}
              \Big[1 - \Big(\frac{\alpha+T}{\alpha+T+t}\Big)^{r+x}
              {}_2F_1\Big(r+x, b+x; a+b+x-1; \frac{t}{\alpha+T+t}\Big)\Big]
              \times P(\text{alive} \mid x, t_x, T)

        (FHL 2005, eq. 10). The bracket is evaluated through Euler's transformation of
        :math:`{}_2F_1` so that it stays accurate for very large ``frequency``. ``t`` may be a
        scalar or an array broadcastable against the customers.
        """
        r, alpha, a, b = self._params()
        horizon = validate_horizon(t, "t")
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        try:
            horizon, x, t_x, big_t = np.broadcast_arrays(horizon, x, t_x, big_t)
        except ValueError as error:
            raise ValueError(
                f"t must be a scalar or have one value per customer ({len(x)}); got {horizon.size}"
            ) from error
        result = self._conditional_expected(r, alpha, a, b, horizon, x, t_x, big_t)
        return to_output(result, t, frequency, recency, T)

    @classmethod
    def _conditional_expected(cls, r, alpha, a, b, t, x, t_x, big_t) -> np.ndarray:
        if abs(a - 1) < 1e-6:
            # removable singularity at a = 1; the expectation is smooth in a
            a = 1 + 1e-6
        z = t / (alpha + big_t + t)
        bracket = 1.0 - _euler_hyp2f1_term(r, a, b, x, z)
        expected = (a + b + x - 1) / (a - 1) * bracket
        return expected * cls._probability_alive(r, alpha, a, b, x, t_x, big_t)

    def expected_purchases(self, t: Any) -> Any:
        r"""Expected repeat purchases in :math:`(0, t]` for a customer who just made her first
        purchase at time 0 (unconditional; FHL 2005, eq. 9):

        .. math::
            E[X(t)] = \frac{a+b-1}{a-1}\Big[1 - \Big(\frac{\alpha}{\alpha+t}\Big)^r
                {}_2F_1\Big(r, b; a+b-1; \frac{t}{\alpha+t}\Big)\Big]
        """
        r, alpha, a, b = self._params()
        horizon = validate_horizon(t, "t")
        zeros = np.zeros_like(horizon)
        result = self._conditional_expected(r, alpha, a, b, horizon, zeros, zeros, zeros)
        return to_output(result, t)


def simulate_bg_nbd(
    T: Any,
    r: float,
    alpha: float,
    a: float,
    b: float,
    *,
    n_customers: int | None = None,
    seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Simulate (frequency, recency, T) from the BG/NBD model (vectorised, no per-customer loop).

    ``T``: observation length, a scalar (needs ``n_customers``) or one value per customer.

    Each customer has purchase rate ``lambda ~ Gamma(r, rate=alpha)`` and churn probability
    ``p ~ Beta(a, b)``; she churns right after her K-th repeat purchase, ``K ~ Geometric(p)``.
    With ``N ~ Poisson(lambda T)`` purchase opportunities in (0, T], ``x = min(K, N)`` and, given
    N = n, the x-th arrival time is ``T * Beta(x, n - x + 1)`` (order statistic of uniforms).
    """
    rng = np.random.default_rng(seed)
    big_t = np.asarray(T, dtype=float)
    if big_t.ndim == 0:
        if n_customers is None:
            raise ValueError("n_customers is required when T is a scalar")
        big_t = np.full(n_customers, float(big_t))
    n = len(big_t)
    rate = rng.gamma(r, 1.0 / alpha, size=n)
    churn = rng.beta(a, b, size=n)
    opportunities = rng.poisson(rate * big_t)
    purchases_until_churn = rng.geometric(np.clip(churn, 1e-300, 1.0))
    x = np.minimum(purchases_until_churn, opportunities)
    recency = np.zeros(n)
    bought = x > 0
    recency[bought] = big_t[bought] * rng.beta(x[bought], opportunities[bought] - x[bought] + 1)
    return pd.DataFrame({"frequency": x.astype(float), "recency": recency, "T": big_t})
