"""Cleaning of a raw Parquet table on Spark (``kedro run --env spark``): the DuckDB path's
steps (:mod:`.engine`) in Spark SQL, with the same rules and the same quarantine.

The rules are the contract's records compiled for Spark by :mod:`.rules_sql` (sqlglot renders
each rule's expression in the Spark dialect); parsing, duplicate rows and conflicting keys are
the DuckDB path's queries written for Spark. Spark reads the raw file (row numbers from its
``_metadata.row_index``), flags the rows to quarantine, and writes the clean rows in file order
to one Parquet file; the flagged row numbers and reasons (usually few rows) come to the driver,
which writes the quarantine from the raw file exactly as the other paths do. ANSI mode is on
(``conf/spark/spark.yml``): an invalid cast fails instead of quietly becoming NULL.

Dates are parsed to microseconds: a TIMESTAMP(NANOS) column (which Spark reads as integers,
``spark.sql.legacy.parquet.nanosAsLong``) is floored, as the pandas and DuckDB paths do.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from customer_retention.core.contract import LOWERCASE_COLUMNS, TableSpec
from customer_retention.datasets.clean_table import StagedParquet

from . import engine
from .rules_sql import literal, quote, rule_reasons_sql

logger = logging.getLogger(__name__)
SPARK_TYPES = {"id": "STRING", "text": "STRING", "date": "TIMESTAMP_NTZ", "number": "DOUBLE"}
_INTEGER_TYPES = engine._INTEGER_TYPES
_DOUBLE_MAX = "1.7976931348623157E308"


def _q(name: str) -> str:
    return quote(name, "spark")


def _parse_sql(column: str, kind: str, raw_type: str | None) -> str:
    """Spark SQL parsing one raw column to its contract type (``engine._parse_sql`` for Spark).

    ``raw_type`` is the column's DuckDB type (the same check chose this path)."""
    if raw_type is None:
        return f"CAST(NULL AS {SPARK_TYPES[kind]})"
    raw = _q(column)
    if kind == "date":
        if raw_type == "TIMESTAMP_NS":  # nanoseconds since 1970 as BIGINT, floored to µs
            micros = f"({raw} - pmod({raw}, 1000)) DIV 1000"
            return f"CAST(timestamp_micros({micros}) AS TIMESTAMP_NTZ)"
        return f"CAST({raw} AS TIMESTAMP_NTZ)"
    if kind == "number":
        number = f"CAST({raw} AS DOUBLE)"
        return f"CASE WHEN isnan({number}) THEN NULL ELSE {number} END"
    if raw_type in _INTEGER_TYPES:
        text = f"CAST({raw} AS STRING)"
    else:
        text = f"trim(BOTH {literal(engine.arrow_whitespace(), 'spark')} FROM {raw})"
    if kind == "text":
        text = f"NULLIF({text}, '')"
    return f"lower({text})" if column in LOWERCASE_COLUMNS else text


def _duplicate_key(index: int, column: str, kind: str, raw_type: str | None) -> str:
    """``engine._duplicate_key`` for Spark: equal exactly when the parsed values are."""
    if engine.raw_is_one_to_one(kind, raw_type):
        return f"_r{index}"
    value = _q(column)
    if kind != "number":
        return value
    return (
        f"CASE WHEN {value} = CAST('Infinity' AS DOUBLE) THEN {_DOUBLE_MAX} "
        f"WHEN {value} = CAST('-Infinity' AS DOUBLE) THEN -{_DOUBLE_MAX} ELSE {value} END"
    )


