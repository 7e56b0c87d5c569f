"""A clean table's Parquet file, saved from pandas or moved into place from an engine's output."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from kedro.io.core import get_filepath_str

from .atomic import replace_atomic
from .parquet_frame import ParquetFrameDataset


@dataclass(frozen=True)
class StagedParquet:
    """A Parquet file already written (by DuckDB) to a staging folder.

    Attributes:
        path: the staged file; moved to the dataset's path when the dataset saves it.
        rows: its number of rows.
    """

    path: Path
    rows: int


class CleanTableDataset(ParquetFrameDataset):
    """``ParquetFrameDataset`` that also saves a :class:`StagedParquet` by moving the file.

    Loading is unchanged. A DataFrame is written by pandas; a staged file written by the
    cleaning stage's DuckDB path is moved into place as it is, so the rows never enter pandas.
    """

    def save(self, data: pd.DataFrame | StagedParquet) -> None:
        if not isinstance(data, StagedParquet):
            super().save(data)
            return
        if self._protocol != "file":
            raise NotImplementedError(f"{type(self).__name__} saves staged files locally only")
        destination = Path(get_filepath_str(self._get_save_path(), self._protocol))
        # Moved beside the destination first (a copy when staged on another file system),
        # then renamed over it: readers see the old table or the new one.
        replace_atomic(destination, lambda tmp: shutil.move(data.path, tmp))
        if not any(Path(data.path).parent.iterdir()):  # the staging folder, once emptied
            Path(data.path).parent.rmdir()
        self._invalidate_cache()
