"""The fast paths of the feature stage give the results of the straightforward ones: usage
features with bit masks vs COUNT(DISTINCT) per event, and the spine join vs pandas merges."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from customer_retention.pipelines.feature_engineering import aggregations, nodes

from ...conftest import attribute_profile, load_parameters

KEYS = aggregations.KEYS


@pytest.fixture
def feature_params() -> dict:
    return load_parameters("feature_engineering")


def _spine(customer_ids, dates) -> pd.DataFrame:
    return pd.MultiIndex.from_product([customer_ids, pd.to_datetime(dates)], names=KEYS).to_frame(
        index=False
    )


def _usage(builder, spine: pd.DataFrame, events: pd.DataFrame, windows: dict) -> pd.DataFrame:
    result = builder(ibis.memtable(spine[KEYS]), ibis.memtable(events), windows).to_pandas()
    return result.sort_values(KEYS, ignore_index=True)[
        [*KEYS, *sorted(c for c in result.columns if c not in KEYS)]
    ]


def _boundary_events(rng, customers: list[str], snapshots, types: list[str]) -> pd.DataFrame:
    """Events on and around every window edge (midnight, one microsecond before, midday),
    several per day, some without a type."""
    edges = [0, 30, 90, 120, 180, 181]
    times = [
        t - pd.Timedelta(days=d) + offset
        for t in pd.to_datetime(snapshots)
        for d in edges
        for offset in (pd.Timedelta(0), -pd.Timedelta(microseconds=1), pd.Timedelta(hours=12))
    ]
    n = 4000
    events = pd.DataFrame(
        {
            "customer_id": rng.choice(customers, n),
            "event_time": rng.choice(np.array(times, dtype="datetime64[us]"), n),
            "event_type": rng.choice(np.array(types, dtype=object), n),
        }
    )
    events.loc[rng.random(n) < 0.03, "event_type"] = None
    return events


def test_bit_masks_equal_per_event_on_demo_data(clean_demo, feature_params):
    events = clean_demo["events"]
    assert events["event_type"].nunique() > 1
    spine = _spine(
        events["customer_id"].drop_duplicates().iloc[:400],
        ["2025-04-01", "2025-07-01", "2025-10-01", "2026-01-01"],
    )
    windows = feature_params["windows"]
    fast = _usage(aggregations.usage_features, spine, events, windows)
    exact = _usage(aggregations.usage_features_per_event, spine, events, windows)
    assert len(exact) > 800 and (exact["event_types_recent"] > 1).any()
    pd.testing.assert_frame_equal(fast, exact, check_exact=True)


@pytest.mark.parametrize("time_of_day", ["00:00", "12:00"])
def test_bit_masks_equal_per_event_at_window_edges(feature_params, time_of_day):
    """Events on every window edge; snapshots at midnight or midday (the recent window then
    spans recent_days + 1 calendar days)."""
    rng = np.random.default_rng(3)
    customers = [f"c{i}" for i in range(40)]
    days = ["2025-03-01", "2025-04-01", "2025-05-01"]
    events = _boundary_events(rng, customers, days, ["login", "export", "share", "api"])
    windows = feature_params["windows"]
    snapshots = pd.to_datetime([f"{day} {time_of_day}" for day in days])
    spine = _spine(customers, snapshots)
    fast = _usage(aggregations.usage_features, spine, events, windows)
    exact = _usage(aggregations.usage_features_per_event, spine, events, windows)
    pd.testing.assert_frame_equal(fast, exact, check_exact=True)
    # Independent truth, pandas: distinct types in [t - previous_days, t), distinct days in
    # [t - recent_days, t).
    t = snapshots[1]
    at_t = fast[fast["snapshot_date"] == t].set_index("customer_id")
    for column, days_back, distinct in [
        ("event_types_recent", windows["previous_days"], lambda e: e["event_type"]),
        ("active_days_recent", windows["recent_days"], lambda e: e["event_time"].dt.date),
    ]:
        start = t - pd.Timedelta(days=days_back)
        in_window = events[(events["event_time"] >= start) & (events["event_time"] < t)]
        expected = distinct(in_window).groupby(in_window["customer_id"]).nunique()
        pd.testing.assert_series_equal(
            at_t.loc[expected.index, column], expected, check_names=False, check_dtype=False
        )


def test_usage_node_uses_per_event_path_when_bit_masks_would_be_inexact(feature_params, caplog):
    rng = np.random.default_rng(4)
    customers = [f"c{i}" for i in range(30)]
    windows = feature_params["windows"]
    many_types = [f"type_{i:02d}" for i in range(aggregations.MAX_EVENT_TYPES_PER_MASK + 7)]
    events = _boundary_events(rng, customers, ["2025-04-01"], many_types)
    # Many types in the window for one customer, beyond what one mask holds.
    burst = pd.DataFrame(
        {
            "customer_id": "c0",
            "event_time": pd.Timestamp("2025-03-20") + pd.to_timedelta(range(70), unit="min"),
            "event_type": many_types[:70],
        }
    )
    events = pd.concat([events, burst], ignore_index=True)
    long_recent = windows | {"recent_days": aggregations.MAX_BITS_PER_MASK}
    cases = {
        "many types": (_spine(customers, ["2025-04-01"]), events, windows),
        "long recent window": (
            _spine(customers, ["2025-04-01 12:00"]),
            events.assign(event_type=events["event_type"].str[:6]),
            long_recent,
        ),
    }
    for spine, table, case_windows in cases.values():
        caplog.clear()
        with caplog.at_level("INFO"):
            result = nodes.build_usage_features(
                spine, ibis.memtable(table), feature_params | {"windows": case_windows}
            )
        assert "Usage features per event" in caplog.text
        # The node's result is aligned with the spine: every spine row, in spine order, and
        # carries no keys of its own.
        assert len(result) == len(spine) and not set(KEYS) & set(result.columns)
        exact = _usage(aggregations.usage_features_per_event, spine, table, case_windows)
        expected = _merged(spine[KEYS], [exact])[result.columns]
        pd.testing.assert_frame_equal(result, expected, check_exact=True)
        assert result["events_recent"].notna().sum() == len(exact)
    spine, table, _ = cases["many types"]
    many = nodes.build_usage_features(spine, ibis.memtable(table), feature_params)
    assert many["event_types_recent"][spine["customer_id"].eq("c0").to_numpy()].item() >= 70


def test_both_usage_expressions_compile_for_pyspark(clean_demo, feature_params):
    class PySparkOptions(ibis.config.Config):  # what ibis.pyspark registers with pyspark
        treat_nan_as_null: bool = False

    ibis.options.pyspark = PySparkOptions()
    spine = ibis.memtable(_spine(["1"], ["2025-01-01"]))
    events = ibis.memtable(clean_demo["events"])
    fast = ibis.to_sql(
        aggregations.usage_features(spine, events, feature_params["windows"]), dialect="pyspark"
    )
    assert "BIT_OR" in fast and "BIT_COUNT" in fast
    exact = aggregations.usage_features_per_event(spine, events, feature_params["windows"])
    assert "DISTINCT" in ibis.to_sql(exact, dialect="pyspark")


def _merged(spine: pd.DataFrame, tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The reference: successive pandas left merges."""
    out = spine.copy()
    for table in tables:
        out = out.merge(table.astype({"snapshot_date": "datetime64[ns]"}), on=KEYS, how="left")
    return out