class _Views:
    """Temporary views of one table's cleaning, named apart and dropped at the end."""

    def __init__(self, spark: Any, table: str) -> None:
        self.spark = spark
        self.prefix = f"_clean_{table}_{uuid.uuid4().hex[:8]}"
        self.names: list[str] = []
        self.cached: list[Any] = []

    def __call__(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    def create(self, name: str, query: str, cache: bool = False) -> Any:
        frame = self.spark.sql(query)
        if cache:
            frame = frame.persist()
            self.cached.append(frame)
        frame.createOrReplaceTempView(self(name))
        self.names.append(self(name))
        return frame

    def register(self, name: str, frame: Any) -> None:
        frame.createOrReplaceTempView(self(name))
        self.names.append(self(name))

    def drop(self) -> None:
        for frame in self.cached:
            frame.unpersist()
        for name in self.names:
            self.spark.catalog.dropTempView(name)


def _create_typed_view(views: _Views, file: Path, spec: TableSpec, types: dict[str, str]) -> None:
    from pyspark.sql import functions as F

    reader = views.spark.read.parquet(str(Path(file).absolute()))
    raw = reader.select("*", F.col("_metadata.row_index").alias("_row"))
    views.register("raw", raw)
    columns = list(spec.columns.items())
    typed = [f"{_parse_sql(c, k, types.get(c))} AS {_q(c)}" for c, k in columns]
    originals = [f"{_q(c)} AS _r{i}" for i, (c, _) in enumerate(columns) if c in types]
    views.create("parsed", f"SELECT _row, {', '.join(typed + originals)} FROM {views('raw')}")
    keys = [f"{_duplicate_key(i, c, k, types.get(c))} AS _k{i}" for i, (c, k) in enumerate(columns)]
    views.create("typed", f"SELECT *, {', '.join(keys)} FROM {views('parsed')}")


def _flag_bad_rows(views: _Views, spec: TableSpec, rules: dict[str, Any]) -> None:
    """View ``flagged(_row, reason)``: every row to quarantine, with its reasons (the DuckDB
    path's ``flagged`` and ``conflicting`` tables)."""
    keys = ", ".join(f"_k{i}" for i in range(len(spec.columns)))
    views.create(
        "checked",
        f"""SELECT t._row, NULLIF(concat_ws('; ',
            {rule_reasons_sql(spec.rules(rules), "spark")},
            CASE WHEN t.{_q("customer_id")} IS NOT NULL AND k._known_id IS NULL
                 THEN 'unknown customer_id' END), '') AS reason
        FROM {views("typed")} t LEFT JOIN {views("known")} k ON t.{_q("customer_id")} = k._known_id""",
    )
    views.create(
        "repeated",
        f"""SELECT _row FROM (
            SELECT _row, row_number() OVER (PARTITION BY {keys} ORDER BY _row) AS occurrence
            FROM {views("typed")}) WHERE occurrence > 1""",
    )
    views.create(
        "rule_flagged",
        f"""SELECT c._row, CASE WHEN c.reason IS NULL AND r._row IS NOT NULL
                THEN 'duplicate row' ELSE c.reason END AS reason
        FROM {views("checked")} c LEFT JOIN {views("repeated")} r ON c._row = r._row
        WHERE c.reason IS NOT NULL OR r._row IS NOT NULL""",
        cache=True,
    )
    if spec.key is None:
        views.create("flagged", f"SELECT _row, reason FROM {views('rule_flagged')}")
        return
    columns = [_q(c) for c in spec.key_columns]
    key_values = ", ".join(f"t.{c} AS _key{i}" for i, c in enumerate(columns))
    names = ", ".join(f"_key{i}" for i in range(len(columns)))
    present = " AND ".join(f"t.{c} IS NOT NULL" for c in columns)
    same = " AND ".join(f"v._key{i} = r._key{i}" for i in range(len(columns)))
    reason = literal(f"duplicate {spec.key_name} with conflicting values", "spark")
    views.create(
        "flagged",
        f"""WITH valid AS (
            SELECT t._row, {key_values} FROM {views("typed")} t
            LEFT ANTI JOIN {views("rule_flagged")} f ON t._row = f._row
            WHERE {present}
        ), repeated AS (
            SELECT {names}, min(_row) AS first_row FROM valid
            GROUP BY {names} HAVING count(*) > 1
        )
        SELECT _row, reason FROM {views("rule_flagged")}
        UNION ALL
        SELECT v._row, {reason} AS reason
        FROM valid v JOIN repeated r ON {same} WHERE v._row <> r.first_row""",
        cache=True,
    )


def _write_clean(views: _Views, spec: TableSpec, staging: Path) -> Path:
    """The rows not quarantined, in file order, as one Parquet file written by Spark."""
    columns = ", ".join(_q(c) for c in spec.columns)
    clean = views.spark.sql(
        f"""SELECT t._row, {columns} FROM {views("typed")} t
        LEFT ANTI JOIN {views("flagged")} f ON t._row = f._row"""
    )
    folder = staging / "clean_spark"
    clean.repartition(1).sortWithinPartitions("_row").drop("_row").write.mode("overwrite").parquet(
        str(folder)
    )
    (part,) = folder.glob("part-*.parquet")
    destination = staging / "clean.parquet"
    part.rename(destination)
    shutil.rmtree(folder)
    return destination


def clean_parquet_in_spark(
    file: Path,
    spec: TableSpec,
    rules: dict[str, Any],
    known_customer_ids: pd.Series,
    spark: Any,
    raw_types: dict[str, str],
    quarantine_frame,
    staging_directory: str | None = None,
) -> tuple[StagedParquet, StagedParquet, dict[str, Any]]:
    """Split a raw Parquet table into (clean, quarantine, report) on Spark.

    ``raw_types`` are the file's column types as DuckDB names them (the check that chose an
    engine path); ``quarantine_frame`` formats quarantined rows (the pandas path's function).
    The two files are staged in a new folder under ``staging_directory`` (default: the
    system's temp; on a cluster it must be storage every executor and the driver see).
    """
    views = _Views(spark, spec.name)
    try:
        known = pd.DataFrame(
            {"_known_id": known_customer_ids.dropna().astype(str).drop_duplicates().to_numpy()}
        )
        views.register("known", spark.createDataFrame(known, schema="_known_id STRING"))
        _create_typed_view(views, file, spec, raw_types)
        _flag_bad_rows(views, spec, rules)
        flagged = (
            spark.sql(f"SELECT _row, reason FROM {views('flagged')} ORDER BY _row")
            .toPandas()
            .astype({"_row": "int64", "reason": object})
        )
        if staging_directory:
            Path(staging_directory).mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"clean_{spec.name}_", dir=staging_directory))
        clean_file = _write_clean(views, spec, staging)
    finally:
        views.drop()
    n_rows = pq.ParquetFile(file).metadata.num_rows
    clean_rows = pq.ParquetFile(clean_file).metadata.num_rows
    engine._write_quarantine(file, flagged, staging / "quarantine.parquet", quarantine_frame)
    by_reason = (
        flagged.groupby("reason", sort=False)["_row"]
        .size()
        .sort_values(ascending=False, kind="stable")
    )
    report = {
        "status": "present",
        "rows_in": int(n_rows),
        "rows_clean": int(clean_rows),
        "rows_quarantined": len(flagged),
        "quarantined_by_reason": {k: int(v) for k, v in by_reason.items()},
    }
    return (
        StagedParquet(clean_file, int(clean_rows)),
        StagedParquet(staging / "quarantine.parquet", len(flagged)),
        report,
    )
