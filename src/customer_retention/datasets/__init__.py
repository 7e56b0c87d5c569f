"""Project-specific Kedro datasets."""

from .raw_table import RawTableDataset

__all__ = ["RawTableDataset"]
