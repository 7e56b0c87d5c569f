"""The pre-flight run plan and one-snapshot data: the shape is detected, the label is the
churn flag, and a run that cannot mean anything stops with the parameter to change."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from customer_retention.core.run_plan import PLAN_STAGES
from customer_retention.pipelines.feature_engineering import nodes
from customer_retention.pipelines.preflight import nodes as preflight

from ...conftest import attribute_profile, load_parameters, tiny_tables

SNAPSHOT = pd.Timestamp("2024-06-01")


def _one_snapshot_tables(n: int = 40) -> dict[str, pd.DataFrame]:
    """n customers signed up before the snapshot; every third churns 15 days after it."""
    ids = [f"c{i}" for i in range(n)]
    signup = SNAPSHOT - pd.to_timedelta([30 * (i + 1) for i in range(n)], unit="D")
    churned = [i % 3 == 0 for i in range(n)]
    customers = pd.DataFrame(
        {"customer_id": ids, "signup_date": signup, "contract": ["m", "y"] * (n // 2)}
    ).astype({"customer_id": "string"})
    subscriptions = pd.DataFrame(
        {
            "customer_id": customers["customer_id"],
            "start_date": signup,
            "end_date": [SNAPSHOT + pd.Timedelta(days=15) if c else pd.NaT for c in churned],
            "plan": "basic",
            "mrr": 10.0,
        }
    )
    return {"customers": customers, "subscriptions": subscriptions}


def _plan_inputs(tables: dict, params: dict) -> tuple:
    transactions = ibis.memtable(
        pd.DataFrame(
            {
                "transaction_id": pd.Series(dtype="string"),
                "customer_id": pd.Series(dtype="string"),
                "transaction_date": pd.Series(dtype="datetime64[ns]"),
                "amount": pd.Series(dtype=float),
            }
        )
    )
    timeline = nodes.build_customer_timeline(
        tables["customers"], ibis.memtable(tables["subscriptions"]), transactions, params
    )
    spine = nodes.build_snapshot_spine(tables["customers"], timeline, params)
    return timeline, spine


def _plan(tables: dict, params: dict) -> dict:
    timeline, spine = _plan_inputs(tables, params)
    return preflight.plan_run(
        timeline,
        spine,
        attribute_profile(tables["customers"]),
        params,
        load_parameters("survival_analysis"),
        load_parameters("churn_model")["split"],
    )


def test_one_snapshot_with_a_churn_flag_is_detected_and_labelled_by_the_flag():
    params = load_parameters("feature_engineering")
    tables = _one_snapshot_tables()
    timeline, spine = _plan_inputs(tables, params)
    assert timeline["history"].iat[0] == "single_snapshot"
    # Two snapshots: the day before the first churn (labelled by the flag) and the as-of date.
    labelled_date = SNAPSHOT + pd.Timedelta(days=14)
    as_of = SNAPSHOT + pd.Timedelta(days=16)
    assert sorted(spine["snapshot_date"].unique()) == [labelled_date, as_of]
    labelled = spine[spine["snapshot_date"] == labelled_date].set_index("customer_id")
    assert len(labelled) == 40 and labelled["churned_within_horizon"].notna().all()
    churners = {f"c{i}" for i in range(40) if i % 3 == 0}
    assert set(labelled.index[labelled["churned_within_horizon"] == 1]) == churners
    scored = spine[spine["snapshot_date"] == as_of]
    assert set(scored["customer_id"]) == {f"c{i}" for i in range(40)} - churners
    assert scored["churned_within_horizon"].isna().all()

    plan = _plan(tables, params)
    assert tuple(plan["stages"]) == PLAN_STAGES  # every stage the others ask about, no other
    assert plan["history"] == "single_snapshot" and plan["labelled_snapshots"] == 1
    assert plan["stages"]["landmark_model"]["run"] is False
    assert plan["stages"]["retention_kpis"]["run"] is False
    assert plan["stages"]["clv"]["why"].endswith("Cox model")
    assert plan["segments"] == ["contract"]


def test_a_history_is_not_mistaken_for_one_snapshot():
    params = load_parameters("feature_engineering") | {"as_of_date": "2024-05-01"}
    tables = tiny_tables()
    timeline, _ = _plan_inputs(tables, params)
    assert timeline["history"].iat[0] == "full"  # C left (Feb 1) before B joined (Feb 1 +)
    forced = params | {"history": "single_snapshot"}
    assert _plan_inputs(tables, forced)[0]["history"].iat[0] == "single_snapshot"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"as_of_date": "2020-01-01"}, "No customer is active at any snapshot date"),
        ({"as_of_date": "2024-05-01", "n_snapshots": 1}, "feature_engineering.n_snapshots"),
    ],
)
def test_a_run_that_cannot_mean_anything_stops_naming_the_parameter(changes, message):
    params = load_parameters("feature_engineering") | changes
    with pytest.raises(preflight.RunPlanError, match=message):
        _plan(tiny_tables(), params)


def test_landmark_forced_on_without_enough_snapshots_is_refused():
    survival = load_parameters("survival_analysis")
    survival["landmark"] = survival["landmark"] | {"enabled": True}
    params = load_parameters("feature_engineering")
    tables = _one_snapshot_tables()
    timeline, spine = _plan_inputs(tables, params)
    with pytest.raises(preflight.RunPlanError, match="landmark.enabled is true"):
        preflight.plan_run(
            timeline,
            spine,
            attribute_profile(tables["customers"]),
            params,
            survival,
            load_parameters("churn_model")["split"],
        )


@pytest.mark.parametrize("n_snapshots", [4, 6, 9, 12])
def test_the_plan_predicts_the_split_the_churn_model_uses(n_snapshots, clean_demo):
    """The plan and the churn model decide with the same rule (core.splits)."""
    from customer_retention.pipelines.churn_model.split import split_snapshots

    from ..feature_engineering.test_nodes import compute_snapshots

    params = load_parameters("feature_engineering") | {"n_snapshots": n_snapshots}
    snapshots = compute_snapshots(clean_demo, params)
    churn = load_parameters("churn_model")
    _, info = split_snapshots(snapshots, churn, params["horizon_days"])
    planned = preflight._temporal_split(
        preflight._snapshot_table(snapshots), params, churn["split"]
    )
    assert planned[0] == (info["split"] == "temporal"), (n_snapshots, info["reason"])
