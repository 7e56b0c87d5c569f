"""Handing a frame a node just wrote to the nodes that read it next, without reading it back.

A Parquet dataset of the pipeline is written by one node and often read by several (the
snapshot table by ten). Reading it back costs a Parquet decode and a conversion to pandas each
time (24 s of eight loads at 1M customers). When the frame is *handed over*, the file is still
written (other runs, other stages and people read it), and the loads of the same run return
the frame that was saved instead.

This is safe only when the frame handed over is the frame a load would give:

* pandas Copy-on-Write is on in this project (``customer_retention/__init__.py``): a node
  cannot change another node's frame, so one frame can be shared by every reader;
* the frame survives the Parquet round trip unchanged (``round_trip_problem``): a default
  ``RangeIndex``, unique text column names, the dtypes a load gives back (checked on a
  zero-row round trip; categoricals keep their categories in the file, checked by the tests),
  text columns of ``object`` dtype holding only strings (a NaN there would come back None),
  and no load arguments that would select other rows or columns.

Otherwise the dataset says why (DEBUG log) and loads read the file, as before. Frames are
handed over only within one run and one process, and only for datasets the running pipeline
both writes and reads (``hooks.memory.HandOverHook`` switches it on); Kedro releases a dataset
after its last reader, which drops the frame.

A text file (CSV) cannot be handed over this way: what a load gives (types parsed from text)
is not the frame that was saved. ``ReadOnceMixin`` parses it once per run instead, and every
later reader of the run gets the frame the first load gave (safe for the same Copy-on-Write
reason).
"""

from __future__ import annotations

import io
import logging
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

logger = logging.getLogger(__name__)


TEXT_INFERRED = ("string", "empty")  # pandas' infer_dtype of an object column of strings only


def as_loaded(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """(``frame`` as a load would give it back, None) or (``frame``, why it would not).

    Text columns whose pandas string storage differs from the one a load gives (``string``
    backed by Arrow, loaded as ``string`` backed by Python objects) are converted: the values
    are the same, only their storage changes. Any other difference is a reason to read back."""
    problem = _frame_problem(frame)
    if problem is not None:
        return frame, problem
    expected = _loaded_dtypes(frame)
    storage = {
        column: expected[column]
        for column, dtype in frame.dtypes.items()
        if isinstance(dtype, pd.StringDtype)
        and isinstance(expected[column], pd.StringDtype)
        and dtype != expected[column]
    }
    converted = frame.astype(storage) if storage else frame
    problem = _column_problem(converted, expected)
    return (frame, problem) if problem else (converted, None)


def round_trip_problem(frame: pd.DataFrame) -> str | None:
    """Why ``frame`` would not load back from Parquet as the same frame (None: it would)."""
    return _frame_problem(frame) or _column_problem(frame, _loaded_dtypes(frame))


def _loaded_dtypes(frame: pd.DataFrame) -> pd.Series:
    """The dtypes a load gives back (a zero-row round trip through Parquet)."""
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame.iloc[:0], preserve_index=False), buffer)
    buffer.seek(0)
    return pq.read_table(buffer).to_pandas(coerce_temporal_nanoseconds=True).dtypes


def _frame_problem(frame: pd.DataFrame) -> str | None:
    index = frame.index
    if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
        return "its index is not a default RangeIndex"
    if index.name is not None or not all(isinstance(c, str) for c in frame.columns):
        return "its index is named or a column name is not text"
    if not frame.columns.is_unique:
        return "duplicate column names"
    return None


def _column_problem(frame: pd.DataFrame, expected: pd.Series) -> str | None:
    for column, dtype in frame.dtypes.items():
        back = expected[column]
        if isinstance(dtype, pd.CategoricalDtype) and isinstance(back, pd.CategoricalDtype):
            continue  # categories are stored in the file, not in a zero-row table
        if dtype != back:
            return f"column {column} is {dtype} and would load as {back}"
        if pd.api.types.is_object_dtype(dtype) and (
            pd.api.types.infer_dtype(frame[column], skipna=False) not in TEXT_INFERRED
        ):
            return f"column {column} holds values other than strings (missing values among them)"
    return None


class HandOverMixin:
    """For a pandas dataset: after ``save``, ``handed`` is the saved frame (module docstring)
    while ``hand_over`` is true, and the dataset's ``load`` returns it; ``release`` drops it."""

    hand_over: bool = False
    handed: pd.DataFrame | None = None

    def __init__(self, *args: Any, may_hand_over: bool = True, **kwargs: Any) -> None:
        """``may_hand_over: false`` (catalog) keeps a dataset out of the hand-over, e.g. one
        written long before its only reader (the feature groups: held in memory until the
        assembly, they would add up)."""
        self.may_hand_over = may_hand_over
        super().__init__(*args, **kwargs)

    def save(self, data: pd.DataFrame) -> None:
        self.handed = None
        super().save(data)
        if not self.hand_over:
            return
        if self._load_args:
            logger.debug("%s is read back from disk: load arguments select rows or columns", self)
            return
        frame, problem = as_loaded(data)
        if problem is None:
            self.handed = frame
        else:
            logger.debug("%s is read back from disk: %s", self, problem)

    def _release(self) -> None:
        self.handed = None
        super()._release()


class ReadOnceMixin:
    """For a dataset read back by several nodes of a run (the CSV customer lists): while
    ``hand_over`` is true (``hooks.memory.HandOverHook``), the first load's frame is kept and
    every later load returns it, so readers get what a load gives, parsed once instead of once
    each (``at_risk_customers``: three readers, 1.5-2.7 s a parse at 1M customers). ``save``
    and ``release`` drop it."""

    hand_over: bool = False
    may_hand_over: bool = True
    _read: Any = None

    def load(self) -> Any:
        if self._read is not None:
            return self._read
        data = super().load()
        if self.hand_over:
            self._read = data
        return data

    def save(self, data: Any) -> None:
        self._read = None
        super().save(data)

    def _release(self) -> None:
        self._read = None
        super()._release()


def kept_in_memory(dataset: Any) -> HandOverMixin | ReadOnceMixin | None:
    """The dataset that can keep a frame for the run's readers: ``dataset`` itself, or the one
    it wraps (``OptionalDataset``); None for any other."""
    dataset = getattr(dataset, "wrapped", dataset)
    return dataset if isinstance(dataset, HandOverMixin | ReadOnceMixin) else None
