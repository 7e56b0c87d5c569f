"""``pandas.ParquetDataset`` that converts from Arrow without holding two copies of the table."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
from kedro_datasets.pandas import ParquetDataset

from .atomic import AtomicSaveMixin


class ParquetFrameDataset(AtomicSaveMixin, ParquetDataset):
    """``pandas.ParquetDataset`` whose local loads free each Arrow column as it is converted
    (and whose local writes are atomic: ``datasets.atomic``).

    ``pd.read_parquet`` holds the whole Arrow table until the DataFrame is complete, so a load
    peaks at about twice the frame (3.8 GB for the 1.7 GB snapshot table at 1M customers).
    Here the table is converted with ``self_destruct=True, split_blocks=True`` (pyarrow's
    documented way to bound the peak): 3.0 GB for the same file, and the same frame.
    Remote files and ``load_args`` other than ``columns`` / ``filters`` go to pandas as before.
    """

    _ARROW_LOAD_ARGS = frozenset({"columns", "filters"})

    def load(self) -> pd.DataFrame:
        if self._protocol != "file" or set(self._load_args) - self._ARROW_LOAD_ARGS:
            return super().load()
        table = pq.read_table(str(self._get_load_path()), **self._load_args)
        frame = table.to_pandas(self_destruct=True, split_blocks=True)
        del table  # unusable once self-destructed
        return frame
