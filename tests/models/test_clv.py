"""CLV formula by hand and by Monte-Carlo; the budget allocator against brute force."""

from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from customer_retention.models.clv import (
    contractual_clv,
    monthly_discount_rate,
    plan_retention_budget,
)


def test_hand_computed_example():
    survival = np.array([[0.9, 0.8]])
    assert contractual_clv(survival, np.array([100.0]), 0.5, 0.0)[0] == pytest.approx(85.0)
    d = 1.1 ** (1 / 12) - 1
    expected = 0.5 * 100 * (0.9 / (1 + d) + 0.8 / (1 + d) ** 2)
    assert contractual_clv(survival, np.array([100.0]), 0.5, 0.10)[0] == pytest.approx(expected)
    assert (1 + monthly_discount_rate(0.10)) ** 12 == pytest.approx(1.10)


def test_matches_monte_carlo_of_the_same_survival_model():
    """Draw each customer's remaining lifetime from S(k) and add up discounted payments."""
    rng = np.random.default_rng(0)
    months = np.arange(1, 37)
    hazards = rng.uniform(0.01, 0.08, size=(20, 1))
    survival = (1 - hazards) ** months[None, :]
    revenue = rng.uniform(50, 500, size=20)
    analytic = contractual_clv(survival, revenue, 0.7, 0.1)
    draws = 40_000
    u = rng.random((draws, 20))
    # Alive at the end of month k  <=>  u < S(k); the number of paid months is the count of such k.
    paid_months = (u[:, :, None] < survival[None, :, :]).sum(axis=2)
    discount = (1 + monthly_discount_rate(0.1)) ** -months
    cumulative_discount = np.concatenate([[0.0], np.cumsum(discount)])
    simulated = 0.7 * revenue * cumulative_discount[paid_months].mean(axis=0)
    np.testing.assert_allclose(simulated, analytic, rtol=0.02)


def test_clv_falls_with_discount_rate_and_grows_with_horizon():
    survival = np.tile(0.97 ** np.arange(1, 37), (3, 1))
    revenue = np.array([10.0, 100.0, 1000.0])
    rates = [0.0, 0.05, 0.1, 0.3]
    values = [contractual_clv(survival, revenue, 0.8, r) for r in rates]
    assert all((a > b).all() for a, b in zip(values, values[1:], strict=False))
    by_horizon = [contractual_clv(survival[:, :h], revenue, 0.8, 0.1) for h in (6, 12, 24, 36)]
    assert all((a < b).all() for a, b in zip(by_horizon, by_horizon[1:], strict=False))


def test_errors():
    with pytest.raises(ValueError, match="margin must be in"):
        contractual_clv(np.ones((1, 2)), np.ones(1), 1.5, 0.1)
    with pytest.raises(ValueError, match="survival must have shape"):
        contractual_clv(np.ones((2, 2)), np.ones(1), 0.5, 0.1)


def test_budget_plan_is_optimal_against_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(20):
        value_at_risk = pd.Series(rng.exponential(400, 9))
        save_rate = pd.Series(rng.uniform(0.1, 0.4, 9))
        cost, budget = 50.0, 50.0 * rng.integers(1, 6)
        chosen = plan_retention_budget(value_at_risk, save_rate, cost, budget)
        net = save_rate * value_at_risk - cost
        best = max(
            (
                net[list(subset)].sum()
                for k in range(int(budget // cost) + 1)
                for subset in combinations(range(9), k)
            ),
        )
        assert net[chosen].sum() == pytest.approx(best)
        assert chosen.sum() * cost <= budget
