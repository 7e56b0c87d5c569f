"""The DuckDB cleaning path gives exactly what the pandas path gives, row by row."""

from __future__ import annotations

import itertools

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from customer_retention.core.contract import RAW_TABLES, TABLE_SPECS, Rule
from customer_retention.core.rules_pandas import rule_fires
from customer_retention.datasets import CleanTableDataset, RawTableSource, StagedParquet
from customer_retention.pipelines.data_cleaning import engine
from customer_retention.pipelines.data_cleaning.nodes import (
    clean_customer_table,
    clean_customers,
    resolve_rules,
)
from customer_retention.pipelines.data_cleaning.rules_sql import rule_fires_sql

CUSTOMER_TABLES = RAW_TABLES[1:]


def _both_paths(raw: pd.DataFrame, table: str, customers: pd.DataFrame, params, tmp_path):
    """(pandas result, DuckDB result) for ``raw`` written as Parquet; outputs read back."""
    source = RawTableSource(path=str(tmp_path / "raw" / table), table=table)
    source.save(raw)
    reference = clean_customer_table(
        source.load().read(), customers, params | {"duckdb": {"enabled": False}}, table=table
    )
    staged = clean_customer_table(source.load(), customers, params, table=table)
    assert isinstance(staged[0], StagedParquet), "expected the DuckDB path"
    read_back = []
    for name, output in zip(("clean", "quarantine"), staged[:2], strict=True):
        dataset = CleanTableDataset(filepath=str(tmp_path / "out" / f"{table}_{name}.parquet"))
        dataset.save(output)
        read_back.append(dataset.load())
    written = []
    for name, frame in zip(("clean", "quarantine"), reference[:2], strict=True):
        dataset = CleanTableDataset(filepath=str(tmp_path / "ref" / f"{table}_{name}.parquet"))
        dataset.save(frame)
        written.append(dataset.load())
    return (*written, reference[2]), (*read_back, staged[2])


def _assert_same(reference, duckdb_result) -> None:
    """Same clean rows in the same order, same quarantine, same report (and dtypes)."""
    for expected, actual in zip(reference[:2], duckdb_result[:2], strict=True):
        pd.testing.assert_frame_equal(actual, expected)
        assert list(actual.dtypes) == list(expected.dtypes)
    assert duckdb_result[2] == reference[2]


@pytest.mark.parametrize("table", CUSTOMER_TABLES)
def test_demo_data_cleans_the_same_in_duckdb(table, demo_tables, cleaning_params, tmp_path):
    customers = clean_customers(demo_tables["customers"], cleaning_params)[0]
    reference, in_duckdb = _both_paths(
        demo_tables[table], table, customers, cleaning_params, tmp_path
    )
    _assert_same(reference, in_duckdb)
    assert reference[2]["rows_quarantined"] > 0  # every table has planted errors


KNOWN = pd.DataFrame({"customer_id": pd.array(["1", "2", " 3"], dtype="string")})


def _ts(*values):
    return pd.to_datetime(list(values), format="ISO8601").astype("datetime64[ms]")


