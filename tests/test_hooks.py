"""The node-timing hook records every node only when asked to."""

import json
import os
import subprocess
import sys

import pytest
from kedro.pipeline import node

from customer_retention.hooks import NodeTimingHook

from .conftest import fresh_project


def _run(hook: NodeTimingHook) -> None:
    step = node(lambda x: x, "a", "b", name="step")
    hook.before_node_run(step)
    hook.after_node_run(step)
    hook.after_pipeline_run()


def test_writes_node_timings_when_the_variable_is_set(tmp_path, monkeypatch):
    target = tmp_path / "timings.json"
    monkeypatch.setenv("CUSTOMER_RETENTION_NODE_TIMINGS", str(target))
    _run(NodeTimingHook())
    result = json.loads(target.read_text())
    assert [r["node"] for r in result["nodes"]] == ["step"]
    assert result["nodes"][0]["seconds"] >= 0 and result["peak_rss_mb"] > 0


def test_a_peak_inside_the_node_is_told_from_one_before_it(tmp_path):
    """In a fresh process (the peak RSS of this one may already be high): memory written
    inside the node, 400 MB beyond the peak so far, raises the peak between the node's start
    and its record."""
    target = tmp_path / "timings.json"
    script = (
        "from kedro.pipeline import node\n"
        "from customer_retention.hooks import NodeTimingHook\n"
        "hook, step = NodeTimingHook(), node(lambda x: x, 'a', 'b', name='step')\n"
        "hook.before_node_run(step)\n"
        "import os, resource\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024\n"
        "now = int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE')\n"
        "block = b'x' * (max(peak - now, 0) + 400 * 2**20)  # written: every page resident\n"
        "hook.after_node_run(step)\n"
        "hook.after_pipeline_run()\n"
    )
    env = {**os.environ, "CUSTOMER_RETENTION_NODE_TIMINGS": str(target)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True)
    (record,) = json.loads(target.read_text())["nodes"]
    assert record["peak_rss_so_far_mb"] - record["peak_rss_at_start_mb"] > 300


def test_is_silent_otherwise(tmp_path, monkeypatch):
    monkeypatch.delenv("CUSTOMER_RETENTION_NODE_TIMINGS", raising=False)
    hook = NodeTimingHook()
    _run(hook)
    assert hook.records == []


def test_records_dataset_loads_and_saves_of_a_real_run(tmp_path, monkeypatch):
    """A two-node run through Kedro's runner: every load and save is counted and timed, and
    the run's own duration is recorded (the rest of the wall time is start-up)."""
    from kedro.framework.hooks.manager import _create_hook_manager
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.pipeline import pipeline
    from kedro.runner import SequentialRunner

    target = tmp_path / "timings.json"
    monkeypatch.setenv("CUSTOMER_RETENTION_NODE_TIMINGS", str(target))
    hook = NodeTimingHook()
    manager = _create_hook_manager()
    manager.register(hook)
    flow = pipeline(
        [
            node(lambda x: x + 1, "a", "b", name="first"),
            node(lambda x, y: x + y, ["a", "b"], "c", name="second"),
        ]
    )
    catalog = DataCatalog({"a": MemoryDataset(1), "c": MemoryDataset()})
    hook.before_pipeline_run()  # the session's hooks; the runner calls the others
    SequentialRunner().run(flow, catalog, hook_manager=manager)
    hook.after_pipeline_run()
    result = json.loads(target.read_text())
    io = {r["dataset"]: r for r in result["datasets"]}
    assert (io["a"]["loads"], io["a"]["saves"]) == (2, 0)
    assert (io["b"]["loads"], io["b"]["saves"]) == (1, 1)
    assert io["c"]["saves"] == 1
    assert [r["node"] for r in result["nodes"]] == ["first", "second"]
    assert result["run_seconds"] >= sum(r["load_seconds"] for r in result["datasets"])
    assert catalog.load("c") == 3


