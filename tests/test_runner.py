"""The default runner: independent nodes on two threads, critical path first, shared resources
one node at a time, the same results as Kedro's sequential runner."""

from __future__ import annotations

import threading
import time

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node
from kedro.runner import SequentialRunner

from customer_retention import cli, runner
from customer_retention.runner import OverlapRunner, critical_path, shared_resources

EVENTS: list[tuple[str, str, float]] = []
_LOCK = threading.Lock()


def _log(name: str, what: str) -> None:
    with _LOCK:
        EVENTS.append((name, what, time.perf_counter()))


def _work(name: str, seconds: float = 0.2):
    def run(*values: int) -> int:
        _log(name, "start")
        time.sleep(seconds)
        _log(name, "end")
        return sum(values) + len(name)

    run.__name__ = name
    return run


def _intervals() -> dict[str, tuple[float, float]]:
    starts = {n: t for n, what, t in EVENTS if what == "start"}
    return {n: (starts[n], t) for n, what, t in EVENTS if what == "end"}


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@pytest.fixture(autouse=True)
def _clear_events():
    EVENTS.clear()


@pytest.fixture(autouse=True)
def _plenty_of_memory(monkeypatch):
    """The machine's real free memory would hold nodes back when a test before this one left
    less than 25% free; the memory tests set their own figures over this one."""
    monkeypatch.setattr(runner, "available_memory_mb", lambda: (16_000.0, 20_000.0))


def _diamond() -> Pipeline:
    """source -> (left, right) -> sink, plus a lone node."""
    return Pipeline(
        [
            node(_work("source"), "seed", "a", name="source"),
            node(_work("left", 0.6), "a", "b", name="left"),  # 0.6 s: a loaded machine
            node(_work("right", 0.6), "a", "c", name="right"),  # still starts both in time
            node(_work("sink"), ["b", "c"], "d", name="sink"),
            node(_work("lone"), "seed", "e", name="lone"),
        ]
    )


def _catalog() -> DataCatalog:
    return DataCatalog({"seed": MemoryDataset(1)})


def test_same_results_as_the_sequential_runner_and_independent_nodes_overlap():
    expected = SequentialRunner().run(_diamond(), _catalog())
    EVENTS.clear()
    got = OverlapRunner().run(_diamond(), _catalog())
    assert {k: v.load() for k, v in got.items()} == {k: v.load() for k, v in expected.items()}
    spans = _intervals()
    assert set(spans) == {"source", "left", "right", "sink", "lone"}
    assert _overlap(spans["left"], spans["right"])  # two threads: both branches at once
    assert spans["sink"][0] >= max(spans["left"][1], spans["right"][1])  # after its inputs
    assert spans["left"][0] >= spans["source"][1]


def test_nodes_sharing_a_resource_never_run_at_once(monkeypatch):
    monkeypatch.setattr(
        runner,
        "shared_resources",
        lambda n, catalog: frozenset({"engine"}) if n.name in ("left", "right") else frozenset(),
    )
    OverlapRunner().run(_diamond(), _catalog())
    spans = _intervals()
    assert not _overlap(spans["left"], spans["right"])


def test_the_longest_chain_of_work_starts_first():
    pipeline = Pipeline(
        [
            node(_work("short", 0.01), "seed", "x", name="short"),
            node(_work("head", 0.01), "seed", "y", name="head"),
            node(_work("tail", 0.01), "y", "z", name="tail"),
        ]
    )
    rank = critical_path(pipeline.node_dependencies, {"short": 5.0, "head": 1.0, "tail": 2.0})
    assert {n.name: r for n, r in rank.items()} == {"short": 5.0, "head": 3.0, "tail": 2.0}
    catalog = _catalog()
    catalog["runner_node_seconds"] = MemoryDataset({"short": 5.0, "head": 1.0, "tail": 2.0})
    OverlapRunner(max_workers=1).run(pipeline, catalog)
    assert [n for n, what, _ in EVENTS if what == "start"] == ["short", "head", "tail"]
    EVENTS.clear()
    catalog["runner_node_seconds"] = MemoryDataset({"short": 0.5, "head": 1.0, "tail": 2.0})
    OverlapRunner(max_workers=1).run(pipeline, catalog)
    assert [n for n, what, _ in EVENTS if what == "start"] == ["head", "tail", "short"]
    # this run's seconds replace the estimates, for the next run
    assert set(catalog["runner_node_seconds"].load()) == {"short", "head", "tail"}


