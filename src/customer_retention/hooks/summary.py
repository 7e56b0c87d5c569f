"""A run that says what it did: quiet dataset lines, and a closing block.

Kedro logs every dataset load and save at INFO (hundreds of lines per run). They are hidden
(the catalog logger's level is raised above INFO) unless ``CUSTOMER_RETENTION_LOG_DATASETS=1``
is set (``kedro run -v`` sets it), so that the stage progress lines
and the warnings are what a person reads. At the end of a successful run a closing block says
where the report is, how many customers were scored, what was quarantined and how many
warnings the run logged.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import CatalogProtocol

logger = logging.getLogger(__name__)
DATASET_LOGGER = "kedro.io.data_catalog"


class _WarningCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _csv_rows(catalog: CatalogProtocol, name: str) -> int | None:
    """Data rows of a CSV dataset, counted without parsing it (the at-risk list has a row per
    active customer: a million at scale)."""
    try:
        dataset = catalog.get(name)
        config = getattr(dataset, "_config", None) or {}
        path = config.get("filepath") or str(getattr(dataset, "_filepath", ""))
        with open(path, "rb") as handle:
            return max(sum(1 for _ in handle) - 1, 0)
    except Exception:  # the summary never fails a run
        return None


def _load(catalog: CatalogProtocol, name: str) -> Any:
    try:
        return catalog.load(name) if catalog.exists(name) else None
    except Exception:  # the summary never fails a run
        return None


def closing_lines(
    report_path: str | None,
    scored: int | None,
    data_quality: dict[str, Any] | None,
    warnings: int,
) -> list[str]:
    """The closing block's lines."""
    lines = [f"Report: {report_path}" if report_path else "Report: not written by this run"]
    if scored is not None:
        lines.append(f"Customers scored: {scored:,}")
    totals = (data_quality or {}).get("totals") or {}
    if totals:
        by_table = {
            table: report["rows_quarantined"]
            for table, report in data_quality["tables"].items()
            if report.get("rows_quarantined")
        }
        lines.append(
            f"Rows quarantined: {totals['rows_quarantined']:,} of {totals['rows_in']:,}"
            + (f" ({by_table})" if by_table else "")
        )
    lines.append(f"Warnings logged: {warnings:,}" + (" (see above)" if warnings else ""))
    return lines


class RunSummaryHook:
    def __init__(self) -> None:
        self._counter = _WarningCounter()

    @hook_impl
    def before_pipeline_run(self) -> None:
        if os.environ.get("CUSTOMER_RETENTION_LOG_DATASETS") != "1":
            logging.getLogger(DATASET_LOGGER).setLevel(logging.INFO + 1)  # hides its INFO lines
        self._counter.count = 0
        logging.getLogger("customer_retention").addHandler(self._counter)

    @hook_impl
    def after_pipeline_run(self, pipeline: Any, catalog: CatalogProtocol) -> None:
        logging.getLogger("customer_retention").removeHandler(self._counter)
        outputs = pipeline.all_outputs() if hasattr(pipeline, "all_outputs") else set()
        report = None
        if "report_html" in outputs:
            dataset = catalog.get("report_html")
            report = str(getattr(dataset, "_filepath", "data/08_reporting/report.html"))
        scored = _csv_rows(catalog, "at_risk_customers") if "at_risk_customers" in outputs else None
        quality = _load(catalog, "data_quality") if "data_quality" in outputs else None
        for line in closing_lines(report, scored, quality, self._counter.count):
            logger.info(line)
