"""Wall time and memory of every node and the time of every dataset load and save (benchmarks)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Node

from customer_retention.core.process_memory import peak_rss_mb, process_rss_mb


class NodeTimingHook:
    """Record wall time and memory of every node, and the time spent loading and saving each
    dataset; write them as JSON after the run.

    Off unless the environment variable ``CUSTOMER_RETENTION_NODE_TIMINGS`` names the output
    file (the benchmarks set it), so normal runs pay nothing. Nodes may run on several threads
    (``runner.OverlapRunner``): each record carries its start (seconds after the run's start)
    and thread, loads and saves are matched within a thread, and the memory figures are the
    process's, shared by the nodes running at the time.
    """

    def __init__(self) -> None:
        self._started: dict[str, tuple[float, float, float]] = {}
        self.records: list[dict[str, Any]] = []
        self._io_started: dict[tuple[str, str, int], float] = {}
        self.dataset_io: dict[str, dict[str, float]] = {}
        self._run_started: float | None = None
        self._lock = threading.Lock()  # counts updated from the runner's threads

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._run_started = time.perf_counter()

    def _io_begin(self, kind: str, dataset_name: str) -> None:
        if self._target():
            self._io_started[(kind, dataset_name, threading.get_ident())] = time.perf_counter()

    def _io_end(self, kind: str, dataset_name: str) -> None:
        started = self._io_started.pop((kind, dataset_name, threading.get_ident()), None)
        if started is None:
            return
        with self._lock:
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
            self._started[node.name] = (
                time.perf_counter(),
                (process_rss_mb() or 0.0),
                peak_rss_mb(),
            )

    @hook_impl
    def after_node_run(self, node: Node) -> None:
        if not self._target() or node.name not in self._started:
            return
        started, rss_before, peak_before = self._started.pop(node.name)
        self.records.append(
            {
                "node": node.name,
                "seconds": round(time.perf_counter() - started, 3),
                "started_s": round(started - (self._run_started or started), 3),
                "thread": threading.current_thread().name,
                "rss_before_mb": round(rss_before, 1),
                "rss_after_mb": round((process_rss_mb() or 0.0), 1),
                # A rise of the peak between the previous node's record and this node's
                # start happened while loading this node's inputs or saving earlier outputs
                # (Kedro saves a node's outputs after its after_node_run hook).
                "peak_rss_at_start_mb": round(peak_before, 1),
                "peak_rss_so_far_mb": round(peak_rss_mb(), 1),
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
                "peak_rss_mb": peak_rss_mb(),
            }
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            Path(target).write_text(json.dumps(result, indent=2))
