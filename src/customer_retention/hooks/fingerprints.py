"""Fingerprints of a run's input files for the run manifest: size, modification time, rows and
the date range of the main date column, without loading a table into pandas."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from customer_retention.core.contract import TABLE_SPECS


def main_date_column(table: str) -> str | None:
    spec = TABLE_SPECS.get(table)
    if spec is None:
        return None
    return next((column for column, kind in spec.columns.items() if kind == "date"), None)


def _parquet_range(file: Path, column: str) -> tuple[Any, Any] | None:
    """Min and max of ``column`` from the row-group statistics; None when a row group with
    values has no statistics (the caller then scans the column)."""
    metadata = pq.ParquetFile(file).metadata
    names = [metadata.schema.column(i).name for i in range(metadata.num_columns)]
    if column not in names:
        return None
    index = names.index(column)
    lows, highs = [], []
    for group in range(metadata.num_row_groups):
        chunk = metadata.row_group(group).column(index)
        statistics = chunk.statistics
        if statistics is not None and statistics.has_min_max:
            lows.append(statistics.min)
            highs.append(statistics.max)
        elif statistics is None or statistics.null_count != chunk.num_values:
            return None  # values without statistics
    return (min(lows), max(highs)) if lows else (None, None)


def _duckdb_profile(file: Path, column: str | None) -> dict[str, Any]:
    """Row count and min / max of one column (parsed as timestamp) with DuckDB."""
    import duckdb

    reader = (
        f"read_csv('{file.as_posix()}', all_varchar = true)"
        if file.suffix == ".csv"
        else f"read_parquet('{file.as_posix()}')"
    )
    with duckdb.connect(":memory:") as connection:
        if column is None:
            (rows,) = connection.execute(f"SELECT count(*) FROM {reader}").fetchone()
            return {"rows": int(rows)}
        quoted = '"' + column.replace('"', '""') + '"'
        rows, low, high = connection.execute(
            f"SELECT count(*), min(TRY_CAST({quoted} AS TIMESTAMP)), "
            f"max(TRY_CAST({quoted} AS TIMESTAMP)) FROM {reader}"
        ).fetchone()
    return {"rows": int(rows), "date_min": low, "date_max": high}


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def table_fingerprint(file: Path, date_column: str | None) -> dict[str, Any]:
    """File, size, modification time, row count and the date range of ``date_column``.

    Parquet: the footer's row count and row-group min / max statistics (no data read; DuckDB
    scans the one column when statistics are missing). CSV: one DuckDB pass.
    """
    stat = file.stat()
    out: dict[str, Any] = {
        "file": file.as_posix(),
        "bytes": stat.st_size,
        "modified_at": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="seconds"),
        "date_column": date_column,
    }
    try:
        if file.suffix == ".parquet":
            out["rows"] = pq.ParquetFile(file).metadata.num_rows
            bounds = _parquet_range(file, date_column) if date_column else (None, None)
            if bounds is None:
                profile = _duckdb_profile(file, date_column)
                bounds = (profile["date_min"], profile["date_max"])
        else:
            profile = _duckdb_profile(file, date_column)
            out["rows"] = profile["rows"]
            bounds = (profile.get("date_min"), profile.get("date_max"))
        out["date_min"], out["date_max"] = _iso(bounds[0]), _iso(bounds[1])
    except Exception as error:  # a fingerprint must never fail the run
        out["error"] = f"{type(error).__name__}: {error}"
    return out


def file_fingerprint(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"file": path.as_posix(), "exists": False}
    stat = path.stat()
    out: dict[str, Any] = {
        "file": path.as_posix(),
        "bytes": stat.st_size,
        "modified_at": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="seconds"),
    }
    if path.is_file() and path.suffix == ".parquet":
        try:
            out["rows"] = pq.ParquetFile(path).metadata.num_rows
        except Exception as error:
            out["error"] = f"{type(error).__name__}: {error}"
    return out


def dataset_path(dataset: Any) -> str | None:
    """The file or folder a dataset reads and writes (a wrapped dataset's too); None when it
    has none (a MemoryDataset) or cannot describe itself."""
    try:
        described = dataset._describe()
    except Exception:
        return None
    wrapped = described.get("dataset") if isinstance(described.get("dataset"), dict) else {}
    path = described.get("filepath") or described.get("path") or wrapped.get("filepath")
    return None if path is None else str(path)
