"""Project-specific Kedro datasets."""

from .clean_table import CleanTableDataset, StagedParquet
from .model_store import OptionalDataset, PromotedModelDataset
from .raw_source import RawTableFile, RawTableSource
from .raw_table import RawTableDataset

__all__ = [
    "CleanTableDataset",
    "OptionalDataset",
    "PromotedModelDataset",
    "RawTableDataset",
    "RawTableFile",
    "RawTableSource",
    "StagedParquet",
]
