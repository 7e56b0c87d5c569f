"""``kedro run``'s default runner in this project: independent nodes run two at a time, on
threads, so that the single-threaded pandas nodes use the second core.

Which node runs next: of the nodes whose inputs are ready, the one with the longest chain of
work still to run after it, itself included (the critical path first), ties by name. The work
of a node is the seconds it took in the previous runs (loads and saves included), kept in the
catalog's ``runner_node_seconds`` (data/08_reporting/runner_node_seconds.json, written after each
successful run); a node never timed counts one second. A node that needs a resource which is
not thread-safe waits while another node holds it; since the nodes sharing a resource run one
at a time, their work is a chain too, and such a node counts at least the work still waiting
for its resource (``resource_work``). Without this the charts, leaves of the graph, were
drawn last, one at a time, while the other thread had nothing to do. The resources:

* ``engine``: the Ibis connection the ``@ibis`` datasets share (one DuckDB connection per
  process refuses a second caller; a Spark session under ``--env spark``);
* ``charts``: matplotlib, whose font cache and text layout are shared by every figure. Nodes
  whose module draws (imports matplotlib or ``core.charts``) take turns.

The nodes are pure functions of their inputs, so the outputs are those of a sequential run (the
benchmark compares every file of both runs: README "Performance"); the log's order of nodes
differs. Two nodes at once hold two working sets: peak memory is higher than sequential.

Memory: the runner measures each node's *working memory*, the rise of the process's resident
memory from the node's start to its peak while it runs (sampled every ``SAMPLE_SECONDS``), and
keeps it in the catalog's ``runner_node_memory`` (data/08_reporting/runner_node_memory.json)
for the next run. A node starts beside running ones only if its working memory, plus what the
running nodes are still expected to take, fits:

* in the machine: at least ``min_free_memory`` (default 0.25) of its memory must stay
  available afterwards (``MemAvailable`` of ``/proc/meminfo``; not checked where it does not
  exist), so a machine short of memory goes on one node at a time instead of swapping;
* in ``memory_budget_mb``, if given: the process's resident memory afterwards. Unset by
  default (two working sets at once cost memory; README "Performance" has the figures).

A node never measured counts 0 MB (the first run of a project relies on the machine rule as it
stands). Nodes that overlap measure each other's memory too, so the figures are approximate;
they change when nodes run, never what they compute. A node always starts when nothing else
runs: the budget limits overlap, not the largest node.

``kedro run --runner SequentialRunner`` runs one node at a time, as Kedro does by default;
``kedro run --runner-params max_workers=3`` sets the number of threads (default 2),
``--runner-params min_free_memory=0.5`` the machine rule, ``memory_budget_mb=2000`` the budget.
"""

from __future__ import annotations

import inspect
import logging
import sys
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from functools import partial
from itertools import chain
from typing import TYPE_CHECKING, Any

from kedro.runner import AbstractRunner
from kedro.runner.task import Task

from customer_retention.core.process_memory import available_memory_mb, process_rss_mb

if TYPE_CHECKING:
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node

DEFAULT_WORKERS = 2
DEFAULT_MIN_FREE_MEMORY = 0.25  # share of the machine's memory a second node needs available
ENGINE_MODULES = (
    "kedro_datasets.ibis",
    "kedro_datasets.spark",
    "customer_retention.datasets.engine_table",  # Ibis tables kept in the engine (--env spark)
)
PROJECT = "customer_retention."
TIMINGS = "runner_node_seconds"  # catalog entry: seconds per node name, from earlier runs
MEMORY = "runner_node_memory"  # catalog entry: working memory (MB) per node name, likewise
SAMPLE_SECONDS = 0.05  # how often the resident memory of running nodes is sampled
UNTIMED_SECONDS = 1.0
DRAWING_MODULES = ("matplotlib", "customer_retention.core.charts")

logger = logging.getLogger(__name__)


def critical_path(
    dependencies: dict[Node, set[Node]], seconds: dict[str, float] | None = None
) -> dict[Node, float]:
    """Per node, the work (``seconds`` per node name, 1 if unknown) on the longest chain from
    it to the end of the pipeline, itself included."""
    seconds = seconds or {}
    children: dict[Node, list[Node]] = {node: [] for node in dependencies}
    for node, parents in dependencies.items():
        for parent in parents:
            children[parent].append(node)
    length: dict[Node, float] = {}

    def visit(node: Node) -> float:
        if node not in length:
            own = seconds.get(node.name, UNTIMED_SECONDS)
            length[node] = own + max((visit(child) for child in children[node]), default=0.0)
        return length[node]

    for node in dependencies:
        visit(node)
    return length


def resource_work(
    resources: dict[Node, frozenset[str]], seconds: dict[str, float] | None = None
) -> Counter[str]:
    """Per shared resource, the work (``seconds`` per node name, 1 if unknown) of the nodes
    that need it: they run one at a time, whatever their dependencies."""
    seconds = seconds or {}
    work: Counter[str] = Counter()
    for node, needs in resources.items():
        for resource in needs:
            work[resource] += seconds.get(node.name, UNTIMED_SECONDS)
    return work


