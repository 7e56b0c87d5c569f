"""Cleaning of a raw Parquet table inside DuckDB: the rows never pass through pandas.

The same contract (:mod:`customer_retention.core.contract`) and the same steps as the pandas path in :mod:`.nodes`:
parse each column to its type, apply the rules (compiled to SQL by :mod:`.rules_sql`), flag
unknown customers, exact duplicate rows and duplicate keys, keeping the first occurrence in file
order. DuckDB then streams the clean rows, in the original row order, as Arrow batches to the
Parquet writer; the quarantined rows (usually few) are read back from the raw file by row number,
one row group at a time, and written as text exactly as the pandas path writes them. Memory is
bounded by ``memory_limit`` (DuckDB spills to ``temp_directory`` beyond it) plus one batch.

Used for Parquet input whose date and number columns are already typed (see
:func:`unsupported_columns`); text dates or numbers (CSV files) are parsed by the pandas path.
"""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from customer_retention.core.contract import DTYPES, LOWERCASE_COLUMNS, TableSpec
from customer_retention.datasets.clean_table import StagedParquet

from .rules_sql import literal, quote, rule_reasons_sql

# DuckDB types each column kind is accepted from (anything else goes to the pandas path).
_INTEGER_TYPES = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
}  # fmt: skip
ACCEPTED_TYPES = {
    "id": {"VARCHAR"} | _INTEGER_TYPES,
    "text": {"VARCHAR"} | _INTEGER_TYPES,
    "date": {"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"},
    "number": {"DOUBLE", "FLOAT"} | _INTEGER_TYPES,
}
# Dates are parsed to microseconds, as Spark holds them and every Parquet file is written.
SQL_TYPES = {"id": "VARCHAR", "text": "VARCHAR", "date": "TIMESTAMP", "number": "DOUBLE"}
# Rows per Arrow batch streamed from DuckDB to the Parquet writer (~50 MB of events).
_BATCH_ROWS = 1_048_576
# numpy.nan_to_num, which the pandas path's duplicate detection applies, maps +-inf to +-max.
_DOUBLE_MAX = "1.7976931348623157e308"


@cache
def arrow_whitespace() -> str:
    """The characters Arrow's ``utf8_trim_whitespace`` strips (what the pandas path's
    ``.str.strip()`` strips from Arrow-backed text), so that DuckDB's ``trim`` matches it."""
    candidates = [chr(code) for code in range(0x3001)]
    trimmed = pc.utf8_trim_whitespace(pa.array(["a" + c for c in candidates])).to_pylist()
    return "".join(c for c, value in zip(candidates, trimmed, strict=True) if value == "a")