def _hand_made(table: str) -> pd.DataFrame:
    """Typed raw rows breaking every rule of ``table``, alone and together, with duplicates,
    conflicting keys, unknown customers, blanks, NaN, infinities and whitespace."""
    spec = TABLE_SPECS[table]
    good = {
        "id": ["1", "2", "3 ", None, "", "   ", "\u00a01", "9", "1", "1"],
        "date": _ts(
            "2024-01-05",
            "2024-02-01 10:00",
            None,
            "1980-01-01",
            "2030-01-01",
            "2024-01-04",
            "2024-01-05",
            "2025-12-31",
            "2024-01-05",
            "2024-01-06",
        ),  # fmt: skip
        "number": [1.0, -1.0, np.nan, np.inf, -np.inf, 0.0, -0.0, 11.0, 5e6, 3.0],
        "text": ["nps", " NPS ", "csat", "exit", "poll", "", None, " ", "Exit", "nps"],
    }
    # Columns compared case-insensitively against a list of their own (interventions.arm).
    own = {"arm": ["treatment", " CONTROL ", "control", "holdout", "", None, " ", "Treatment"]}
    own["arm"] += ["treatment", "control"]
    rows = {}
    for i, (column, kind) in enumerate(spec.columns.items()):
        values = list(own.get(column, good[kind]))
        rotate = i % len(values)
        rows[column] = values[rotate:] + values[:rotate]
    frame = pd.DataFrame(rows)
    # Every column at every value of its kind with the others fixed, then exact repeats.
    variants = [frame]
    for column, kind in spec.columns.items():
        for value in own.get(column, good[kind]):
            variants.append(frame.iloc[:1].assign(**{column: [value]}))
    valid = {"id": "1", "date": "2024-01-05", "number": 3.0, "text": "nps", "arm": "treatment"}
    valid_row = pd.DataFrame([{c: valid.get(c, valid[k]) for c, k in spec.columns.items()}])
    changed = {c: 4.0 for c, k in spec.columns.items() if k == "number"}
    variants += [valid_row, valid_row, valid_row.assign(**changed)]  # repeat, conflicting key
    frame = pd.concat(variants + variants[:4], ignore_index=True)
    for column, kind in spec.columns.items():
        if kind == "date":
            frame[column] = pd.to_datetime(frame[column], format="ISO8601").astype("datetime64[ms]")
        elif kind == "number":
            frame[column] = frame[column].astype("float64")
        else:
            frame[column] = frame[column].astype("string")
    return frame


@pytest.mark.parametrize("table", CUSTOMER_TABLES)
def test_hand_made_rows_clean_the_same_in_duckdb(table, cleaning_params, tmp_path):
    raw = _hand_made(table)
    reference, in_duckdb = _both_paths(raw, table, KNOWN, cleaning_params, tmp_path)
    _assert_same(reference, in_duckdb)
    reasons = set(reference[1]["quarantine_reason"])
    assert "duplicate row" in reasons and any("; " in r for r in reasons)


def test_dictionary_and_integer_columns_clean_the_same(cleaning_params, tmp_path):
    """Demo-style Parquet: integer ids and a dictionary-encoded event_type with blanks."""
    raw = pd.DataFrame(
        {
            "customer_id": [1, 2, 2, 404, 1],
            "event_time": _ts("2024-01-05", "2024-01-06", "2024-01-06", "2024-01-07", "1970-01-01"),
            "event_type": pd.Categorical(["login", " ", "export", "login", ""]),
        }
    )
    reference, in_duckdb = _both_paths(raw, "events", KNOWN, cleaning_params, tmp_path)
    _assert_same(reference, in_duckdb)
    assert "missing event_type" in set(reference[1]["quarantine_reason"])


def test_missing_survey_with_a_score_out_of_range_is_quarantined(cleaning_params, tmp_path):
    """Used to crash the pandas path (pandera cannot evaluate NA in the NPS range check)."""
    raw = pd.DataFrame(
        {
            "customer_id": pd.array(["1", "2"], dtype="string"),
            "response_date": _ts("2024-01-05", "2024-01-06"),
            "survey": pd.array([None, "nps"], dtype="string"),
            "score": [11.0, 9.0],
        }
    )
    reference, in_duckdb = _both_paths(raw, "feedback", KNOWN, cleaning_params, tmp_path)
    _assert_same(reference, in_duckdb)
    assert reference[1]["quarantine_reason"].tolist() == ["missing survey"]


def test_text_dates_and_csv_use_the_pandas_path(cleaning_params, tmp_path):
    raw = pd.DataFrame(
        {"customer_id": ["1"], "event_time": ["2024-01-05"], "event_type": ["login"]}
    )
    for fmt in ("parquet", "csv"):
        source = RawTableSource(
            path=str(tmp_path / fmt / "events"), table="events", save_format=fmt
        )
        source.save(raw)
        clean, _, report = clean_customer_table(
            source.load(), KNOWN, cleaning_params, table="events"
        )
        assert isinstance(clean, pd.DataFrame) and report["rows_clean"] == 1