def _module_draws(name: str, seen: set[str] | None = None) -> bool:
    """Whether module ``name`` uses matplotlib, itself or through the project modules it
    imports (their functions, classes or the modules themselves), transitively."""
    seen = set() if seen is None else seen
    module = sys.modules.get(name)
    if module is None or name in seen:
        return False
    seen.add(name)
    for value in vars(module).values():
        origin = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None)
        if not isinstance(origin, str):
            continue
        if origin.startswith(DRAWING_MODULES):
            return True
        if origin.startswith(PROJECT) and _module_draws(origin, seen):
            return True
    return False


def _draws(node: Node) -> bool:
    """Whether the node's function lives in a module that draws (``_module_draws``): a
    module-level over-approximation, safe (at worst less overlap)."""
    func = inspect.unwrap(node.func)
    while isinstance(func, partial):
        func = inspect.unwrap(func.func)
    return _module_draws(getattr(func, "__module__", "") or "")


def shared_resources(node: Node, catalog: Any) -> frozenset[str]:
    """The resources (module docstring) ``node`` needs to itself while it runs."""
    needs = set()
    for name in chain(node.inputs, node.outputs):
        dataset = catalog.get(name, fallback_to_runtime_pattern=True)
        kind = type(dataset)
        if kind.__module__.startswith(ENGINE_MODULES):
            needs.add("engine")
        if "matplotlib" in f"{kind.__module__}.{kind.__name__}".lower():
            needs.add("charts")  # a figure is drawn when it is saved
    if _draws(node):
        needs.add("charts")
    return frozenset(needs)


class OverlapRunner(AbstractRunner):
    """Runs ready nodes on ``max_workers`` threads, critical path first, one node at a time
    per shared resource (module docstring)."""

    def __init__(
        self,
        max_workers: int | None = None,
        is_async: bool = False,
        min_free_memory: float = DEFAULT_MIN_FREE_MEMORY,
        memory_budget_mb: float | None = None,
    ) -> None:
        super().__init__(is_async=False)
        self._min_free_memory = float(min_free_memory)
        self._budget_mb = None if memory_budget_mb in (None, "") else float(memory_budget_mb)
        self._held_back: set[str] = set()
        _quiet_viz_workflow_warning()
        if not 0 <= self._min_free_memory < 1:
            raise ValueError(f"min_free_memory must be in [0, 1), not {min_free_memory}")
        if self._budget_mb is not None and self._budget_mb <= 0:
            raise ValueError(f"memory_budget_mb must be positive, not {memory_budget_mb}")
        self._max_workers = int(max_workers or DEFAULT_WORKERS)
        if self._max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, not {max_workers}")

    def _memory_allows(self, node: Node, watch: MemoryWatch) -> bool:
        """Whether ``node`` may start beside the running nodes (module docstring: memory)."""
        current = process_rss_mb()
        need = watch.expected(node.name) + watch.still_to_come(current)
        machine = available_memory_mb()
        if machine is not None:
            available, total = machine
            if available - need < self._min_free_memory * total:
                return self._hold_back(
                    "machine",
                    f"{100 * available / total:.0f}% of the memory is available and "
                    f"{node.name} and the running nodes may take {need:,.0f} MB more: less than "
                    f"{100 * self._min_free_memory:.0f}% would be left",
                )
        if self._budget_mb is not None and current is not None and current + need > self._budget_mb:
            return self._hold_back(
                "budget",
                f"{node.name} may take the run to {current + need:,.0f} MB, over its "
                f"memory_budget_mb of {self._budget_mb:,.0f}",
            )
        return True

    def _hold_back(self, rule: str, why: str) -> bool:
        if rule not in self._held_back:
            logger.warning(
                "%s: it waits for the running nodes, as will any node that would not fit "
                "(said once per run)",
                why,
            )
            self._held_back.add(rule)
        return False

    def _get_executor(self, max_workers: int) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="node")

    def _run(
        self,
        pipeline: Pipeline,
        catalog: Any,
        hook_manager: Any = None,
        run_id: str | None = None,
    ) -> None:
        nodes = pipeline.nodes
        dependencies = pipeline.node_dependencies
        # Resolved here, in one thread: the catalog materialises its pattern datasets.
        resources = {node: shared_resources(node, catalog) for node in nodes}
        seconds = _past(catalog, TIMINGS, "Node timings", "nodes count 1 s each")
        memory = _past(catalog, MEMORY, "Node working memory", "nodes count 0 MB each")
        rank = critical_path(dependencies, seconds)
        waiting = resource_work(resources, seconds)  # of the nodes not started yet

        def urgency(node: Node) -> tuple[float, float, str]:
            chained = max((waiting[r] for r in resources[node]), default=0.0)
            return (-max(rank[node], chained), -rank[node], node.name)

        load_counts = Counter(chain.from_iterable(node.inputs for node in nodes))
        todo, done = set(nodes), set()
        took: dict[str, float] = {}
        watch = MemoryWatch(memory)
        running: dict[Future, Node] = {}
        workers = min(self._max_workers, max(len(nodes), 1))
        logger.info("Running %d nodes on %d threads (%s)", len(nodes), workers, __name__)
        with self._get_executor(workers) as pool:
            while todo or running:
                busy = set().union(*(resources[node] for node in running.values()))
                ready = sorted((node for node in todo if dependencies[node] <= done), key=urgency)
                for node in ready:
                    if len(running) >= workers:
                        break
                    if resources[node] & busy or (running and not self._memory_allows(node, watch)):
                        continue
                    busy |= resources[node]
                    todo.discard(node)
                    for resource in resources[node]:
                        waiting[resource] -= seconds.get(node.name, UNTIMED_SECONDS)
                    task = Task(
                        node=node,
                        catalog=catalog,
                        hook_manager=hook_manager,
                        is_async=False,
                        run_id=run_id,
                    )
                    watch.started(node.name)
                    running[pool.submit(_timed, task, took)] = node
                if not running:
                    raise RuntimeError(
                        f"Unable to schedule {len(todo)} node(s): "
                        f"{sorted(node.name for node in todo)}"
                    )
                finished, _ = wait(running, timeout=SAMPLE_SECONDS, return_when=FIRST_COMPLETED)
                watch.sample()
                for future in sorted(finished, key=lambda f: running[f].name):
                    node = running.pop(future)
                    watch.finished(node.name)
                    try:
                        future.result()
                    except Exception:
                        self._suggest_resume_scenario(pipeline, done, catalog)
                        raise
                    done.add(node)
                    self._logger.info("Completed node: %s", node.name)
                    self._logger.info("Completed %d out of %d tasks", len(done), len(nodes))
                    self._release_datasets(node, catalog, load_counts, pipeline)
        _record(catalog, TIMINGS, seconds | took)
        _record(catalog, MEMORY, memory | watch.measured)


