"""Campaign analysis against the demo data's planted campaigns, and the randomisation checks."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from customer_retention.models import experiments
from customer_retention.models.uplift import TwoModelUplift
from customer_retention.pipelines.campaign_analysis import nodes, uplift
from customer_retention.pipelines.feature_engineering.nodes import build_customer_timeline

from ...conftest import load_parameters
from ..churn_model.helpers import demo_clean_tables, demo_data

PARAMS = load_parameters("campaign_analysis")
N_DEFAULT = load_parameters("demo_data")["n_customers"]


def _outcomes(n_customers: int) -> tuple[pd.DataFrame, dict]:
    tables = demo_clean_tables(n_customers)
    snapshots, _, truth = demo_data(n_customers)
    timeline = build_customer_timeline(
        tables["customers"],
        ibis.memtable(tables["subscriptions"]),
        ibis.memtable(tables["transactions"]),
        load_parameters("feature_engineering"),
    )
    return nodes.build_campaign_outcomes(
        tables["interventions"], timeline, snapshots, PARAMS
    ), truth


@pytest.fixture(scope="module")
def demo() -> tuple[pd.DataFrame, dict]:
    """Campaign outcomes of the default demo data (5,000 customers) and its ground truth."""
    return _outcomes(N_DEFAULT)


def test_each_campaigns_interval_covers_its_planted_average_effect(demo):
    outcomes, truth = demo
    effects = nodes.analyse_campaigns(outcomes, PARAMS)
    planted = truth["campaigns"]["campaigns"]
    assert [c["campaign"] for c in effects["campaigns"]] == sorted(planted)
    for campaign in effects["campaigns"]:
        true_effect = planted[campaign["campaign"]]["average_effect"]
        assert campaign["ci_low"] <= true_effect <= campaign["ci_high"], campaign
        assert campaign["status"] == "ok"  # randomised: no sample-ratio mismatch, balanced
        assert (
            campaign["n_treatment"] + campaign["n_control"]
            <= planted[campaign["campaign"]]["enrolled"]
        )
        assert (
            campaign["cox"]["ci_low"] < campaign["cox"]["hazard_ratio"] < campaign["cox"]["ci_high"]
        )
        assert campaign["power"]["minimum_detectable_reduction"] > 0


def test_outcomes_use_features_from_before_the_treatment(demo):
    outcomes, _ = demo
    assert outcomes["churned_within_horizon"].notna().all()  # both horizons are over
    assert (outcomes["days_observed"] >= 1).all()
    # Features come from the last snapshot on or before the treatment date.
    discount = outcomes[outcomes["campaign"] == "retention_discount"]
    assert discount["tenure_days"].notna().mean() > 0.95


def test_features_before_treatment_are_what_merge_asof_on_the_whole_table_gives():
    """The snapshot row before each treatment is found on the key columns and then taken from
    the features; the frame must be the one a backward ``merge_asof`` of the whole table gives
    (the former code): unmatched rows, a feature named like an outcome column (``arm`` gets
    ``_before``) and the dtypes a missing match turns into (int to float, bool to object)."""
    snapshots = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c", "c"],
            "snapshot_date": pd.to_datetime(
                ["2024-01-01", "2024-02-01", "2024-02-01", "2024-01-01", "2024-03-01"]
            ),
            "logins": [1, 2, 3, 4, 5],
            "flag": [True, False, True, True, False],
            "plan": ["x", "y", "z", None, "w"],
            "arm": [1.0, 2.0, 3.0, 4.0, 5.0],
            "tier": pd.Categorical(["u", "v", "u", "v", "u"]),
            "region": pd.array(["p", "q", None, "r", "s"], dtype="string"),
            "churned_within_horizon": [0.0, 1.0, np.nan, 0.0, 0.0],
        }
    )
    outcomes = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "campaign": ["k"] * 4,
            "arm": ["treatment", "control", "treatment", "control"],
            "treated_at": pd.to_datetime(["2024-02-15", "2024-01-15", "2024-03-01", "2024-05-01"]),
        }
    )
    features = [c for c in snapshots if c not in nodes.BOOKKEEPING]
    expected = pd.merge_asof(
        outcomes.sort_values("treated_at"),
        snapshots.sort_values("snapshot_date")[["customer_id", "snapshot_date", *features]].rename(
            columns={"snapshot_date": "treated_at"}
        ),
        on="treated_at",
        by="customer_id",
        direction="backward",
        suffixes=("", "_before"),
    )
    found = nodes._features_before(outcomes, snapshots)
    pd.testing.assert_frame_equal(found, expected, check_exact=True)
    shuffled = snapshots.sample(frac=1, random_state=3)  # an index that is not positions
    pd.testing.assert_frame_equal(nodes._features_before(outcomes, shuffled), expected)
    # Where merge_asof would refuse (a feature already named arm_before), so does this.
    with pytest.raises(ValueError, match=r"\['arm_before'\] clash"):
        nodes._features_before(outcomes, snapshots.assign(arm_before=1.0))
    assert found["logins"].isna().sum() == 2 and found["arm_before"].tolist()[1:3] == [2.0, 5.0]


def test_a_mis_split_campaign_is_flagged_by_the_sample_ratio_test(demo):
    outcomes, _ = demo
    rows = outcomes[outcomes["campaign"] == "retention_discount"]
    # Half of the control group lost (e.g. a logging bug): 70/30 instead of 50/50.
    control = rows.index[rows["arm"] == "control"]
    broken = rows.drop(control[: len(control) // 2])
    effects = nodes.analyse_campaigns(broken, PARAMS)
    (campaign,) = effects["campaigns"]
    assert campaign["sample_ratio_mismatch"]["p_value"] < 1e-6
    assert campaign["status"] == "flagged: sample ratio mismatch"


def test_an_unbalanced_campaign_is_flagged_beyond_chance(demo):
    """Treatment given to the monthly-contract customers only: the groups differ on the
    contract and on everything that goes with it, far more than random assignment allows."""
    outcomes, _ = demo
    rows = outcomes[outcomes["campaign"] == "retention_discount"].copy()
    monthly = rows["contract_type"].astype(str) == "monthly"
    rows["arm"] = np.where(monthly, "treatment", "control")
    effects = nodes.analyse_campaigns(rows, PARAMS | {"intended_treatment_share": monthly.mean()})
    (campaign,) = effects["campaigns"]
    assert campaign["balance"]["flagged"]
    assert "contract_type=monthly" in campaign["balance"]["imbalanced"]
    assert campaign["status"] == "flagged: covariates imbalanced beyond chance"


def test_no_interventions_skip_with_a_reason():
    outcomes = nodes.build_campaign_outcomes(None, pd.DataFrame(), pd.DataFrame(), PARAMS)
    assert outcomes.empty
    effects = nodes.analyse_campaigns(outcomes, PARAMS)
    assert effects["status"] == "skipped" and effects["campaigns"] == []
    figure = nodes.plot_campaign_survival(outcomes, effects)
    texts = [t.get_text() for ax in figure.axes for t in ax.texts] + [
        t.get_text() for t in figure.texts
    ]
    assert any("No campaign data" in text for text in texts)


def test_experiment_statistics_match_hand_computations():
    effect = experiments.proportion_effect(20, 400, 40, 400)
    assert effect["effect"] == pytest.approx(-0.05)
    assert effect["ci_low"] < -0.05 < effect["ci_high"] < 0  # significant reduction
    assert effect["ratio"] == pytest.approx(0.5)
    assert effect["p_value"] < 0.01
    srm = experiments.sample_ratio_mismatch(500, 500, 0.5)
    assert srm["chi_square"] == 0 and srm["p_value"] == 1
    # Two-proportion power: ~3,200 per arm to find 10% -> 8% (classic table: 3,213 with h).
    assert experiments.required_group_size(0.10, 0.02) == pytest.approx(3213, abs=15)
    mde = experiments.minimum_detectable_effect(3213, 3213, 0.10)
    assert mde == pytest.approx(0.02, abs=0.001)
    smd = experiments.standardized_mean_differences(
        pd.DataFrame({"x": [0.0, 1.0, 0.0, 1.0], "g": ["a", "a", "b", "b"]}),
        np.array([True, True, False, False]),
    )
    assert smd.set_index("covariate").loc["x", "smd"] == 0
    assert abs(smd.set_index("covariate").loc["g=a", "smd"]) > 1


def test_uplift_models_are_fitted_judged_on_held_out_customers_and_reload(demo):
    outcomes, truth = demo
    models, metrics = uplift.fit_uplift_models(outcomes, None, truth, PARAMS)
    assert metrics["status"] == "fitted" and set(models["campaigns"]) == set(metrics["campaigns"])
    assert metrics["value_basis"] == "one_per_customer"  # no customer_value: 1 each, said so
    for name, entry in models["campaigns"].items():
        model = TwoModelUplift.from_json(entry["model"])
        assert model.learner == PARAMS["uplift"]["learner"]
        rows = outcomes[outcomes["campaign"] == name]
        assert np.isfinite(model.predict(rows)).all()
        result = metrics["campaigns"][name]
        share = PARAMS["uplift"]["holdout_share"]
        assert result["held_out_customers"] == pytest.approx(share * len(rows), abs=2)
        assert {"by_uplift_x_value", "by_risk_x_value", "everyone"} <= set(result["plans"])
        assert -1 <= result["spearman_with_planted_effect"] <= 1
    # The discount's planted heterogeneity (monthly contracts kept, detractors not, enterprise
    # pushed away) is found even at 5,000 customers.
    assert metrics["campaigns"]["retention_discount"]["spearman_with_planted_effect"] > 0.3


@pytest.mark.slow
def test_on_a_larger_demo_the_uplift_plan_beats_the_risk_plan_on_held_out_customers():
    """20,000 customers (~5,500 in the discount campaign): the X-learner ranks the held-out
    customers better than random and than risk (Qini), its estimates follow the planted
    per-customer effects, and contacting the top 30% by uplift x value keeps more, both under
    the planted effects and in the held-out randomised outcomes, than the top 30% by risk."""
    outcomes, truth = _outcomes(20_000)
    _, metrics = uplift.fit_uplift_models(outcomes, None, truth, PARAMS)
    discount = metrics["campaigns"]["retention_discount"]
    assert discount["qini_coefficient"] > 0
    assert discount["qini_coefficient"] > discount["qini_coefficient_of_risk_ranking"]
    assert discount["spearman_with_planted_effect"] > 0.4
    plans = discount["plans"]
    by_uplift, by_risk = plans["by_uplift_x_value"], plans["by_risk_x_value"]
    assert by_uplift["planted_incremental_value"] > by_risk["planted_incremental_value"]
    assert by_uplift["incremental_value"] > by_risk["incremental_value"]
    assert metrics["campaigns"]["success_call"]["spearman_with_planted_effect"] > 0