def test_release_memory_hook_hands_freed_arrow_memory_back():
    """In a fresh process: 400 MB computed in Arrow's pool and dropped stay resident (the pool
    keeps them) until the hook runs after the node; then resident memory is back near where
    it was before."""
    script = (
        "import numpy as np, pyarrow as pa, pyarrow.compute as pc\n"
        "from customer_retention.core.process_memory import process_rss_mb\n"
        "from customer_retention.hooks.memory import ReleaseMemoryHook\n"
        "before = process_rss_mb()\n"
        "doubled = pc.multiply(pa.array(np.arange(50_000_000)), 2)\n"
        "del doubled\n"
        "held = process_rss_mb()\n"
        "ReleaseMemoryHook().after_node_run()\n"
        "print(before, held, process_rss_mb())\n"
    )
    result = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    before, held, after = map(float, result.stdout.split()[-3:])
    assert held - before > 300  # kept by the pool: what the hook is for
    assert after - before < 50


def _hook_on(project, tables: dict[str, str]):
    """DemoDataHook.before_pipeline_run on a fresh project whose data/01_raw holds ``tables``
    (file name -> CSV text); returns the raw folder afterwards."""
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from customer_retention.hooks import DemoDataHook

    raw = project / "data" / "01_raw"
    for name, text in tables.items():
        (raw / name).write_text(text)
    bootstrap_project(project)
    params = {"demo_data": {"n_customers": 200}}
    with KedroSession.create(project_path=project, runtime_params=params) as session:
        catalog = session.load_context().catalog
        DemoDataHook().before_pipeline_run({}, pipelines["data_cleaning"], catalog)
    return raw


CUSTOMERS = "customer_id,signup_date\na,2024-01-01\n"
SUBSCRIPTIONS = "customer_id,start_date,end_date,plan,mrr\na,2024-01-01,,basic,10\n"


def test_own_tables_with_capitalised_names_are_used_not_demo_data(tmp_path, monkeypatch):
    project = fresh_project(tmp_path)
    monkeypatch.chdir(project)
    raw = _hook_on(project, {"Customers.csv": CUSTOMERS, "Subscriptions.csv": SUBSCRIPTIONS})
    assert sorted(p.name for p in raw.iterdir()) == ["Customers.csv", "Subscriptions.csv"]


def test_a_file_that_is_no_table_stops_the_run_listing_the_expected_names(tmp_path, monkeypatch):
    project = fresh_project(tmp_path)
    monkeypatch.chdir(project)
    with pytest.raises(ValueError, match=r"not input tables: customer\.csv.*Expected names"):
        _hook_on(project, {"customer.csv": CUSTOMERS, "subscriptions.csv": SUBSCRIPTIONS})


def test_only_an_empty_folder_gets_demo_data_and_says_so(tmp_path, monkeypatch, caplog):
    project = fresh_project(tmp_path)
    monkeypatch.chdir(project)
    raw = _hook_on(project, {})
    assert (raw / "customers.parquet").exists() and (raw / "ground_truth.json").exists()
    assert any(r.levelname == "WARNING" and "DEMO data" in r.message for r in caplog.records)


def test_the_closing_block_says_where_the_report_is_and_what_was_quarantined():
    from customer_retention.hooks.summary import closing_lines

    quality = {
        "totals": {"rows_in": 1000, "rows_clean": 990, "rows_quarantined": 10},
        "tables": {"customers": {"rows_quarantined": 0}, "events": {"rows_quarantined": 10}},
    }
    lines = closing_lines("data/08_reporting/report.html", 2983, quality, 3)
    assert lines == [
        "Report: data/08_reporting/report.html",
        "Customers scored: 2,983",
        "Rows quarantined: 10 of 1,000 ({'events': 10})",
        "Warnings logged: 3 (see above)",
    ]
    assert closing_lines(None, None, None, 0) == [
        "Report: not written by this run",
        "Warnings logged: 0",
    ]


