"""Demo data when there is nothing else to run on, and the contract's required tables."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines
from kedro.io import CatalogProtocol
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

from customer_retention.core.contract import RAW_TABLES, check_required_tables

logger = logging.getLogger(__name__)


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
        if not any(catalog.exists(name) for name in raw_names):
            logger.info(
                "data/01_raw holds no input tables: generating demo data "
                "(parameters in conf/base/parameters_demo_data.yml)"
            )
            SequentialRunner().run(pipelines["demo_data"], catalog)
        check_required_tables({table: catalog.exists(f"{table}_raw") for table in RAW_TABLES})
