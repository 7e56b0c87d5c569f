"""Cleaning on Spark flags the same rows for the same reasons as DuckDB (and pandas).

The rule records compile to Spark SQL through sqlglot; the tables here break every rule alone
and together (duplicates, conflicting keys, unknown customers, blanks, NaN, infinities,
whitespace), and each rule is evaluated on every combination of edge values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from customer_retention.core import engines
from customer_retention.core.contract import RAW_TABLES
from customer_retention.core.rules_pandas import rule_fires
from customer_retention.datasets import CleanTableDataset, RawTableSource, StagedParquet
from customer_retention.pipelines.data_cleaning import engine, engine_spark
from customer_retention.pipelines.data_cleaning.nodes import (
    clean_customer_table,
    resolve_rules,
)
from customer_retention.pipelines.data_cleaning.rules_sql import rule_fires_sql

from ..pipelines.data_cleaning.test_duckdb_path import KNOWN, _all_rules, _grid, _hand_made

pytestmark = pytest.mark.spark
CUSTOMER_TABLES = RAW_TABLES[1:]


def _read_back(staged, folder):
    frames = []
    for name, output in zip(("clean", "quarantine"), staged[:2], strict=True):
        assert isinstance(output, StagedParquet), "expected an engine path"
        dataset = CleanTableDataset(filepath=str(folder / f"{name}.parquet"))
        dataset.save(output)
        frames.append(dataset.load())
    return frames


def _duckdb_and_spark(raw, table, customers, params, spark, tmp_path, monkeypatch):
    """(DuckDB result, Spark result) for ``raw`` written as Parquet, outputs read back."""
    source = RawTableSource(path=str(tmp_path / "raw" / table), table=table)
    source.save(raw)
    in_duckdb = clean_customer_table(source.load(), customers, params, table=table)
    monkeypatch.setattr(engines, "_run_session", spark)
    on_spark = clean_customer_table(source.load(), customers, params, table=table)
    monkeypatch.setattr(engines, "_run_session", None)
    return (
        (*_read_back(in_duckdb, tmp_path / "duckdb"), in_duckdb[2]),
        (*_read_back(on_spark, tmp_path / "spark"), on_spark[2]),
    )


def _assert_same(in_duckdb, on_spark) -> None:
    """Same quarantine (rows as received, reasons), same report, same clean rows in the same
    order. Spark writes no pandas metadata: its text columns load as Python strings."""
    pd.testing.assert_frame_equal(on_spark[1], in_duckdb[1])
    assert on_spark[2] == in_duckdb[2]
    expected = in_duckdb[0]
    text = [c for c in expected if isinstance(expected[c].dtype, pd.StringDtype)]
    pd.testing.assert_frame_equal(on_spark[0].astype(dict.fromkeys(text, "string")), expected)


@pytest.mark.parametrize("table", CUSTOMER_TABLES)
def test_hand_made_rows_are_flagged_alike(table, spark, cleaning_params, tmp_path, monkeypatch):
    in_duckdb, on_spark = _duckdb_and_spark(
        _hand_made(table), table, KNOWN, cleaning_params, spark, tmp_path, monkeypatch
    )
    _assert_same(in_duckdb, on_spark)
    reasons = set(on_spark[1]["quarantine_reason"])
    assert "duplicate row" in reasons and any("; " in r for r in reasons)


def test_every_rule_fires_on_the_same_rows_in_spark(spark, cleaning_params):
    """Each rule in Spark SQL (ANSI mode), on every combination of edge values, against the
    pandas evaluation (which the DuckDB SQL matches: test_duckdb_path)."""
    assert spark.conf.get("spark.sql.ansi.enabled") == "true"
    params = resolve_rules(cleaning_params)
    for rule in _all_rules(params):
        frame = _grid(rule)
        arrow = pa.Table.from_pandas(frame, preserve_index=False)  # NaN -> NULL, as parsed
        microseconds = [
            pa.field(f.name, pa.timestamp("us")) if pa.types.is_timestamp(f.type) else f
            for f in arrow.schema
        ]
        spark.createDataFrame(arrow.cast(pa.schema(microseconds))).createOrReplaceTempView("grid")
        in_spark = np.array(
            [
                row[0]
                for row in spark.sql(f"SELECT {rule_fires_sql(rule, 'spark')} FROM grid").collect()
            ]
        )
        np.testing.assert_array_equal(in_spark, rule_fires(rule, frame), err_msg=rule.reason)
        assert in_spark.any() and not in_spark.all(), rule.reason


def test_text_is_stripped_exactly_as_pandas_strips_it(spark):
    whitespace = engine.arrow_whitespace()
    ends = [*whitespace, "", "a", "é", "\u0301", "\r\n", "\u200b", "~"]
    values = [left + middle + right for left in ends for middle in ("", "b c") for right in ends]
    expected = pd.Series(values, dtype="string[pyarrow]").str.strip()
    spark.createDataFrame(pd.DataFrame({"v": values})).createOrReplaceTempView("texts")
    stripped = spark.sql(f"SELECT {engine_spark._parse_sql('v', 'id', 'VARCHAR')} FROM texts")
    assert [row[0] for row in stripped.collect()] == expected.tolist()


def test_nanosecond_dates_are_floored_alike(spark, cleaning_params, tmp_path, monkeypatch):
    """A raw TIMESTAMP(NANOS) column (Spark reads it as integers) floors to the microsecond in
    every path, so the same rows repeat and the same values are kept."""
    times = pd.to_datetime(
        [
            "2024-01-05 10:00:00.000001999",
            "2024-01-05 10:00:00.000001001",  # the same microsecond: a repeated row
            "2024-01-06 00:00:00",
            "1980-01-01 00:00:00.000000001",
        ],
        format="ISO8601",
    )
    raw = pd.DataFrame(
        {
            "customer_id": pd.array(["1", "1", "2", "1"], dtype="string"),
            "event_time": times,
            "event_type": pd.array(["login"] * 4, dtype="string"),
        }
    )
    path = tmp_path / "raw" / "events.parquet"
    path.parent.mkdir()
    pq.write_table(pa.Table.from_pandas(raw, preserve_index=False), path)
    source = RawTableSource(path=str(tmp_path / "raw" / "events"), table="events")
    reference = clean_customer_table(
        source.load().read(),
        KNOWN,
        cleaning_params | {"duckdb": {"enabled": False}},
        table="events",
    )
    in_duckdb = clean_customer_table(source.load(), KNOWN, cleaning_params, table="events")
    monkeypatch.setattr(engines, "_run_session", spark)
    on_spark = clean_customer_table(source.load(), KNOWN, cleaning_params, table="events")
    monkeypatch.setattr(engines, "_run_session", None)
    assert reference[2] == in_duckdb[2] == on_spark[2]
    assert reference[2]["quarantined_by_reason"] == {
        "duplicate row": 1,
        "event_time before 1990-01-01": 1,
    }
    for staged, name in ((in_duckdb, "duckdb"), (on_spark, "spark")):
        clean = _read_back(staged, tmp_path / name)[0]
        assert clean["event_time"].tolist() == reference[0]["event_time"].tolist()
    assert reference[0]["event_time"].iloc[0] == pd.Timestamp("2024-01-05 10:00:00.000001")