def _grid(rule: Rule) -> pd.DataFrame:
    """Every combination of edge values for the columns a rule reads."""
    values = {
        "number": [None, np.nan, -np.inf, -1.0, -0.0, 0.0, 1.0, 5.0, 10.0, 11.0, 1e6, 2e6, np.inf],
        "date": [None, *pd.to_datetime(["1989-12-31", "1990-01-01", "2026-01-31", "2026-02-01"])],
        "text": [None, "", "nps", "csat", "exit", "poll"],
    }
    columns = {rule.column} | ({rule.bound} if rule.test == "before" else set())
    columns |= {rule.only_if[0]} if rule.only_if else set()
    kinds = {c: _kind_of(c) for c in columns}
    combos = itertools.product(*(values[kinds[c]] for c in columns))
    frame = pd.DataFrame(list(combos), columns=list(columns))
    for column, kind in kinds.items():
        dtype = {"number": "float64", "date": "datetime64[ns]", "text": "string"}[kind]
        frame[column] = frame[column].astype(dtype)
    return frame


def _kind_of(column: str) -> str:
    kinds = {c: k for spec in TABLE_SPECS.values() for c, k in spec.columns.items()}
    return {"id": "text"}.get(kinds[column], kinds[column])


def _all_rules(params) -> list[Rule]:
    rules = {rule for spec in TABLE_SPECS.values() for rule in spec.rules(params)}
    return sorted(rules, key=lambda rule: rule.reason)


def test_every_rule_fires_on_the_same_rows_in_pandas_and_sql(cleaning_params):
    """Each rule, evaluated by both interpreters on every combination of edge values."""
    params = resolve_rules(cleaning_params)
    tests_seen = set()
    with duckdb.connect() as con:
        for rule in _all_rules(params):
            frame = _grid(rule)
            con.register("grid", pa.Table.from_pandas(frame, preserve_index=False))
            in_sql = con.execute(f"SELECT {rule_fires_sql(rule)} FROM grid").fetchnumpy()
            in_pandas = rule_fires(rule, frame)
            np.testing.assert_array_equal(list(in_sql.values())[0], in_pandas, err_msg=rule.reason)
            assert in_pandas.any() and not in_pandas.all(), rule.reason
            tests_seen.add(rule.test)
    assert tests_seen == {"missing", "empty", "below", "above", "outside", "not_in", "before"}


def test_duckdb_clean_table_keeps_the_pandas_parquet_layout(cleaning_params, tmp_path):
    raw = _hand_made("transactions")
    _both_paths(raw, "transactions", KNOWN, cleaning_params, tmp_path)
    for name in ("clean", "quarantine"):
        from_duckdb = pq.read_schema(tmp_path / "out" / f"transactions_{name}.parquet")
        from_pandas = pq.read_schema(tmp_path / "ref" / f"transactions_{name}.parquet")
        assert from_duckdb.names == from_pandas.names
        assert from_duckdb.types == from_pandas.types
        assert from_duckdb.pandas_metadata["columns"] == from_pandas.pandas_metadata["columns"]


def test_duckdb_settings_are_applied():
    con = engine.connect({"memory_limit": "300MB", "threads": 1})
    memory, threads = con.execute(
        "SELECT current_setting('memory_limit'), current_setting('threads')"
    ).fetchone()
    assert threads == 1 and memory.startswith("286")


def test_text_is_stripped_exactly_as_pandas_strips_it():
    """DuckDB's trim (behind a fast check of the first and last character) strips what
    pandas' Arrow-backed ``str.strip`` strips, whatever the characters at either end."""
    whitespace = engine.arrow_whitespace()
    ends = [*whitespace, "", "a", "é", "\u0301", "\u0600", "\r\n", "x\u0301", "\u200b", "~", "!"]
    values = [left + middle + right for left in ends for middle in ("", "b c") for right in ends]
    expected = pd.Series(values, dtype="string[pyarrow]").str.strip()
    with duckdb.connect() as con:
        con.register("t", pa.table({"v": pa.array(values, pa.string())}))
        stripped = con.execute(f"SELECT {engine._trim_sql('v')} AS s FROM t").fetchall()
    assert [row[0] for row in stripped] == expected.tolist()