class MemoryWatch:
    """The working memory of the running nodes: the process's resident memory when each
    started and its highest sample since (module docstring: memory). ``measured`` holds the
    MB of the nodes that finished; ``expected`` what a node took in earlier runs."""

    def __init__(self, past_mb: dict[str, float]) -> None:
        self.past_mb = past_mb
        self.measured: dict[str, float] = {}
        self._start: dict[str, float] = {}
        self._peak: dict[str, float] = {}

    def started(self, name: str) -> None:
        rss = process_rss_mb() or 0.0
        self._start[name] = self._peak[name] = rss

    def sample(self) -> None:
        rss = process_rss_mb() or 0.0
        for name, peak in self._peak.items():
            self._peak[name] = max(peak, rss)

    def finished(self, name: str) -> None:
        self.sample()
        rise = self._peak.pop(name) - self._start.pop(name)
        self.measured[name] = round(max(rise, 0.0), 1)

    def expected(self, name: str) -> float:
        return self.past_mb.get(name, 0.0)

    def still_to_come(self, rss: float | None) -> float:
        """MB the running nodes are expected to take beyond what they hold at ``rss`` MB."""
        rss = rss or 0.0
        return sum(
            max(self.expected(name) - max(rss - start, 0.0), 0.0)
            for name, start in self._start.items()
        )


class _NotSequentialWarning(logging.Filter):
    """Drops kedro-viz's warning that its workflow view (``.viz/kedro_pipeline_events.json``)
    is recorded by sequential runs only: it would end every default run here. ``kedro run
    --runner SequentialRunner`` records that view."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "disabled for non-sequential runners" not in record.getMessage()


def _quiet_viz_workflow_warning() -> None:
    viz = logging.getLogger("kedro_viz.integrations.kedro.run_hooks")
    if not any(isinstance(f, _NotSequentialWarning) for f in viz.filters):
        viz.addFilter(_NotSequentialWarning())


def _timed(task: Task, took: dict[str, float]) -> Node:
    started = time.perf_counter()
    node = task.execute()
    took[node.name] = round(time.perf_counter() - started, 3)
    return node


def _past(catalog: Any, entry: str, what: str, otherwise: str) -> dict[str, float]:
    """The per-node figures earlier runs recorded in catalog ``entry`` ({} without the entry
    or the file)."""
    dataset = catalog.get(entry)
    if dataset is None:
        return {}
    try:
        recorded = dataset.load()
    except Exception as error:  # a damaged record only costs the schedule its estimates
        logger.warning("%s of earlier runs not read (%s): %s", what, error, otherwise)
        return {}
    if not isinstance(recorded, dict):
        return {}
    return {str(k): float(v) for k, v in recorded.items() if isinstance(v, int | float)}


def _record(catalog: Any, entry: str, figures: dict[str, float]) -> None:
    """Keep this run's figures per node (beside the earlier runs' for nodes it did not run)."""
    dataset = catalog.get(entry)
    if dataset is not None:
        dataset.save(dict(sorted(figures.items())))
