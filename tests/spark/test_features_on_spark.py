"""The feature stage on Spark gives DuckDB's snapshot table, row by row.

The same nodes run on both engines: on DuckDB they bring every group back as pandas; on Spark
they hand Ibis tables on and the snapshot table is assembled and written by Spark
(``EngineTableDataset``), then loaded as the model stages load it.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from customer_retention.core.engines import keeps_data_in_engine
from customer_retention.datasets import CleanTableDataset
from customer_retention.datasets.engine_table import EngineTableDataset
from customer_retention.pipelines.feature_engineering import nodes
from customer_retention.pipelines.feature_engineering.pipeline import FEATURE_GROUPS

from ..conftest import attribute_profile, load_parameters, tiny_tables

pytestmark = pytest.mark.spark
NPS = {"nps_class": ["promoter", "passive", "detractor", "no_answer"]}


def snapshot_tables(tables, connection, params, folder):
    """(customer_snapshots, as_of_snapshot) as pandas, the feature nodes run on the clean
    tables read by ``connection`` from Parquet (written as the cleaning stage writes them)."""
    read = {}
    for name, frame in tables.items():
        if name == "customers":
            continue
        path = folder / "clean" / f"{name}.parquet"
        CleanTableDataset(filepath=str(path)).save(frame)
        read[name] = connection.read_parquet(path, table_name=f"{name}_{folder.name}")
    customers = tables["customers"]
    timeline = nodes.build_customer_timeline(
        customers, read["subscriptions"], read["transactions"], params
    )
    spine = nodes.build_snapshot_spine(customers, timeline, params)
    groups = [func(spine, read[table], params) for table, func in FEATURE_GROUPS.values()]
    outputs = nodes.assemble_customer_snapshots(
        spine, customers, attribute_profile(customers), params, *groups
    )
    if not isinstance(outputs[0], ibis.expr.types.Table):
        return outputs
    loaded = []
    for name, table in zip(("customer_snapshots", "as_of_snapshot"), outputs, strict=True):
        dataset = EngineTableDataset(
            path=str(folder / name), keep_text=["customer_id"], categories=NPS
        )
        dataset.save(table)
        loaded.append(dataset.load())
    return tuple(loaded)


def assert_same_rows(expected: pd.DataFrame, actual: pd.DataFrame, rtol: float = 1e-12) -> None:
    """Same columns in the same order, same rows in the same order, same values: text and
    categories exactly, numbers to ``rtol`` (Spark adds floats in another order); counts may
    be integers on Spark where pandas made them floats. A categorical loaded from Spark has
    the levels present in its rows, in pandas' order (the as-of rows apart: pandas keeps the
    whole table's levels)."""
    assert list(actual.columns) == list(expected.columns)
    assert len(actual) == len(expected)
    for column in expected.columns:
        left, right = expected[column], actual[column]
        if isinstance(left.dtype, pd.CategoricalDtype):
            levels = [str(level) for level in left.cat.categories]
            present = [level for level in levels if level in set(left.dropna().astype(str))]
            assert [str(level) for level in right.cat.categories] in (levels, present), column
            assert right.astype(object).equals(left.astype(object)), column
        elif pd.api.types.is_bool_dtype(left) or not pd.api.types.is_numeric_dtype(left):
            assert list(right) == list(left), column
        else:
            np.testing.assert_allclose(
                right.to_numpy(dtype=float), left.to_numpy(dtype=float), rtol=rtol, err_msg=column
            )


def test_tiny_example_on_spark_equals_duckdb(spark_ibis, tmp_path):
    params = load_parameters("feature_engineering") | {
        "as_of_date": "2024-05-01",
        "n_snapshots": 4,
        "horizon_days": 30,
    }
    tables = tiny_tables()
    in_duckdb = snapshot_tables(tables, ibis.duckdb.connect(), params, tmp_path / "duckdb")
    on_spark = snapshot_tables(tables, spark_ibis, params, tmp_path / "spark")
    for expected, actual in zip(in_duckdb, on_spark, strict=True):
        assert_same_rows(expected, actual)
    # The hand-computed first response (6 hours) and the sub-second event recency are kept.
    row = on_spark[0].set_index(["snapshot_date", "customer_id"]).loc[("2024-03-01", "A")]
    assert row["median_first_response_hours"] == 6.0
    assert row["days_since_last_event"] == 1.0


def test_spark_tables_stay_in_the_engine(spark_ibis, tmp_path):
    """A feature node hands an Ibis table on when its data live in Spark, pandas for DuckDB."""
    events = pd.DataFrame(
        {
            "customer_id": pd.array(["A"], dtype="string"),
            "event_time": pd.to_datetime(["2024-01-20 10:00:00.250"]),
            "event_type": pd.array(["login"], dtype="string"),
        }
    )
    path = tmp_path / "events.parquet"
    CleanTableDataset(filepath=str(path)).save(events)
    spine = pd.DataFrame({"customer_id": ["A"], "snapshot_date": pd.to_datetime(["2024-02-01"])})
    params = load_parameters("feature_engineering")
    on_spark = spark_ibis.read_parquet(path)
    assert keeps_data_in_engine(on_spark)
    usage = nodes.build_usage_features(spine, on_spark, params)
    assert isinstance(usage, ibis.expr.types.Table)
    in_duckdb = nodes.build_usage_features(spine, ibis.duckdb.connect().read_parquet(path), params)
    assert isinstance(in_duckdb, pd.DataFrame)
    # Sub-second precision: 11 days, 13 h 59 min 59.75 s before t, on both engines.
    expected = 11 + (13 * 3600 + 59 * 60 + 59.75) / 86_400
    assert usage.to_pandas()["days_since_last_event"].iloc[0] == pytest.approx(expected, abs=1e-12)
    assert in_duckdb["days_since_last_event"].iloc[0] == pytest.approx(expected, abs=1e-12)