def test_spine_join_equals_pandas_merges():
    rng = np.random.default_rng(5)
    spine = _spine([f"c{i}" for i in range(300)], ["2025-01-01", "2025-02-01", "2025-03-01"])
    spine = spine.sample(frac=1, random_state=1, ignore_index=True)
    spine["tenure_days"] = rng.integers(0, 900, len(spine))

    def features(fraction: float, extra: int) -> pd.DataFrame:
        rows = spine[KEYS].sample(frac=fraction, random_state=extra, ignore_index=True)
        unknown = pd.DataFrame(  # keys not in the spine: dropped by a left join
            {
                "customer_id": [f"x{i}" for i in range(extra)],
                "snapshot_date": rows["snapshot_date"].iloc[:extra].to_numpy(),
            }
        )
        rows = pd.concat([rows, unknown], ignore_index=True)
        rows["snapshot_date"] = rows["snapshot_date"].astype("datetime64[us]")
        n = len(rows)
        return rows.assign(
            **{
                f"count_{extra}": rng.integers(0, 9, n),
                f"flag_{extra}": rng.random(n) < 0.5,
                f"label_{extra}": rng.choice(np.array(["a", "b", None], dtype=object), n),
                f"amount_{extra}": rng.normal(size=n),
                f"last_{extra}": pd.Timestamp("2024-01-01") + pd.to_timedelta(range(n), "h"),
            }
        )

    tables = [features(0.7, 3), features(1.0, 0), features(0.2, 11)]
    joined = nodes._join_on_spine(spine, tables)
    pd.testing.assert_frame_equal(joined, _merged(spine, tables), check_exact=True)
    assert joined["count_3"].isna().any() and joined["count_0"].dtype == np.int64
    # Tables aligned with the spine are placed side by side: with the spine's keys, or without
    # keys (as the feature nodes return them), or a mix.
    aligned = [_merged(spine[KEYS], [table]) for table in tables]
    without_keys = [table.drop(columns=KEYS) for table in aligned]
    for case in (aligned, without_keys, [without_keys[0], aligned[1], without_keys[2]]):
        pd.testing.assert_frame_equal(
            nodes._join_on_spine(spine, case), _merged(spine, tables), check_exact=True
        )
    with pytest.raises(ValueError, match="aligned with the spine row for row"):
        nodes._join_on_spine(spine, [without_keys[0].iloc[1:]])

    duplicated = pd.concat([spine, spine.iloc[:5]], ignore_index=True)
    pd.testing.assert_frame_equal(
        nodes._join_on_spine(duplicated, tables), _merged(duplicated, tables), check_exact=True
    )
    with pytest.raises(ValueError, match="more than one row"):
        nodes._join_on_spine(spine, [pd.concat([tables[1], tables[1]], ignore_index=True)])