def test_nodes_sharing_a_resource_count_the_work_still_waiting_for_it(monkeypatch):
    """Three chart leaves (0.2 s each, one at a time) and three plain leaves (0.3 s each): by
    its own chain a chart node would wait for the plain ones; the 0.6 s of chart work still
    waiting puts the first chart node first, so that the charts are not drawn at the end
    while the other thread has nothing left to do."""
    charts = {"chart_1", "chart_2", "chart_3"}
    leaves = [*sorted(charts), "plain_1", "plain_2", "plain_3"]
    pipeline = Pipeline([node(_work(n, 0.05), "seed", f"out_{n}", name=n) for n in leaves])
    resources = {
        n: frozenset({"charts"}) if n.name in charts else frozenset() for n in pipeline.nodes
    }
    seconds = {n: 0.2 if n in charts else 0.3 for n in leaves}
    assert runner.resource_work(resources, seconds) == {"charts": pytest.approx(0.6)}
    monkeypatch.setattr(runner, "shared_resources", lambda n, catalog: resources[n])
    catalog = _catalog()
    catalog["runner_node_seconds"] = MemoryDataset(seconds)
    OverlapRunner(max_workers=1).run(pipeline, catalog)
    started = [n for n, what, _ in EVENTS if what == "start"]
    # chart_1 (0.6 s of chart work waiting) and chart_2 (0.4 s then) before the plain leaves
    # (0.3 s each); chart_3 (0.2 s waiting by then) after them
    assert started == ["chart_1", "chart_2", "plain_1", "plain_2", "plain_3", "chart_3"]


def test_a_failing_node_stops_the_run_and_nothing_after_it_runs():
    def broken(value: int) -> int:
        raise RuntimeError("broken node")

    pipeline = Pipeline(
        [
            node(broken, "seed", "a", name="broken"),
            node(_work("after"), "a", "b", name="after"),
        ]
    )
    with pytest.raises(RuntimeError, match="broken node"):
        OverlapRunner().run(pipeline, _catalog())
    assert "after" not in _intervals()


def test_nodes_whose_module_draws_take_turns_and_model_fits_do_not():
    from customer_retention.pipeline_registry import register_pipelines

    nodes = {n.name: n for n in register_pipelines()["__default__"].nodes}
    catalog = DataCatalog()
    needs = {name: shared_resources(nodes[name], catalog) for name in nodes}
    assert needs["plot_feature_importance"] == {"charts"}  # its module imports core.charts
    assert needs["encode_report_charts"] == {"charts"}  # draws the report's figures
    for name in ("fit_boosted_survival", "backtest_candidates", "refit_churn_model"):
        assert needs[name] == frozenset(), name


def test_ibis_datasets_make_a_node_an_engine_node(tmp_path):
    from kedro_datasets.ibis import FileDataset

    table = FileDataset(
        filepath=str(tmp_path / "t.parquet"),
        file_format="parquet",
        connection={"backend": "duckdb", "database": ":memory:"},
    )
    catalog = DataCatalog({"t@ibis": table})
    assert shared_resources(node(len, "t@ibis", "n"), catalog) == {"engine"}


def test_max_workers_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        OverlapRunner(max_workers=-1)


