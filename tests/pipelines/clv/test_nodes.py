"""CLV nodes on demo data: contractual and non-contractual valuation, sBG cross-check."""

from __future__ import annotations

import ibis
import numpy as np
import pytest

from customer_retention.models import BetaGeo
from customer_retention.pipelines.clv import nodes
from customer_retention.pipelines.feature_engineering import nodes as features
from customer_retention.pipelines.survival_analysis import nodes as survival

from ...conftest import attribute_profile, load_parameters, run_plan
from ..feature_engineering.test_nodes import compute_snapshots


@pytest.fixture(scope="module")
def params() -> dict:
    return load_parameters("clv")


@pytest.fixture(scope="module")
def contractual(clean_demo) -> dict:
    fe = load_parameters("feature_engineering")
    snapshots = compute_snapshots(clean_demo, fe)
    timeline = features.build_customer_timeline(
        clean_demo["customers"],
        ibis.memtable(clean_demo["subscriptions"]),
        ibis.memtable(clean_demo["transactions"]),
        fe,
    )
    _, curves, _ = survival.fit_landmark_model(
        snapshots,
        run_plan(),
        attribute_profile(clean_demo["customers"]),
        load_parameters("survival_analysis"),
    )
    return {"snapshots": snapshots, "timeline": timeline, "curves": curves}


def test_contractual_value_of_every_active_customer(contractual, params):
    purchase_value, model = nodes.value_purchasing_customers(
        contractual["timeline"], contractual["snapshots"], None, params
    )
    assert model == {} and purchase_value.empty  # no purchase model for contractual data
    value = nodes.value_customers(
        contractual["timeline"],
        contractual["curves"],
        contractual["snapshots"],
        purchase_value,
        params,
    )
    assert value["is_active"].all()
    as_of = contractual["snapshots"][contractual["snapshots"]["is_as_of_snapshot"]]
    assert sorted(value["customer_id"]) == sorted(as_of["customer_id"])
    assert (value["clv"] > 0).all() and value["churn_probability"].between(0, 1).all()
    np.testing.assert_allclose(value["value_at_risk"], value["churn_probability"] * value["clv"])
    assert value["value_at_risk"].is_monotonic_decreasing
    # CLV is bounded by margin x revenue x horizon (no discounting, certain survival).
    assert (
        value["clv"] <= params["gross_margin"] * value["monthly_revenue"] * params["horizon_months"]
    ).all()


def test_horizon_longer_than_the_curves_is_a_clear_error(contractual, params):
    with pytest.raises(ValueError, match="needs survival_analysis.landmark.horizon_months >= 48"):
        nodes.value_contractual_customers(
            contractual["curves"], contractual["snapshots"], params | {"horizon_months": 48}
        )


def test_non_contractual_value_uses_bg_nbd(clean_demo, contractual, params):
    value, _ = nodes.value_noncontractual_customers(
        ibis.memtable(clean_demo["transactions"]), contractual["snapshots"], params
    )
    assert value["p_alive"].between(0, 1).all()
    # P(no purchase in the horizon) >= P(already churned), and it does not vanish for buyers.
    assert (value["churn_probability"] >= 1 - value["p_alive"] - 1e-12).all()
    assert value["churn_probability"].between(0, 1).all()
    assert value["churn_probability"].median() > 0.01
    assert (value["clv"] >= 0).all() and value["clv"].median() > 0


def test_sbg_cross_check_fits_each_plan(clean_demo, contractual, params):
    table = survival.build_survival_table(clean_demo["customers"], contractual["timeline"])
    value = nodes.value_contractual_customers(
        contractual["curves"], contractual["snapshots"], params
    )
    plan = run_plan(segments=("plan", "region"))  # auto: the first segment attribute
    check, _ = nodes.cross_check_clv_with_sbg(table, value, contractual["timeline"], plan, params)
    assert check["segment"] == "plan"
    assert set(check["by_level"]) == {"basic", "pro", "enterprise"}
    for level in check["by_level"].values():
        assert level["alpha"] > 0 and level["beta"] > 0
        assert level["mean_clv_sbg"] == pytest.approx(level["mean_clv_landmark"], rel=0.5)


def test_the_purchase_model_is_fitted_on_the_whole_cohort(clean_demo, contractual, params):
    """Lapsed customers are in the fit (dropout is estimated from them): the parameters equal
    those of BetaGeo fitted directly on every customer's summary, and every customer is valued,
    the active ones marked."""
    transactions = ibis.memtable(clean_demo["transactions"])
    snapshots = contractual["snapshots"]
    value, model = nodes.value_noncontractual_customers(transactions, snapshots, params)
    summary = nodes.purchase_summary(transactions, snapshots["snapshot_date"].max())
    direct = BetaGeo().fit(summary["frequency"], summary["recency"], summary["T"])
    for name, estimate in direct.params_.items():
        assert model["bg_nbd"][name] == pytest.approx(estimate, rel=1e-9)
    assert model["bg_nbd"]["n_customers"] == len(summary) == len(value)
    active = set(snapshots.loc[snapshots["is_as_of_snapshot"], "customer_id"])
    assert set(value.loc[value["is_active"], "customer_id"]) == active & set(summary.index)
    assert not value["is_active"].all()  # lapsed purchasers are valued too


def test_one_acquisition_cohort_can_be_the_fitted_population(clean_demo, contractual, params):
    transactions = ibis.memtable(clean_demo["transactions"])
    snapshots = contractual["snapshots"]
    cohort = {"first_purchase_from": "2024-01-01", "first_purchase_to": "2024-06-30"}
    settings = params | {"bg_nbd": params["bg_nbd"] | {"cohort": cohort}}
    value, model = nodes.value_noncontractual_customers(transactions, snapshots, settings)
    first = clean_demo["transactions"].groupby("customer_id")["transaction_date"].min()
    first = first[first < snapshots["snapshot_date"].max()].dt.normalize()
    expected = int(first.between("2024-01-01", "2024-06-30").sum())
    assert 0 < model["bg_nbd"]["n_customers"] == expected < len(value)  # fitted on the cohort
