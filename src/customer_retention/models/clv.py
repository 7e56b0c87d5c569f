"""Customer lifetime value from survival curves, and a retention budget allocator."""

from __future__ import annotations

import numpy as np
import pandas as pd

DAYS_PER_MONTH = 365.25 / 12  # average month, to turn day durations into months


def monthly_discount_rate(annual_rate: float) -> float:
    """The monthly rate d_m with (1 + d_m)^12 = 1 + d (compounding, not d / 12)."""
    if annual_rate <= -1:
        raise ValueError(f"annual discount rate must be > -1, got {annual_rate}")
    return (1.0 + annual_rate) ** (1.0 / 12.0) - 1.0


def monthly_discount_factors(annual_rate: float, months: int) -> np.ndarray:
    """(1 + d_m)^-k for k = 1..months: the value today of one unit received at the end of month k."""
    return (1.0 + monthly_discount_rate(annual_rate)) ** -np.arange(1, months + 1)


def contractual_clv(
    survival: np.ndarray, monthly_revenue: np.ndarray, margin: float, annual_discount_rate: float
) -> np.ndarray:
    """Expected discounted margin over the next H months of customers alive today.

        CLV_i = sum_{k=1..H} margin x revenue_i x S_i(k) x (1 + d_m)^(-k)

    with S_i(k) the probability that customer i is still active k months from now given they
    are active today, and d_m the monthly discount rate equivalent to the annual one. Payment k
    is received at the end of month k if the customer is still there (Fader & Hardie 2010,
    "Customer-base valuation in a contractual setting", with a customer-specific survival
    curve in place of the sBG one).

    Args:
        survival: shape (n customers, H months), S_i(1) ... S_i(H).
        monthly_revenue: shape (n,), expected revenue per month while active.
        margin: gross margin in [0, 1].
        annual_discount_rate: e.g. 0.10 for 10% a year.
    """
    survival = np.asarray(survival, dtype=float)
    revenue = np.asarray(monthly_revenue, dtype=float)
    if survival.ndim != 2 or survival.shape[0] != len(revenue):
        raise ValueError(
            f"survival must have shape (n, H) with n = {len(revenue)}, got {survival.shape}"
        )
    if not 0 <= margin <= 1:
        raise ValueError(f"margin must be in [0, 1], got {margin}")
    return (
        margin
        * revenue
        * (survival @ monthly_discount_factors(annual_discount_rate, survival.shape[1]))
    )


def plan_retention_budget(
    value_at_risk: pd.Series, save_rate: pd.Series, cost_per_contact: float, budget: float
) -> pd.Series:
    """Whom to contact: maximise expected saved value minus cost under a budget.

    Contacting customer i costs c and saves expected value s_i x VaR_i (save rate times value at
    risk). With equal costs the budget buys floor(budget / c) contacts, and the optimum takes the
    customers with the largest positive net value s_i x VaR_i - c (exact for equal costs: an
    exchange argument). Returns a boolean Series: True = contact.
    """
    if cost_per_contact <= 0:
        raise ValueError(f"cost_per_contact must be > 0, got {cost_per_contact}")
    net = save_rate * value_at_risk - cost_per_contact
    capacity = int(budget // cost_per_contact)
    chosen = net[net > 0].sort_values(ascending=False).index[:capacity]
    return pd.Series(value_at_risk.index.isin(chosen), index=value_at_risk.index)
