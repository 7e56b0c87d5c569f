"""Point-in-time correctness of the snapshots: hand-computed values, no leakage, Spark SQL."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from customer_retention.core.features import FEATURES
from customer_retention.pipelines.feature_engineering import aggregations, nodes
from customer_retention.pipelines.feature_engineering.pipeline import FEATURE_GROUPS

from ...conftest import attribute_profile, load_parameters, tiny_tables

T = pd.Timestamp


def build_spine(tables: dict[str, pd.DataFrame], engine: dict, params: dict) -> pd.DataFrame:
    """The snapshot spine from ``tables``, their subscriptions and transactions read as the
    Ibis tables in ``engine``."""
    timeline = nodes.build_customer_timeline(
        tables["customers"], engine["subscriptions"], engine["transactions"], params
    )
    return nodes.build_snapshot_spine(tables["customers"], timeline, params)


def compute_snapshots(tables: dict[str, pd.DataFrame], params: dict) -> pd.DataFrame:
    """The feature_engineering pipeline, node by node, on in-memory tables."""
    as_ibis = {name: ibis.memtable(frame) for name, frame in tables.items() if name != "customers"}
    spine = build_spine(tables, as_ibis, params)
    groups = [func(spine, as_ibis[table], params) for table, func in FEATURE_GROUPS.values()]
    snapshots, as_of_rows = nodes.assemble_customer_snapshots(
        spine, tables["customers"], attribute_profile(tables["customers"]), params, *groups
    )
    # The as-of rows apart are exactly the rows of the newest snapshot, in the same order.
    pd.testing.assert_frame_equal(
        as_of_rows, snapshots[snapshots["is_as_of_snapshot"]].reset_index(drop=True)
    )
    assert (as_of_rows["snapshot_date"] == snapshots["snapshot_date"].max()).all()
    return snapshots


@pytest.fixture
def feature_params() -> dict:
    return load_parameters("feature_engineering")


def test_tiny_example_matches_hand_computation(feature_params):
    params = feature_params | {"as_of_date": "2024-05-01", "n_snapshots": 4, "horizon_days": 30}
    snapshots = compute_snapshots(tiny_tables(), params).set_index(["snapshot_date", "customer_id"])
    # Active customers per snapshot (episode started before t, not ended by t).
    assert sorted(snapshots.index) == [
        (T("2024-02-01"), "A"),
        (T("2024-03-01"), "A"),
        (T("2024-03-01"), "B"),
        (T("2024-04-01"), "B"),
        (T("2024-04-01"), "C"),
        (T("2024-05-01"), "B"),
        (T("2024-05-01"), "C"),
    ]
    label = snapshots["churned_within_horizon"]
    assert label[(T("2024-02-01"), "A")] == 0  # ends 2024-03-15, after the 30-day horizon
    assert label[(T("2024-03-01"), "A")] == 1  # ends within (t, t + 30 days]
    assert label[(T("2024-03-01"), "B")] == 0
    assert np.isnan(label[(T("2024-04-01"), "B")])  # horizon reaches the as-of date: unknown
    assert snapshots["is_as_of_snapshot"].sum() == 2

    a = snapshots.loc[(T("2024-03-01"), "A")]
    assert a["tenure_days"] == 60
    assert (a["events_recent"], a["events_previous"]) == (2, 1)  # the event at t is excluded
    assert a["days_since_last_event"] == pytest.approx(1.0)
    assert a["usage_trend_ratio"] == pytest.approx((2 + 1) / (1 * 30 / 90 + 1))
    assert a["event_types_recent"] == 2
    assert a["open_tickets"] == 1  # resolved only after t
    assert a["median_first_response_hours"] == pytest.approx(6.0)
    assert np.isnan(a["last_csat"])  # the rating arrives with the resolution, after t
    assert (a["nps_latest"], a["nps_trend"], a["nps_class"]) == (4, -5, "detractor")
    assert a["exit_survey_started"]
    assert a["mrr_current"] == 50 and a["days_since_last_transaction"] == pytest.approx(60)
    c = snapshots.loc[(T("2024-04-01"), "C")]
    assert (c["mrr_current"], c["current_plan"], c["plan_upgrades"]) == (150, "pro", 1)
    assert (
        c["tenure_days"] == 82
        and c["days_since_last_event"] == params["windows"]["usage_lookback_days"]
    )


def test_non_contractual_timeline_uses_inactivity(feature_params):
    tables = tiny_tables()
    tx = pd.DataFrame(
        {
            "transaction_id": ["1", "2", "3"],
            "customer_id": pd.array(["A", "A", "B"], dtype="string"),
            "transaction_date": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-01-05"]),
            "amount": [10.0, 20.0, 5.0],
        }
    )
    params = feature_params | {"as_of_date": "2024-06-01", "inactivity_days": 60}
    empty = ibis.memtable(tables["subscriptions"].iloc[:0])
    timeline = nodes.build_customer_timeline(tables["customers"], empty, ibis.memtable(tx), params)
    timeline = timeline.set_index("customer_id")
    assert timeline.loc["A", "episode_start"] == T("2024-01-01")
    assert timeline.loc["A", "episode_end"] == T("2024-04-30")  # last purchase + 60 days
    assert timeline.loc["B", "episode_end"] == T("2024-03-05")
    assert (timeline["contract"] == "non-contractual").all()
    # contract: non_contractual analyses the purchases even when subscriptions are there.
    chosen = nodes.build_customer_timeline(
        tables["customers"],
        ibis.memtable(tables["subscriptions"]),
        ibis.memtable(tx),
        params | {"contract": "non_contractual"},
    ).set_index("customer_id")
    assert chosen.loc["A", "episode_end"] == T("2024-04-30")
    assert chosen["contract_reason"].iat[0].startswith("set by the contract parameter")


def _perturb_from(tables: dict[str, pd.DataFrame], t: pd.Timestamp, rng) -> dict[str, pd.DataFrame]:
    """Change, add and delete records dated on or after t, in every time-stamped table."""
    out = {name: frame.copy() for name, frame in tables.items()}
    events = out["events"]
    later = events["event_time"] >= t
    events.loc[later, "event_type"] = "login"
    events = events[~later | (rng.random(len(events)) < 0.5)]
    burst = events.drop_duplicates("customer_id").assign(event_time=t, event_type="export")
    out["events"] = pd.concat([events, burst], ignore_index=True)
    tx = out["transactions"]
    tx.loc[tx["transaction_date"] >= t, "amount"] *= 10
    out["transactions"] = pd.concat(
        [
            tx,
            tx.drop_duplicates("customer_id").assign(
                transaction_date=t, transaction_id=lambda d: d["transaction_id"] + "x"
            ),
        ],
        ignore_index=True,
    )
    tickets = out["support_tickets"]
    pending = tickets["first_response_at"] >= t
    tickets.loc[pending, "first_response_at"] += pd.Timedelta(days=3)
    tickets.loc[tickets["resolved_at"] >= t, "csat"] = 1
    feedback = out["feedback"]
    out["feedback"] = pd.concat(
        [
            feedback,
            feedback.drop_duplicates("customer_id").assign(
                response_date=t, survey="nps", score=0.0
            ),
        ],
        ignore_index=True,
    )
    subs = out["subscriptions"]
    subs.loc[subs["start_date"] >= t, "mrr"] += 100
    return out


def test_no_leakage_features_at_t_ignore_data_on_or_after_t(clean_demo, feature_params):
    params = feature_params | {"as_of_date": "2026-01-01", "n_snapshots": 7}
    t = pd.Timestamp("2025-10-01")
    before = compute_snapshots(clean_demo, params)
    after = compute_snapshots(_perturb_from(clean_demo, t, np.random.default_rng(0)), params)
    features = [
        c for c in before.columns if FEATURES.get(c, None) is None or FEATURES[c].is_model_input
    ]
    at_t = before[before["snapshot_date"] == t].set_index("customer_id")
    at_t_after = after[after["snapshot_date"] == t].set_index("customer_id").loc[at_t.index]
    assert len(at_t) > 1000
    pd.testing.assert_frame_equal(at_t[features], at_t_after[features])
    # The perturbation is real: features after t do change.
    later = before["snapshot_date"] > t
    assert not before.loc[later, features].equals(after.loc[later, features])


def test_every_column_is_documented_and_every_feature_is_built(clean_demo, feature_params):
    snapshots = compute_snapshots(clean_demo, feature_params | {"n_snapshots": 2})
    static = set(clean_demo["customers"].columns) - {"customer_id", "signup_date"}
    built = {name for name, feature in FEATURES.items() if feature.in_customer_snapshots}
    assert set(snapshots.columns) == built | static
    for column in static:
        assert isinstance(snapshots[column].dtype, pd.CategoricalDtype)


def test_absent_tables_skip_their_features(clean_demo, feature_params, caplog):
    tables = dict(clean_demo)
    for table in ("events", "support_tickets", "feedback"):
        tables[table] = tables[table].iloc[:0]
    with caplog.at_level("INFO"):
        snapshots = compute_snapshots(tables, feature_params | {"n_snapshots": 2})
    assert "No usage data: its features are skipped" in caplog.text
    assert not {"events_recent", "open_tickets", "nps_latest"} & set(snapshots.columns)
    assert {"mrr_current", "transactions_recent", "tenure_days"} <= set(snapshots.columns)


@pytest.mark.parametrize("group", list(FEATURE_GROUPS))
def test_aggregations_compile_for_pyspark(group, clean_demo, feature_params):
    class PySparkOptions(
        ibis.config.Config
    ):  # what ibis.pyspark registers when pyspark is installed
        treat_nan_as_null: bool = False

    ibis.options.pyspark = PySparkOptions()
    table, _ = FEATURE_GROUPS[group]
    spine = ibis.memtable(pd.DataFrame({"customer_id": ["1"], "snapshot_date": [T("2025-01-01")]}))
    builder = getattr(aggregations, f"{group}_features")
    sql = ibis.to_sql(
        builder(spine, ibis.memtable(clean_demo[table]), feature_params["windows"]),
        dialect="pyspark",
    )
    assert "GROUP BY" in sql and "<" in sql


def test_feature_nodes_leave_no_in_memory_table_in_the_connection(feature_params, tmp_path):
    """Each feature node registers the spine's keys in DuckDB (an Ibis memtable); Ibis alone
    drops it only at exit, so a long run kept one copy per node."""
    params = feature_params | {"as_of_date": "2024-05-01", "n_snapshots": 4, "horizon_days": 30}
    tables = tiny_tables()
    backend = ibis.duckdb.connect()  # as the catalog's Ibis datasets: Parquet files read in
    engine = {}
    for table in ("subscriptions", "transactions"):
        tables[table].to_parquet(tmp_path / f"{table}.parquet")
        engine[table] = backend.read_parquet(tmp_path / f"{table}.parquet", table_name=table)
    spine = build_spine(tables, engine, params)

    def registered() -> set[str]:
        rows = backend.con.sql("select table_name from information_schema.tables").fetchall()
        return {name for (name,) in rows}

    before = registered()
    features = nodes.build_purchase_features(spine, engine["transactions"], params)
    assert len(features) == len(spine) and features.notna().any().any()
    assert registered() == before


def test_feature_groups_arrive_filled_and_the_assembly_does_not_copy_them(feature_params):
    """'No record before t' is filled in each feature node; the assembly then places the
    columns without copying them (at 1M customers a copy of every filled column beside the
    unfilled one was ~1 GB of the run's peak)."""
    params = feature_params | {"as_of_date": "2024-05-01", "n_snapshots": 4, "horizon_days": 30}
    tables = tiny_tables()
    as_ibis = {name: ibis.memtable(frame) for name, frame in tables.items() if name != "customers"}
    spine = build_spine(tables, as_ibis, params)
    purchases = nodes.build_purchase_features(spine, as_ibis["transactions"], params)
    zero_filled = [c for c in purchases if FEATURES[c].when_no_record == "zero"]
    assert zero_filled and not purchases[zero_filled].isna().any().any()
    assert (purchases["transactions_recent"] == 0).any()  # customers without a purchase
    customers = tables["customers"]
    snapshots, _ = nodes.assemble_customer_snapshots(
        spine, customers, attribute_profile(customers), params, purchases
    )
    for column in zero_filled:
        assert np.shares_memory(snapshots[column].to_numpy(), purchases[column].to_numpy())