@pytest.mark.parametrize("as_text", [True, False])
def test_customer_attributes_follow_customer_id(as_text, feature_params):
    rng = np.random.default_rng(6)
    ids = [f"c{i}" if as_text else i for i in range(200)]
    spine = _spine(ids, ["2025-01-01", "2025-02-01"]).assign(churned_within_horizon=0.0)
    spine["is_as_of_snapshot"] = spine["snapshot_date"] == spine["snapshot_date"].max()
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "signup_date": pd.Timestamp("2024-01-01"),
            "plan": rng.choice(["basic", "pro", "team"], len(ids)),
            "region": rng.choice(["eu", "us"], len(ids)),
        }
    )
    customers = customers.sample(frac=0.9, random_state=2)  # shuffled, some customers unknown
    snapshots, as_of_rows = nodes.assemble_customer_snapshots(
        spine, customers, attribute_profile(customers), feature_params
    )
    assert len(as_of_rows) == len(ids) and (as_of_rows["snapshot_date"] == "2025-02-01").all()
    expected = spine.merge(customers.drop(columns="signup_date"), on="customer_id", how="left")
    assert snapshots["plan"].isna().sum() == 2 * 20
    for column in ("plan", "region"):
        assert isinstance(snapshots[column].dtype, pd.CategoricalDtype)
        pd.testing.assert_series_equal(snapshots[column].astype(object), expected[column])


SOURCES = {
    "usage_features": "events",
    "usage_features_per_event": "events",
    "purchase_features": "transactions",
    "subscription_features": "subscriptions",
    "support_features": "support_tickets",
    "feedback_features": "feedback",
}


def _left_joined(builder, spine: pd.DataFrame, records, windows: dict) -> pd.DataFrame:
    """The reference: features grouped by customer and date, left-joined onto the spine by
    those keys in DuckDB and ordered by spine row, then filled (the nodes' former path)."""
    rows = ibis.memtable(spine[KEYS].assign(order=np.arange(len(spine))))
    features = builder(rows.select(*KEYS), records, windows)
    columns = [c for c in features.columns if c not in KEYS]
    joined = rows.left_join(features, KEYS).order_by("order").select(*columns)
    table = joined.to_pyarrow().to_pandas(coerce_temporal_nanoseconds=True)
    return pd.DataFrame(
        {c: nodes._fill_no_record(table[c], nodes.FEATURES.get(c), windows) for c in columns}
    )


@pytest.mark.parametrize("builder_name", SOURCES)
def test_grouping_by_spine_row_equals_grouping_by_customer_and_date(
    clean_demo, feature_params, builder_name
):
    """The feature nodes group by the spine's row numbers (``aggregations.group_keys``) and put
    the rows found in spine order (``nodes._in_spine_order``): row for row the features of
    grouping by customer and date and left-joining on those keys, on a shuffled spine with
    customers that have no record."""
    builder = getattr(aggregations, builder_name)
    records = ibis.memtable(clean_demo[SOURCES[builder_name]])
    customers = [*clean_demo["customers"]["customer_id"].astype(str).iloc[:300], "none_1", "none_2"]
    spine = _spine(customers, ["2025-04-01", "2025-10-01", "2026-01-01"]).sample(
        frac=1, random_state=2, ignore_index=True
    )
    windows = feature_params["windows"]
    assert aggregations.group_keys(ibis.memtable(spine[KEYS])) == KEYS
    expected = _left_joined(builder, spine, records, windows)
    result = nodes._compute(builder_name, builder, spine, records, windows)
    found = builder(ibis.memtable(spine[KEYS]), records, windows).count().execute()
    assert 0 < found < len(spine)  # spine rows with records, and rows without
    pd.testing.assert_frame_equal(result, expected, check_exact=True)
