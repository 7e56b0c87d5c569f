"""A raw input table that may be CSV or Parquet, and may be absent when it is optional."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from kedro.io import AbstractDataset, DatasetError

from .atomic import replace_atomic
from .timestamps import without_nanoseconds

logger = logging.getLogger(__name__)
FORMATS = ("parquet", "csv")


class RawTableDataset(AbstractDataset[pd.DataFrame, pd.DataFrame | None]):
    """Loads ``<path>.parquet`` or ``<path>.csv``; returns ``None`` for an absent optional table.

    CSV files are read with every column as text so that the cleaning stage, not the reader,
    decides what an unparseable value is (and quarantines it with a reason). Parquet files keep
    their types. With ``file_format: auto`` whichever file exists is read (Parquet first).

    Example ``catalog.yml`` entry::

        events_raw:
          type: customer_retention.datasets.RawTableDataset
          path: data/01_raw/events      # no extension
          table: events
          required: false
          file_format: auto             # auto | parquet | csv
    """

    def __init__(
        self,
        *,
        path: str,
        table: str,
        required: bool = False,
        file_format: str = "auto",
        save_format: str = "parquet",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if file_format not in ("auto", *FORMATS):
            raise DatasetError(
                f"Table '{table}': file_format must be auto, parquet or csv, got {file_format!r}"
            )
        if save_format not in FORMATS:
            raise DatasetError(
                f"Table '{table}': save_format must be parquet or csv, got {save_format!r}"
            )
        self._path = Path(path)
        self._table = table
        self._required = required
        self._file_format = file_format
        self._save_format = save_format
        self.metadata = metadata

    def _candidates(self) -> list[Path]:
        formats = FORMATS if self._file_format == "auto" else (self._file_format,)
        return [self._path.with_name(f"{self._path.name}.{fmt}") for fmt in formats]

    @property
    def folder(self) -> Path:
        """The folder the table's file is read from (data/01_raw)."""
        return self._path.parent

    def _existing_file(self) -> Path | None:
        """The table's file, its name matched case-insensitively (``Customers.csv`` is the
        customers table). Two files for one table (``customers.csv`` beside
        ``customers.parquet``) are an error, not a silent choice, unless ``file_format``
        chooses the format."""
        formats = FORMATS if self._file_format == "auto" else (self._file_format,)
        wanted = {f"{self._path.name}.{fmt}".lower() for fmt in formats}
        found = (
            sorted(p for p in self.folder.iterdir() if p.is_file() and p.name.lower() in wanted)
            if self.folder.is_dir()
            else []
        )
        if len(found) > 1:
            raise DatasetError(
                f"Table '{self._table}' is in {len(found)} files: "
                f"{', '.join(str(p) for p in found)}. Keep one, or choose the format with "
                f"file_format: csv | parquet on {self._table}_raw in the catalog."
            )
        if found and found[0].name not in {f"{self._path.name}.{fmt}" for fmt in formats}:
            logger.info("Table %s read from %s (name matched ignoring case)", self._table, found[0])
        return found[0] if found else None

    def load(self) -> pd.DataFrame | None:
        file = self._existing_file()
        if file is None:
            if self._required:
                expected = " or ".join(str(path) for path in self._candidates())
                raise DatasetError(
                    f"Required table '{self._table}' is missing: expected {expected} "
                    "(see the data contract in README.md)."
                )
            return None
        try:
            if file.suffix == ".csv":
                return pd.read_csv(file, dtype=str, keep_default_na=False, na_values=[""])
            return pd.read_parquet(file)
        except Exception as error:  # any reader failure: say which table and file
            raise DatasetError(
                f"Table '{self._table}': could not read {file}: {type(error).__name__}: {error}"
            ) from error

    def save(self, data: pd.DataFrame | None) -> None:
        """Write the table. An empty frame with no columns is a table the data do not have (the
        one-snapshot demo's events): its files are removed, so the table is absent, not left
        over from an earlier run."""
        if data is None:
            return
        if data.empty and len(data.columns) == 0:
            for stale in self._candidates():
                stale.unlink(missing_ok=True)
            return
        file = self._path.with_name(f"{self._path.name}.{self._save_format}")
        file.parent.mkdir(parents=True, exist_ok=True)
        for other in self._candidates():  # never leave two versions of one table behind
            if other != file and other.exists():
                other.unlink()
        if self._save_format == "csv":
            replace_atomic(file, lambda tmp: data.to_csv(tmp, index=False))
        else:
            # Nanosecond timestamps (pandas' own) are written in microseconds: Spark refuses them.
            table = without_nanoseconds(pa.Table.from_pandas(data, preserve_index=False))
            replace_atomic(file, lambda tmp: pq.write_table(table, tmp))

    def _exists(self) -> bool:
        return self._existing_file() is not None

    def _describe(self) -> dict[str, Any]:
        return {
            "path": str(self._path),
            "table": self._table,
            "required": self._required,
            "file_format": self._file_format,
        }