def connect(settings: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with bounded memory and threads."""
    config = {
        "memory_limit": str(settings.get("memory_limit") or "1GB"),
        "threads": int(settings.get("threads") or 2),
        "preserve_insertion_order": True,
    }
    if settings.get("temp_directory"):
        config["temp_directory"] = str(settings["temp_directory"])
    con = duckdb.connect(":memory:", config=config)
    _run(con, "SET enable_progress_bar = false")  # no progress bars in the run's log
    return con


def _run(con: duckdb.DuckDBPyConnection, statement: str) -> None:
    """Run a statement to completion (DuckDB keeps a result open until it is fetched)."""
    con.execute(statement).fetchall()


def raw_columns(file: Path) -> list[str]:
    """The columns of a raw Parquet file (without a stored pandas index)."""
    return [n for n in pq.read_schema(file).names if not n.startswith("__index_level_")]


def unsupported_columns(
    con: duckdb.DuckDBPyConnection, file: Path, spec: TableSpec
) -> dict[str, str]:
    """Contract columns whose Parquet type the DuckDB path does not parse ({column: type}).

    Empty when the table can be cleaned in DuckDB. Text dates and numbers (unparseable values
    must be quarantined exactly as the pandas path does), time-zone-aware timestamps and any
    extra columns (customers' attributes) are left to the pandas path.
    """
    types = _duckdb_types(con, file)
    unsupported = {
        column: types[column]
        for column, kind in spec.columns.items()
        if column in types and types[column] not in ACCEPTED_TYPES[kind]
    }
    if spec.keep_extra_columns:
        unsupported |= {c: t for c, t in types.items() if c not in spec.columns}
    return unsupported


def raw_types(con: duckdb.DuckDBPyConnection, file: Path) -> dict[str, str]:
    """The raw file's column types, as DuckDB names them."""
    return _duckdb_types(con, file)


def _duckdb_types(con: duckdb.DuckDBPyConnection, file: Path) -> dict[str, str]:
    relation = con.sql(f"SELECT * FROM read_parquet({literal(str(file))})")
    return {name: str(dtype) for name, dtype in zip(relation.columns, relation.types, strict=True)}


def _trim_sql(text: str) -> str:
    """``text`` without leading and trailing whitespace, as Arrow strips it.

    DuckDB's ``trim`` with an explicit character set is slow, so it runs only on values whose
    first or last character is not plain printable ASCII (``reverse`` keeps a trailing CR LF
    together, whose first character is whitespace as well)."""
    plain_ends = (
        f"unicode({text}) BETWEEN 33 AND 132 AND unicode(reverse({text})) BETWEEN 33 AND 132"
    )
    return (
        f"CASE WHEN {plain_ends} THEN {text} ELSE trim({text}, {literal(arrow_whitespace())}) END"
    )


def _parse_sql(column: str, kind: str, raw_type: str | None) -> str:
    """SQL parsing one raw column to its contract type, as the pandas path's ``_parse_column``.

    ``raw_type`` is the column's DuckDB type (``None``: absent optional column). Typed input
    always parses (only text dates and numbers can be unparseable, and those are left to the
    pandas path), so no "unparseable" reason arises here."""
    if raw_type is None:
        return f"CAST(NULL AS {SQL_TYPES[kind]})"
    raw = quote(column)
    if kind == "date":
        if raw_type == "TIMESTAMP_NS":  # floored to the microsecond (a cast would round)
            nanos = f"epoch_ns({raw})"
            return f"make_timestamp(({nanos} - (({nanos} % 1000) + 1000) % 1000) // 1000)"
        return f"CAST({raw} AS TIMESTAMP)"
    if kind == "number":
        number = f"CAST({raw} AS DOUBLE)"
        return f"CASE WHEN isnan({number}) THEN NULL ELSE {number} END"
    text = f"CAST({raw} AS VARCHAR)" if raw_type in _INTEGER_TYPES else _trim_sql(raw)
    if kind == "text":
        text = f"NULLIF({text}, '')"
    return f"lower({text})" if column in LOWERCASE_COLUMNS else text


def raw_is_one_to_one(kind: str, raw_type: str | None) -> bool:
    """Whether parsing a raw column of ``raw_type`` to ``kind`` is one-to-one (timestamps,
    integer ids), so that the raw value can stand for the parsed one (cheaper to hash)."""
    one_to_one = (kind == "date" and raw_type != "TIMESTAMP_NS") or (
        kind in ("id", "text") and raw_type in _INTEGER_TYPES
    )
    return raw_type is not None and one_to_one


def _duplicate_key(index: int, column: str, kind: str, raw_type: str | None) -> str:
    """The value compared to find duplicate rows, equal exactly when the pandas path's parsed
    values are equal (the raw value where parsing is one-to-one)."""
    if raw_is_one_to_one(kind, raw_type):
        return f"_r{index}"
    value = quote(column)
    if kind != "number":
        return value
    return (
        f"CASE WHEN {value} = 'inf'::DOUBLE THEN {_DOUBLE_MAX} "
        f"WHEN {value} = '-inf'::DOUBLE THEN -{_DOUBLE_MAX} ELSE {value} END"
    )


def _find_repeated_rows(con, spec: TableSpec) -> None:
    """Table ``repeated_rows(_row)``: rows equal to an earlier row (valid or not), as the pandas
    path's ``_duplicated_rows``. A hash of each row narrows the search to a few candidates
    before the exact comparison (equal rows have equal hashes)."""
    keys = ", ".join(f"_k{i}" for i in range(len(spec.columns)))
    _run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE repeated_rows AS
        WITH candidates AS (
            SELECT hash({keys}) AS row_hash FROM typed GROUP BY row_hash HAVING count(*) > 1
        ), ranked AS (
            SELECT _row, row_number() OVER (PARTITION BY {keys} ORDER BY _row) AS occurrence
            FROM typed WHERE hash({keys}) IN (SELECT row_hash FROM candidates)
        )
        SELECT _row FROM ranked WHERE occurrence > 1""",
    )


def _create_typed_view(con, file: Path, spec: TableSpec) -> None:
    """View ``typed``: the row number, each column parsed to its contract type, and the
    values ``_k0``, ``_k1``, ... compared to find duplicate rows."""
    types = _duckdb_types(con, file)
    columns = list(spec.columns.items())
    typed = [f"{_parse_sql(c, k, types.get(c))} AS {quote(c)}" for c, k in columns]
    raw = [f"{quote(c)} AS _r{i}" for i, (c, _) in enumerate(columns) if c in types]
    _run(
        con,
        f"""CREATE OR REPLACE TEMP VIEW parsed AS
        SELECT file_row_number AS _row, {", ".join(typed + raw)}
        FROM read_parquet({literal(str(file))}, file_row_number = true)""",
    )
    keys = [f"{_duplicate_key(i, c, k, types.get(c))} AS _k{i}" for i, (c, k) in enumerate(columns)]
    _run(con, f"CREATE OR REPLACE TEMP VIEW typed AS SELECT *, {', '.join(keys)} FROM parsed")


def _flag_bad_rows(con, spec: TableSpec, rules: dict[str, Any]) -> None:
    """Table ``flagged(_row, reason)``: every row to quarantine, with its reasons."""
    _find_repeated_rows(con, spec)
    unknown = (
        "customer_id IS NOT NULL AND customer_id NOT IN (SELECT customer_id FROM known_customers)"
    )
    _run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE flagged AS
        WITH checked AS (
            SELECT _row, NULLIF(concat_ws('; ',
                {rule_reasons_sql(spec.rules(rules))},
                CASE WHEN {unknown} THEN 'unknown customer_id' END), '') AS reason
            FROM typed
        ), with_repeats AS (
            SELECT _row, CASE
                WHEN reason IS NULL AND _row IN (SELECT _row FROM repeated_rows)
                THEN 'duplicate row' ELSE reason END AS reason
            FROM checked
        )
        SELECT _row, reason FROM with_repeats WHERE reason IS NOT NULL""",
    )
    if spec.key is not None:
        columns = [quote(c) for c in spec.key_columns]
        keys = ", ".join(f"{c} AS _key{i}" for i, c in enumerate(columns))
        names = ", ".join(f"_key{i}" for i in range(len(columns)))
        present = " AND ".join(f"{c} IS NOT NULL" for c in columns)
        same = " AND ".join(f"v._key{i} = r._key{i}" for i in range(len(columns)))
        reason = literal(f"duplicate {spec.key_name} with conflicting values")
        _run(
            con,
            f"""CREATE OR REPLACE TEMP TABLE conflicting AS
            WITH valid AS (
                SELECT _row, {keys} FROM typed
                WHERE {present} AND _row NOT IN (SELECT _row FROM flagged)
            ), repeated AS (
                SELECT {names}, min(_row) AS first_row FROM valid
                GROUP BY {names} HAVING count(*) > 1
            )
            SELECT v._row, {reason} AS reason
            FROM valid v JOIN repeated r ON {same} WHERE v._row <> r.first_row""",
        )
        _run(con, "INSERT INTO flagged SELECT * FROM conflicting")


def _clean_schema(spec: TableSpec) -> pa.Schema:
    """The Arrow schema, with its ``pandas`` metadata, that the pandas path writes the clean
    table with (timestamps in microseconds), so the DuckDB path's file reads back with the same
    dtypes."""
    empty = pd.DataFrame({c: pd.Series(dtype=DTYPES[k]) for c, k in spec.columns.items()})
    schema = pa.Schema.from_pandas(empty, preserve_index=False)
    for index, field in enumerate(schema):
        if pa.types.is_timestamp(field.type):
            schema = schema.set(index, field.with_type(pa.timestamp("us", field.type.tz)))
    return schema


def _write_clean(con, spec: TableSpec, quarantined_rows: np.ndarray, destination: Path) -> int:
    """Write the rows not quarantined to Parquet in file order; return how many were written.

    DuckDB streams the typed table as Arrow batches from a plain scan, for which it guarantees
    the file's row order (a join with the quarantined rows would not); each batch drops its
    quarantined rows (sorted row numbers) and goes to the Parquet writer, so memory holds one
    batch at a time.
    """
    schema = _clean_schema(spec)
    columns = ", ".join(quote(c) for c in spec.columns)
    reader = con.sql(f"SELECT _row, {columns} FROM typed").to_arrow_reader(_BATCH_ROWS)
    written = 0
    with pq.ParquetWriter(destination, schema) as writer:
        for batch in reader:
            rows = batch.column(0).to_numpy()
            position = np.searchsorted(quarantined_rows, rows).clip(max=len(quarantined_rows) - 1)
            keep = quarantined_rows[position] != rows if len(quarantined_rows) else None
            table = pa.Table.from_batches([batch]).drop_columns(["_row"])
            table = table.filter(pa.array(keep)) if keep is not None else table
            writer.write_table(table.cast(schema))
            written += table.num_rows
    return written


def _write_quarantine(
    file: Path, flagged: pd.DataFrame, destination: Path, quarantine_frame
) -> None:
    """The flagged rows as received, as text, with their reason: read from the raw file by row
    number one row group at a time, formatted by the pandas path's ``quarantine_frame``."""
    parquet = pq.ParquetFile(file)
    columns = raw_columns(file)
    starts = np.cumsum(
        [0] + [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    )
    rows = flagged["_row"].to_numpy()
    group_of_row = np.searchsorted(starts, rows, side="right") - 1
    writer = None
    try:
        for group in np.unique(group_of_row):
            in_group = group_of_row == group
            table = parquet.read_row_group(int(group), columns=columns)
            received = table.take(pa.array(rows[in_group] - starts[group])).to_pandas()
            reasons = flagged["reason"].to_numpy()[in_group]
            writer = _append(writer, quarantine_frame(received, reasons), destination)
        if writer is None:  # nothing quarantined: an empty table with the same columns
            empty = parquet.schema_arrow.empty_table().select(columns).to_pandas()
            writer = _append(None, quarantine_frame(empty, None), destination)
    finally:
        if writer is not None:
            writer.close()


def _append(writer, frame: pd.DataFrame, destination: Path):
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if writer is None:
        writer = pq.ParquetWriter(destination, table.schema)
    writer.write_table(table.cast(writer.schema))
    return writer


def clean_parquet_in_duckdb(
    file: Path,
    spec: TableSpec,
    rules: dict[str, Any],
    known_customer_ids: pd.Series,
    con: duckdb.DuckDBPyConnection,
    quarantine_frame,
    staging_directory: str | None = None,
) -> tuple[StagedParquet, StagedParquet, dict[str, Any]]:
    """Split a raw Parquet table into (clean, quarantine, report) in DuckDB.

    ``rules`` are the resolved cleaning parameters; ``quarantine_frame`` formats quarantined
    rows (the pandas path's own function, so that both paths write the same text). The two
    files are staged in a new folder under ``staging_directory`` (default: the system's temp).
    """
    known = pa.table({"customer_id": pa.array(known_customer_ids.dropna().array, pa.string())})
    con.register("known_customers", known)
    _create_typed_view(con, file, spec)
    n_rows = pq.ParquetFile(file).metadata.num_rows
    _flag_bad_rows(con, spec, rules)
    flagged = con.sql("SELECT _row, reason FROM flagged ORDER BY _row").to_df()
    if staging_directory:
        Path(staging_directory).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"clean_{spec.name}_", dir=staging_directory))
    quarantined_rows = flagged["_row"].to_numpy(dtype="int64")
    clean_rows = _write_clean(con, spec, quarantined_rows, staging / "clean.parquet")
    _write_quarantine(file, flagged, staging / "quarantine.parquet", quarantine_frame)
    by_reason = (
        flagged.groupby("reason", sort=False)["_row"]
        .size()
        .sort_values(ascending=False, kind="stable")
    )
    report = {
        "status": "present",
        "rows_in": int(n_rows),
        "rows_clean": clean_rows,
        "rows_quarantined": len(flagged),
        "quarantined_by_reason": {k: int(v) for k, v in by_reason.items()},
    }
    return (
        StagedParquet(staging / "clean.parquet", clean_rows),
        StagedParquet(staging / "quarantine.parquet", len(flagged)),
        report,
    )
