"""Project hooks."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
import resource
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
from kedro.framework.hooks import hook_impl
from kedro.io import CatalogProtocol
from kedro.pipeline import Node, Pipeline
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


def _current_rss_mb() -> float:
    """Resident memory of this process in MB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except OSError:
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def _glibc_malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or None where the C library is not glibc."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


class ReleaseMemoryHook:
    """Hand memory freed by pandas and Arrow back to the operating system as the run goes.

    Both allocators keep freed pages for reuse by themselves only: Arrow's pool (mimalloc)
    after a Parquet file has been converted to pandas, glibc's heap after a node's frames are
    dropped. Neither can reuse the other's pages, so without this a long run's resident memory
    ratchets up towards the sum of both high-water marks (measured: loading the 1M-customer
    snapshot table and dropping it left 3.75 GB resident; 0.2 GB after the release). Arrow's
    pool is released after every dataset load (the frame is built, the Arrow buffers are
    free), both after every node.
    """

    def __init__(self) -> None:
        self._malloc_trim = _glibc_malloc_trim()

    @hook_impl
    def after_dataset_loaded(self) -> None:
        pa.default_memory_pool().release_unused()

    @hook_impl
    def after_node_run(self) -> None:
        pa.default_memory_pool().release_unused()
        if self._malloc_trim is not None:
            self._malloc_trim(0)


class NodeTimingHook:
    """Record wall time and memory of every node, and the time spent loading and saving each
    dataset; write them as JSON after the run.

    Off unless the environment variable ``CUSTOMER_RETENTION_NODE_TIMINGS`` names the output
    file (the benchmarks set it), so normal runs pay nothing.
    """

    def __init__(self) -> None:
        self._started: dict[str, tuple[float, float, float]] = {}
        self.records: list[dict[str, Any]] = []
        self._io_started: dict[tuple[str, str], float] = {}
        self.dataset_io: dict[str, dict[str, float]] = {}
        self._run_started: float | None = None

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._run_started = time.perf_counter()

    def _io_begin(self, kind: str, dataset_name: str) -> None:
        if self._target():
            self._io_started[(kind, dataset_name)] = time.perf_counter()

    def _io_end(self, kind: str, dataset_name: str) -> None:
        started = self._io_started.pop((kind, dataset_name), None)
        if started is None:
            return
        record = self.dataset_io.setdefault(
            dataset_name, {"loads": 0, "load_seconds": 0.0, "saves": 0, "save_seconds": 0.0}
        )
        record[f"{kind}s"] += 1
        record[f"{kind}_seconds"] += time.perf_counter() - started

    @hook_impl
    def before_dataset_loaded(self, dataset_name: str) -> None:
        self._io_begin("load", dataset_name)

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str) -> None:
        self._io_end("load", dataset_name)

    @hook_impl
    def before_dataset_saved(self, dataset_name: str) -> None:
        self._io_begin("save", dataset_name)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        self._io_end("save", dataset_name)

    @staticmethod
    def _target() -> str | None:
        return os.environ.get("CUSTOMER_RETENTION_NODE_TIMINGS")

    @hook_impl
    def before_node_run(self, node: Node) -> None:
        if self._target():
            self._started[node.name] = (time.perf_counter(), _current_rss_mb(), _peak_rss_mb())

    @hook_impl
    def after_node_run(self, node: Node) -> None:
        if not self._target() or node.name not in self._started:
            return
        started, rss_before, peak_before = self._started.pop(node.name)
        self.records.append(
            {
                "node": node.name,
                "seconds": round(time.perf_counter() - started, 3),
                "rss_before_mb": round(rss_before, 1),
                "rss_after_mb": round(_current_rss_mb(), 1),
                # A rise of the peak between the previous node's record and this node's
                # start happened while loading this node's inputs or saving earlier outputs
                # (Kedro saves a node's outputs after its after_node_run hook).
                "peak_rss_at_start_mb": round(peak_before, 1),
                "peak_rss_so_far_mb": round(_peak_rss_mb(), 1),
            }
        )

    @hook_impl
    def after_pipeline_run(self) -> None:
        target = self._target()
        if target:
            datasets = [
                {"dataset": name, **{k: round(v, 3) for k, v in io.items()}}
                for name, io in self.dataset_io.items()
            ]
            result = {
                "nodes": self.records,
                "datasets": sorted(
                    datasets, key=lambda r: -(r["load_seconds"] + r["save_seconds"])
                ),
                # From the runner's start to its end: the rest of a run's wall time is
                # start-up (imports, configuration, catalog) and shut-down.
                "run_seconds": (
                    None
                    if self._run_started is None
                    else round(time.perf_counter() - self._run_started, 3)
                ),
                "peak_rss_mb": _peak_rss_mb(),
            }
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            Path(target).write_text(json.dumps(result, indent=2))
