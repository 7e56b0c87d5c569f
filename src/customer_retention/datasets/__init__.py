"""Project-specific Kedro datasets."""

from .atomic import CSVDataset, JSONDataset, MatplotlibDataset, ParquetDataset, TextDataset
from .clean_table import CleanTableDataset, StagedParquet
from .model_store import OptionalDataset, PromotedModelDataset
from .parquet_frame import ParquetFrameDataset
from .png_files import PNGFilesDataset
from .raw_source import RawTableFile, RawTableSource
from .raw_table import RawTableDataset

__all__ = [
    "CSVDataset",
    "CleanTableDataset",
    "JSONDataset",
    "MatplotlibDataset",
    "ParquetDataset",
    "TextDataset",
    "OptionalDataset",
    "PNGFilesDataset",
    "ParquetFrameDataset",
    "PromotedModelDataset",
    "RawTableDataset",
    "RawTableFile",
    "RawTableSource",
    "StagedParquet",
]
