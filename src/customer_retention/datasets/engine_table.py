"""A table written by the engine that computed it (Spark), read back by pandas.

The ``spark`` environment's snapshot tables: the feature stage assembles them in Spark and
hands them over as Ibis tables, which this dataset has the engine write (a Parquet folder,
one file per partition, in the table's order); the model stages load them as pandas frames,
the frames the default environment gives them (timestamps in nanoseconds, text columns as
categoricals, as the pandas assembly makes them).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import get_protocol_and_path

from .timestamps import MICROSECOND_TIMESTAMPS


class EngineTableDataset(AbstractDataset[Any, pd.DataFrame]):
    """Save an Ibis table with its own engine as a Parquet folder; load it as pandas.

    A pandas frame is saved too (one Parquet file in the folder), so a node may return either.
    Local folders are replaced whole: the engine writes beside the target, and the folder is
    swapped in only when the write completed. Remote paths (``s3a://``...) are written in
    place (the engine's own commit protocol).

    Example catalog entry::

        customer_snapshots:
          type: customer_retention.datasets.EngineTableDataset
          path: data/04_feature/customer_snapshots      # a folder
          keep_text: [customer_id]                      # text columns that stay text
          categories: {nps_class: [promoter, passive, detractor, no_answer]}

    Args:
        path: the folder.
        keep_text: text columns loaded as text; every other text column loads as a categorical
            (levels sorted, unless ``categories`` gives them in order).
        categories: column -> levels in their order.
        save_args: extra arguments of the engine's ``to_parquet``.
    """

    def __init__(
        self,
        *,
        path: str,
        keep_text: list[str] | None = None,
        categories: dict[str, list[str]] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, _ = get_protocol_and_path(path)
        self._protocol = protocol
        self._path = path
        self._keep_text = list(keep_text or [])
        self._categories = dict(categories or {})
        self._save_args = dict(save_args or {})
        self.metadata = metadata

    @property
    def _local(self) -> bool:
        return self._protocol in ("file", "local")

    def _local_path(self) -> Path:
        return Path(str(PurePosixPath(self._path.removeprefix("file://")))).absolute()

    def _reader_path(self) -> str:
        """The path for pyarrow and fsspec, which name Hadoop's ``s3a://`` ``s3://``."""
        if self._local:
            return str(self._local_path())
        return (
            "s3://" + self._path.removeprefix("s3a://")
            if self._path.startswith("s3a://")
            else self._path
        )

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path, "keep_text": self._keep_text, "categories": self._categories}

    def _exists(self) -> bool:
        if self._local:
            return self._local_path().exists()
        import fsspec

        path = self._reader_path()
        return fsspec.open(path).fs.exists(path)

    def load(self) -> pd.DataFrame:
        try:
            table = pq.read_table(self._reader_path())
        except (OSError, ValueError) as error:
            raise DatasetError(f"Could not read the table at {self._path}: {error}") from error
        frame = table.to_pandas(
            self_destruct=True, split_blocks=True, coerce_temporal_nanoseconds=True
        )
        del table
        # Spark writes the timestamps of tables built from pandas as instants (UTC): the
        # project's dates are timezone-naive UTC.
        for column in frame.columns:
            if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
                frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
        text = [
            c
            for c in frame.columns
            if c not in self._keep_text
            and (pd.api.types.is_object_dtype(frame[c]) or pd.api.types.is_string_dtype(frame[c]))
        ]
        as_categories = {
            c: pd.CategoricalDtype(self._categories.get(c) or sorted(frame[c].dropna().unique()))
            for c in text
        }
        return frame.astype(as_categories) if as_categories else frame

    def save(self, data: Any) -> None:
        if not self._local:
            self._write(data, self._path)
            return
        target = self._local_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            self._write(data, str(staging))
            if target.exists():
                retired = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
                target.rename(retired)
                staging.rename(target)
                shutil.rmtree(retired) if retired.is_dir() else retired.unlink()
            else:
                staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _write(self, data: Any, path: str) -> None:
        if isinstance(data, pd.DataFrame):
            if self._local:
                Path(path).mkdir(parents=True, exist_ok=True)
            data.to_parquet(f"{path}/part-00000.parquet", index=False, **MICROSECOND_TIMESTAMPS)
            return
        if not hasattr(data, "get_backend"):
            raise DatasetError(
                f"{type(self).__name__} saves an Ibis table or a pandas DataFrame, "
                f"not {type(data).__name__}"
            )
        backend = data.get_backend()
        if backend.name == "pyspark":  # a folder of part files, written by the executors
            backend.to_parquet(data, path, **({"mode": "overwrite"} | self._save_args))
            return
        if self._local:
            Path(path).mkdir(parents=True, exist_ok=True)
        backend.to_parquet(data, f"{path}/part-00000.parquet", **self._save_args)
