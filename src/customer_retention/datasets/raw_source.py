"""A raw input table handed to the cleaning stage as a file, not as a loaded DataFrame."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .raw_table import RawTableDataset


@dataclass(frozen=True)
class RawTableFile:
    """An existing raw table file; :meth:`read` loads it exactly as :class:`RawTableDataset`.

    Attributes:
        table: the table's name.
        path: the file (``.parquet`` or ``.csv``).
    """

    table: str
    path: Path
    _reader: Callable[[], pd.DataFrame] = field(repr=False, compare=False)

    @property
    def file_format(self) -> str:
        return self.path.suffix.lstrip(".")

    def read(self) -> pd.DataFrame:
        """The whole table in pandas (CSV as text, Parquet with its types)."""
        return self._reader()


class RawTableSource(RawTableDataset):
    """:class:`RawTableDataset` whose ``load`` returns a :class:`RawTableFile` (or ``None`` for
    an absent optional table) instead of reading the rows, so that the cleaning stage can read a
    large Parquet table in DuckDB. Saving, file-format resolution, the missing-table error and
    the catalog options are those of :class:`RawTableDataset`.

    Example ``catalog.yml`` entry::

        events_raw:
          type: customer_retention.datasets.RawTableSource
          path: data/01_raw/events      # no extension
          table: events
          file_format: auto             # auto | parquet | csv
    """

    def load(self) -> RawTableFile | None:
        file = self._existing_file()
        if file is None:
            return super().load()  # None, or the error naming the missing required table
        return RawTableFile(self._table, file, super().load)
