"""Project-specific Kedro datasets."""

from .model_store import OptionalDataset, PromotedModelDataset
from .raw_table import RawTableDataset

__all__ = ["OptionalDataset", "PromotedModelDataset", "RawTableDataset"]