def test_dataset_lines_are_hidden_unless_asked_for(monkeypatch, caplog):
    """Kedro logs each load and save at INFO: hundreds of lines that bury the stage lines."""
    import logging

    from kedro.io import DataCatalog, MemoryDataset

    from customer_retention.hooks.summary import DATASET_LOGGER, RunSummaryHook

    catalog = DataCatalog({"x": MemoryDataset(1)})
    quiet = logging.getLogger(DATASET_LOGGER)
    level = quiet.level
    try:
        for asked, expected in (("0", 0), ("1", 1)):
            monkeypatch.setenv("CUSTOMER_RETENTION_LOG_DATASETS", asked)
            quiet.setLevel(logging.NOTSET)
            RunSummaryHook().before_pipeline_run()
            caplog.clear()
            with caplog.at_level(logging.INFO):
                quiet.setLevel(quiet.level)  # caplog.at_level sets the root level only
                catalog.load("x")
            lines = [r for r in caplog.records if r.getMessage().startswith("Loading data")]
            assert len(lines) == expected, asked
    finally:
        quiet.setLevel(level)


def test_blas_runs_on_one_thread_during_a_run_and_as_before_after_it():
    from threadpoolctl import threadpool_info

    from customer_retention.hooks import BlasThreadsHook

    def blas_threads() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before = blas_threads()
    assert before  # numpy's OpenBLAS
    hook = BlasThreadsHook()
    for end in (hook.after_pipeline_run, hook.on_pipeline_error, "refused by a later hook"):
        wrapper = hook.before_pipeline_run()  # a pluggy wrapper: the other hooks run at yield
        next(wrapper)
        assert set(blas_threads()) == {1}
        if callable(end):
            with pytest.raises(StopIteration):
                wrapper.send(None)
            end()
        else:  # Kedro then calls neither after_pipeline_run nor on_pipeline_error
            with pytest.raises(ValueError, match="refused"):
                wrapper.throw(ValueError(end))
        assert blas_threads() == before, end


_ARENA_SCRIPT = """
import ctypes, ctypes.util, os, sys, threading, numpy as np
from customer_retention.hooks.memory import ReleaseMemoryHook
if sys.argv[1] == "hook":
    ReleaseMemoryHook()
def allocate():
    kept = [np.ones(10_000) for _ in range(50)]  # 80 kB each: glibc's heap, not mmap
    barrier.wait()  # every thread holds its blocks at once
    del kept
barrier = threading.Barrier(6)
threads = [threading.Thread(target=allocate) for _ in range(6)]
[t.start() for t in threads]
[t.join() for t in threads]
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.fopen.restype = ctypes.c_void_p
stream = libc.fopen(sys.argv[2].encode(), b"w")
libc.malloc_info(0, ctypes.c_void_p(stream))
libc.fclose(ctypes.c_void_p(stream))
print(open(sys.argv[2]).read().count("<heap nr="))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's heaps")
def test_the_run_s_threads_share_two_glibc_heaps(tmp_path):
    """Six threads allocating at once get a heap each without the limit (glibc's default), and
    share at most MALLOC_ARENAS heaps once the hook is set up; MALLOC_ARENA_MAX in the
    environment wins over the hook."""
    from customer_retention.hooks.memory import MALLOC_ARENAS

    def heaps(mode: str, **env: str) -> int:
        environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
        result = subprocess.run(
            [sys.executable, "-c", _ARENA_SCRIPT, mode, str(tmp_path / "malloc.xml")],
            check=True,
            capture_output=True,
            text=True,
            env=environment,
        )
        return int(result.stdout.split()[-1])

    assert heaps("plain") > MALLOC_ARENAS
    assert heaps("hook") <= MALLOC_ARENAS
    assert heaps("hook", MALLOC_ARENA_MAX="4") > MALLOC_ARENAS
