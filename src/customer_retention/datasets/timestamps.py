"""Timestamps in the Parquet files the project writes: microseconds on disk, nanoseconds in pandas.

Spark refuses Parquet TIMESTAMP(NANOS) and both engines hold microseconds, so every table is
written with TIMESTAMP(MICROS). pandas has always handed the nodes ``datetime64[ns]`` columns;
Arrow would convert a microsecond column to ``datetime64[us]``, so loads convert back.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

MICROSECOND_TIMESTAMPS: dict[str, Any] = {"coerce_timestamps": "us"}
"""Parquet save arguments (pyarrow ``write_table``): timestamps as TIMESTAMP(MICROS). A value
with nanoseconds raises instead of being truncated; the cleaning stage floors parsed dates to the
microsecond, so none reaches a write."""


def as_nanoseconds(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its NumPy datetime columns in nanoseconds, as pandas loaded them before
    (other columns are not copied)."""
    coarse = {
        name: "datetime64[ns]"
        for name, dtype in frame.dtypes.items()
        if pd.api.types.is_datetime64_dtype(dtype) and dtype != "datetime64[ns]"
    }
    return frame.astype(coarse, copy=False) if coarse else frame


def without_nanoseconds(table: pa.Table) -> pa.Table:
    """``table`` with its nanosecond timestamp columns in microseconds (coarser ones kept);
    raises rather than truncate a value that has nanoseconds."""
    fields = [
        field.with_type(pa.timestamp("us", field.type.tz))
        if pa.types.is_timestamp(field.type) and field.type.unit == "ns"
        else field
        for field in table.schema
    ]
    schema = pa.schema(fields, metadata=table.schema.metadata)
    return table if schema.equals(table.schema) else table.cast(schema)