def test_kedro_run_uses_the_overlap_runner_unless_told_otherwise(monkeypatch):
    seen = []
    monkeypatch.setattr(cli.kedro_run, "callback", lambda **kwargs: seen.append(kwargs))
    cli._run(verbose=False, runner=None)
    cli._run(verbose=False, runner="SequentialRunner")
    assert [k["runner"] for k in seen] == [cli.DEFAULT_RUNNER, "SequentialRunner"]


def test_short_of_memory_nodes_run_one_at_a_time(monkeypatch):
    monkeypatch.setattr(runner, "available_memory_mb", lambda: (100.0, 1000.0))  # 10% free
    OverlapRunner().run(_diamond(), _catalog())
    spans = _intervals()
    assert not _overlap(spans["left"], spans["right"])
    with pytest.raises(ValueError, match="min_free_memory"):
        OverlapRunner(min_free_memory=1.5)
    with pytest.raises(ValueError, match="memory_budget_mb"):
        OverlapRunner(memory_budget_mb=0)


def _left_right_overlap(catalog: DataCatalog, **options) -> bool:
    EVENTS.clear()
    OverlapRunner(**options).run(_diamond(), catalog)
    spans = _intervals()
    return _overlap(spans["left"], spans["right"])


@pytest.mark.parametrize("rule", ["machine", "budget"])
def test_a_node_whose_working_memory_would_not_fit_waits(monkeypatch, rule):
    """With 400 of 1,000 MB available, two nodes that took 100 MB each in the last run fit
    (200 MB left, 20%), two of 200 MB each do not; likewise under a budget of 1,300 MB for a
    process at 1,000 MB. Without a record the nodes count 0 MB."""
    monkeypatch.setattr(runner, "available_memory_mb", lambda: (400.0, 1000.0))
    monkeypatch.setattr(runner, "process_rss_mb", lambda: 1000.0)
    options = {"min_free_memory": 0.15}
    if rule == "budget":
        options = {"min_free_memory": 0.0, "memory_budget_mb": 1300}

    def catalog(mb: float | None) -> DataCatalog:
        catalog = _catalog()
        if mb is not None:
            catalog["runner_node_memory"] = MemoryDataset({"left": mb, "right": mb})
        return catalog

    assert _left_right_overlap(catalog(None), **options)
    assert _left_right_overlap(catalog(100.0), **options)
    assert not _left_right_overlap(catalog(200.0), **options)


def test_each_node_s_working_memory_is_measured_for_the_next_run():
    import numpy as np

    def hungry(seed: int) -> int:
        block = np.ones(40_000_000 // 8)  # 40 MB, written: resident
        time.sleep(0.4)
        return int(block[0]) + seed

    pipeline = Pipeline(
        [
            node(hungry, "seed", "a", name="hungry"),
            node(_work("light", 0.4), "a", "b", name="light"),
        ]
    )
    catalog = _catalog()
    catalog["runner_node_memory"] = MemoryDataset({"gone": 5.0})
    OverlapRunner().run(pipeline, catalog)
    measured = catalog["runner_node_memory"].load()
    assert 35 <= measured["hungry"] < 200
    assert measured["light"] < 20
    assert measured["gone"] == 5.0  # kept for the runs that have it


def test_the_machine_s_memory_is_read():
    from customer_retention.core import process_memory

    machine = process_memory.available_memory_mb()  # the real reading, not the fixture's
    assert machine is None or 0 < machine[0] <= machine[1]
    assert runner.process_rss_mb() is None or runner.process_rss_mb() > 10


def test_kedro_viz_s_sequential_only_warning_is_dropped_and_its_others_kept(caplog):
    import logging

    OverlapRunner()
    viz = logging.getLogger("kedro_viz.integrations.kedro.run_hooks")
    with caplog.at_level(logging.WARNING, logger=viz.name):
        viz.warning("Workflow tracking is disabled for non-sequential runners. See ...")
        viz.warning("Workflow tracking is disabled during partial pipeline runs")
    assert [r.getMessage() for r in caplog.records] == [
        "Workflow tracking is disabled during partial pipeline runs"
    ]
