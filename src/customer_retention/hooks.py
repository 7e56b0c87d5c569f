"""Project hooks."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import CatalogProtocol
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

from customer_retention.pipelines.data_cleaning.nodes import check_required_tables
from customer_retention.pipelines.demo_data.pipeline import RAW_TABLES
from customer_retention.pipelines.demo_data.pipeline import create_pipeline as demo_pipeline

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
            SequentialRunner().run(demo_pipeline(), catalog)
        check_required_tables({table: catalog.exists(f"{table}_raw") for table in RAW_TABLES})
