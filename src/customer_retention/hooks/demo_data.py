"""Demo data when there is nothing else to run on, and the contract's required tables."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines
from kedro.io import CatalogProtocol
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

from customer_retention.core.contract import RAW_TABLES, DataContractError, check_required_tables

logger = logging.getLogger(__name__)


# Files data/01_raw may hold besides the tables: the demo's truth, notes, git's placeholder.
NOT_TABLES = {".gitkeep", "ground_truth.json"}
TABLE_SUFFIXES = (".csv", ".parquet")


def _input_files(folder: Path) -> list[Path]:
    """Files in the raw folder that are not placeholders or notes."""
    if not folder.is_dir():
        return []
    return [
        p
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name not in NOT_TABLES and not p.name.lower().startswith("readme")
    ]


def _check_recognised(folder: Path, files: list[Path]) -> None:
    """Stop on a file that is not one of the contract's tables: a misspelt name would
    otherwise be skipped (an optional table) or mistaken for an empty folder (demo data)."""
    unknown = [
        p.name
        for p in files
        if p.suffix.lower() not in TABLE_SUFFIXES or p.stem.lower() not in RAW_TABLES
    ]
    if unknown:
        expected = ", ".join(f"{t}.csv|.parquet" for t in RAW_TABLES)
        raise DataContractError(
            f"{folder} holds file(s) that are not input tables: {', '.join(unknown)}. "
            f"Expected names: {expected}. Rename or remove them."
        )


class DemoDataHook:
    """Before a run that reads data/01_raw: generate the demo data if no input table is there,
    then fail fast unless customers and subscriptions or transactions are present."""

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: CatalogProtocol
    ) -> None:
        raw_names = [f"{table}_raw" for table in RAW_TABLES]
        if not set(raw_names) & pipeline.inputs():
            return
        folder = getattr(catalog.get("customers_raw"), "folder", None)
        files = _input_files(folder) if folder is not None else []
        if files:
            _check_recognised(folder, files)
        elif not any(catalog.exists(name) for name in raw_names):
            logger.warning(
                "%s is empty: generating DEMO data (synthetic customers, parameters in "
                "conf/base/parameters_demo_data.yml). The report describes the demo business, "
                "not yours: put your tables there to run on your data.",
                folder or "data/01_raw",
            )
            SequentialRunner().run(pipelines["demo_data"], catalog)
        check_required_tables({table: catalog.exists(f"{table}_raw") for table in RAW_TABLES})
