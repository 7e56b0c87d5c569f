"""The at-risk list ranked by value at risk, and the budget plan with save rates per action."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from customer_retention.pipelines.scoring import nodes

from ...conftest import load_parameters


@pytest.fixture
def at_risk() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 400
    scores = pd.DataFrame(
        {
            "customer_id": [str(i) for i in range(n)],
            "churn_probability": rng.beta(1, 8, n),
            "top_driver": rng.choice(
                ["usage_trend_ratio", "nps_latest", "median_first_response_hours", None], n
            ),
            "recommended_action": "some action",
        }
    )
    value = pd.DataFrame({"customer_id": scores["customer_id"], "clv": rng.lognormal(7, 1, n)})
    return nodes.rank_by_value_at_risk(scores, value)


def test_at_risk_list_is_ranked_by_value_at_risk(at_risk):
    np.testing.assert_allclose(
        at_risk["value_at_risk"], at_risk["churn_probability"] * at_risk["clv"]
    )
    assert at_risk["value_at_risk"].is_monotonic_decreasing


def test_plan_respects_budget_uses_action_save_rates_and_beats_churn_ranking(at_risk):
    params = load_parameters("scoring", "retention_plan")
    plan, summary = nodes.build_retention_plan(at_risk, params)
    assert summary["plan"]["cost"] <= params["budget"]
    assert (plan.loc[plan["contact"], "net_value"] > 0).all()
    usage = plan["top_driver"] == "usage_trend_ratio"
    assert (plan.loc[usage, "save_rate"] == params["save_rate_by_driver_group"]["usage"]).all()
    assert (plan.loc[plan["top_driver"].isna(), "save_rate"] == params["default_save_rate"]).all()
    np.testing.assert_allclose(
        plan["expected_saved_value"], plan["save_rate"] * plan["value_at_risk"]
    )
    assert (
        summary["plan"]["expected_net_return"]
        >= summary["top_n_by_churn_probability"]["expected_net_return"]
    )
    assert summary["plan"]["contacts"] == summary["top_n_by_churn_probability"]["contacts"]


def test_a_small_budget_buys_few_contacts(at_risk):
    params = load_parameters("scoring", "retention_plan") | {"budget": 120, "cost_per_contact": 50}
    plan, summary = nodes.build_retention_plan(at_risk, params)
    assert plan["contact"].sum() == 2 and summary["plan"]["cost"] == 100


def test_without_campaign_data_the_save_rates_are_assumptions_with_a_range(at_risk):
    params = load_parameters("scoring", "retention_plan")
    _, summary = nodes.build_retention_plan(at_risk, params)
    assert summary["basis"].startswith("assumed")
    low, high = summary["plan_range"]["low"], summary["plan_range"]["high"]
    saved = summary["plan"]["expected_saved_value"]
    assert low["expected_saved_value"] == pytest.approx(0.5 * saved)
    assert high["expected_saved_value"] == pytest.approx(1.5 * saved)


def test_with_uplift_the_plan_ranks_by_incremental_value_and_skips_sleeping_dogs(at_risk):
    """Measured uplift replaces the assumed rates: customers the action pushes away are never
    contacted, the save rate never exceeds the churn risk, and a seeded tenth of the chosen
    customers is held back as a control group."""
    params = load_parameters("scoring", "retention_plan")
    rng = np.random.default_rng(9)
    with_uplift = at_risk.assign(
        expected_uplift=rng.normal(0.02, 0.05, len(at_risk)),
        uplift_campaign="discount",
        uplift_cost_per_contact=30.0,
    )
    plan, summary = nodes.build_retention_plan(with_uplift, params)
    assert summary["basis"].startswith("measured") and summary["plan_range"] is None
    assert summary["cost_per_contact"] == 30.0
    contacted = plan[plan["contact"]]
    assert (contacted["expected_uplift"] > 0).all()
    assert (plan["save_rate"] <= plan["churn_probability"] + 1e-12).all()
    np.testing.assert_allclose(
        contacted["net_value"], contacted["save_rate"] * contacted["clv"] - 30
    )
    arms = plan["arm"].value_counts()
    assert arms["control"] + arms["treatment"] == len(contacted)
    assert arms["control"] == pytest.approx(
        0.1 * len(contacted), abs=3 * np.sqrt(len(contacted) * 0.09)
    )
    assert (plan.loc[~plan["contact"], "arm"] == "none").all()
    again, _ = nodes.build_retention_plan(with_uplift, params)
    pd.testing.assert_series_equal(again["arm"], plan["arm"])  # seeded: the same control group
