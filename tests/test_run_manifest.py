"""Run manifest: cheap input fingerprints, parameter hashes, atomic writes, the hook's record
of a successful and a failed run (driven directly, without a Kedro session), and of a real
``kedro`` run in a subprocess stopped by SIGTERM or SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node

from customer_retention.datasets import RawTableDataset
from customer_retention.datasets.model_store import PromotedModelDataset
from customer_retention.hooks.fingerprints import table_fingerprint
from customer_retention.hooks.inputs_check import InputsCheckHook
from customer_retention.hooks.run_manifest import (
    RunManifestHook,
    git_state,
    parameters_hash,
    promoted_model_summary,
    write_json_atomic,
)

from .conftest import fresh_project


@pytest.fixture
def events() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    times = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, 5000), unit="D")
    return pd.DataFrame(
        {"customer_id": rng.integers(0, 100, 5000).astype(str), "event_time": times}
    )


def test_parquet_fingerprint_reads_row_group_statistics(tmp_path, events):
    file = tmp_path / "events.parquet"
    pq.write_table(pa.Table.from_pandas(events), file, row_group_size=700)  # 8 row groups
    assert pq.ParquetFile(file).metadata.num_row_groups == 8
    fingerprint = table_fingerprint(file, "event_time")
    assert fingerprint["rows"] == len(events)
    assert pd.Timestamp(fingerprint["date_min"]) == events["event_time"].min()
    assert pd.Timestamp(fingerprint["date_max"]) == events["event_time"].max()
    assert fingerprint["bytes"] == file.stat().st_size and "error" not in fingerprint


def test_parquet_without_statistics_and_csv_use_duckdb(tmp_path, events):
    no_stats = tmp_path / "events.parquet"
    pq.write_table(pa.Table.from_pandas(events), no_stats, write_statistics=False)
    text = tmp_path / "events.csv"
    events.assign(event_time=events["event_time"].dt.strftime("%Y-%m-%d")).to_csv(text, index=False)
    for file in (no_stats, text):
        fingerprint = table_fingerprint(file, "event_time")
        assert fingerprint["rows"] == len(events), file
        assert pd.Timestamp(fingerprint["date_min"]) == events["event_time"].min()
        assert pd.Timestamp(fingerprint["date_max"]) == events["event_time"].max()


def test_fingerprint_errors_are_recorded_not_raised(tmp_path):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    assert "error" in table_fingerprint(broken, "event_time")


def test_parameters_hash_ignores_key_order_and_sees_values():
    a = {"churn_model": {"seed": 42, "split": {"gap": 0}}, "scoring": {"top_reasons": 3}}
    b = {"scoring": {"top_reasons": 3}, "churn_model": {"split": {"gap": 0}, "seed": 42}}
    assert parameters_hash(a) == parameters_hash(b)
    assert parameters_hash(a) != parameters_hash(a | {"scoring": {"top_reasons": 4}})


def test_git_state_outside_and_inside_a_checkout(tmp_path):
    assert git_state(tmp_path) == {"git_commit": None, "git_dirty": None}
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    try:
        subprocess.run([*git, "init", "-q"], check=True)
        (repo / "a.txt").write_text("a")
        subprocess.run([*git, "add", "a.txt"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "a"], check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert git_state(repo) == {"git_commit": head.strip(), "git_dirty": False}
    (repo / "a.txt").write_text("b")
    assert git_state(repo)["git_dirty"] is True


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "reporting" / "run_manifest.json"
    write_json_atomic(target, {"status": "running"})
    write_json_atomic(target, {"status": "success"})
    assert json.loads(target.read_text()) == {"status": "success"}
    assert [p.name for p in target.parent.iterdir()] == ["run_manifest.json"]


def _promote(store: Path, model_id: str) -> None:
    metadata = {
        "model_id": model_id,
        "created_at": "2026-01-02T03:04:05+00:00",
        "training_window": {"train": ["2025-01-01"], "valid": ["2025-02-01"], "test": ["x"]},
        "metrics": {"xgboost_calibrated": {"roc_auc": 0.8, "pr_auc": 0.4}},
        "promotion": {"decision": "promoted", "reason": "no promoted model yet"},
    }
    PromotedModelDataset(path=str(store)).save(
        {"model": "{}", "calibrator": {"method": "identity"}, "metadata": metadata}
    )


def test_promoted_model_summary(tmp_path):
    assert promoted_model_summary(tmp_path) is None
    _promote(tmp_path, "m1")
    summary = promoted_model_summary(tmp_path)
    assert summary["model_id"] == "m1" and summary["test_metrics"] == {
        "roc_auc": 0.8,
        "pr_auc": 0.4,
    }
    assert summary["training_window"]["train"] == ["2025-01-01"]
    assert summary["promotion"]["decision"] == "promoted"


def _double(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(x=frame["x"] * 2)


def _fail(frame: pd.DataFrame) -> pd.DataFrame:
    raise ValueError("broken node")


def _project(tmp_path: Path, func) -> tuple[Pipeline, DataCatalog, dict]:
    raw = tmp_path / "data/01_raw/customers"
    RawTableDataset(path=str(raw), table="customers").save(
        pd.DataFrame(
            {
                "customer_id": ["a", "b", "c"],
                "signup_date": pd.to_datetime(["2024-01-01", "2024-05-01", "2024-03-01"]),
                "x": [1, 2, 3],
            }
        )
    )
    catalog = DataCatalog(
        {
            "customers_raw": RawTableDataset(path=str(raw), table="customers"),
            "doubled": MemoryDataset(),
            "parameters": MemoryDataset({"a": 1}),
        }
    )
    pipeline = Pipeline([node(func, "customers_raw", "doubled", name="double_x")])
    run_params = {"run_id": "2026-01-01T00.00.00.000Z", "project_path": str(tmp_path)}
    return pipeline, catalog, run_params


def _run_with_hook(hook: RunManifestHook, pipeline, catalog, run_params) -> None:
    """What KedroSession.run does with the hook, without a session."""
    wrapper = hook.before_pipeline_run(run_params=run_params, pipeline=pipeline, catalog=catalog)
    next(wrapper)
    with pytest.raises(StopIteration):
        wrapper.send(None)
    (n,) = pipeline.nodes
    hook.before_dataset_loaded(node=n)
    data = catalog.load("customers_raw")
    hook.before_node_run(node=n)
    try:
        outputs = n.run({"customers_raw": data})
    except Exception as error:
        hook.on_node_error(error=error, node=n)
        hook.on_pipeline_error(error=error)
        raise
    hook.after_node_run(node=n)
    catalog.save("doubled", outputs["doubled"])
    hook.after_dataset_saved(dataset_name="doubled", data=outputs["doubled"])
    hook.after_pipeline_run()


def test_hook_records_a_successful_run(tmp_path):
    hook = RunManifestHook()
    pipeline, catalog, run_params = _project(tmp_path, _double)
    _run_with_hook(hook, pipeline, catalog, run_params)
    manifest = json.loads((tmp_path / "data/08_reporting/run_manifest.json").read_text())
    assert manifest["status"] == "success" and manifest["error"] is None
    assert manifest["run_id"] == run_params["run_id"]
    assert manifest["pipeline"]["nodes_planned"] == manifest["pipeline"]["nodes_completed"] == 1
    assert manifest["parameters_hash"] == parameters_hash({"a": 1})
    assert manifest["git_commit"] is None
    customers = manifest["inputs"]["customers_raw"]
    assert customers["rows"] == 3 and customers["date_column"] == "signup_date"
    assert customers["date_min"].startswith("2024-01-01")
    assert customers["date_max"].startswith("2024-05-01")
    assert manifest["outputs_written"] == []  # MemoryDatasets are not outputs on disk
    assert manifest["finished_at"] >= manifest["started_at"]
    history = tmp_path / "data/08_reporting/run_history/2026-01-01T00.00.00.000Z.json"
    assert json.loads(history.read_text()) == manifest


def test_hook_records_a_failed_node(tmp_path):
    hook = RunManifestHook()
    pipeline, catalog, run_params = _project(tmp_path, _fail)
    with pytest.raises(ValueError, match="broken node"):
        _run_with_hook(hook, pipeline, catalog, run_params)
    manifest = json.loads((tmp_path / "data/08_reporting/run_manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["error"] == {"type": "ValueError", "message": "broken node", "node": "double_x"}
    assert manifest["pipeline"]["nodes_completed"] == 0


def test_a_failing_pre_flight_hook_fails_the_manifest(tmp_path):
    hook = RunManifestHook()
    store = tmp_path / "data/06_models/promoted"
    catalog = DataCatalog({"promoted_churn_model": PromotedModelDataset(path=str(store))})
    pipeline = Pipeline([node(lambda model: 1, "promoted_churn_model", "out", name="use_model")])
    run_params = {"run_id": "r1", "project_path": str(tmp_path)}
    wrapper = hook.before_pipeline_run(run_params=run_params, pipeline=pipeline, catalog=catalog)
    next(wrapper)
    running = json.loads((tmp_path / "data/08_reporting/run_manifest.json").read_text())
    assert running["status"] == "running" and running["finished_at"] is None
    with pytest.raises(Exception, match="kedro run --pipeline retrain") as raised:
        InputsCheckHook().before_pipeline_run(pipeline=pipeline, catalog=catalog)
    with pytest.raises(type(raised.value)):
        wrapper.throw(raised.value)
    manifest = json.loads((tmp_path / "data/08_reporting/run_manifest.json").read_text())
    assert (
        manifest["status"] == "failed"
        and "No promoted churn model" in (manifest["error"]["message"])
    )
    _promote(store, "m1")
    InputsCheckHook().before_pipeline_run(pipeline=pipeline, catalog=catalog)  # passes


@pytest.fixture
def terminal_signals():
    """SIGINT and SIGTERM with their actions in a terminal (a background job ignores SIGINT,
    and the hook leaves an ignored signal alone), put back after the test."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_signal_handlers_are_the_hooks_during_the_run_only(tmp_path, terminal_signals):
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    during = {}

    def _record_handlers(frame: pd.DataFrame) -> pd.DataFrame:
        during.update({signum: signal.getsignal(signum) for signum in before})
        return frame

    hook = RunManifestHook()
    _run_with_hook(hook, *_project(tmp_path, _record_handlers))
    assert all(getattr(handler, "__self__", None) is hook for handler in during.values())
    assert {signum: signal.getsignal(signum) for signum in before} == before
    with pytest.raises(ValueError):
        _run_with_hook(hook, *_project(tmp_path, _fail))
    assert {signum: signal.getsignal(signum) for signum in before} == before


BLOCKING_PIPELINE = """
import os
import time
from pathlib import Path

from kedro.pipeline import Pipeline, node


def block():
    Path(os.environ["NODE_STARTED"]).touch()
    time.sleep(60)


def register_pipelines():
    return {"__default__": Pipeline([node(block, None, "blocked", name="block")])}
"""

# The project's settings (hooks included) with the blocking pipeline above as the registry;
# the signals' actions as in a terminal, even when the tests run as a background job (SIGINT
# ignored, which the hook leaves alone).
RUN_BLOCKING_PIPELINE = """
import signal
import sys

from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

signal.signal(signal.SIGINT, signal.default_int_handler)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
project = bootstrap_project(sys.argv[1]).project_path
pipelines.configure("blocking_pipeline")
with KedroSession.create(project_path=project) as session:
    session.run()
"""


def _interrupt_a_kedro_run(tmp_path: Path, signum: int) -> tuple[int, dict]:
    """Run the blocking pipeline in a fresh project in a subprocess, send ``signum`` once its
    node is running; the exit status and the manifest."""
    project = fresh_project(tmp_path)
    (tmp_path / "blocking_pipeline.py").write_text(BLOCKING_PIPELINE)
    started = tmp_path / "node_started"
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
        "NODE_STARTED": str(started),
        "KEDRO_DISABLE_TELEMETRY": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", RUN_BLOCKING_PIPELINE, str(project)],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120  # start-up takes 3-5 s, 11 s on a loaded machine
        while not started.exists():
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the node did not start within 120 s"
            time.sleep(0.05)
        process.send_signal(signum)
        output = process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    manifest = json.loads((project / "data/08_reporting/run_manifest.json").read_text())
    assert manifest["status"] == "interrupted", output
    return process.returncode, manifest


@pytest.mark.parametrize(
    ("signum", "returncode"),
    [
        (signal.SIGTERM, 128 + signal.SIGTERM),  # RunInterrupted, like a shell reports it
        (signal.SIGINT, -signal.SIGINT),  # KeyboardInterrupt: Python ends by SIGINT itself
    ],
    ids=["SIGTERM", "SIGINT"],
)
def test_a_signal_records_an_interrupted_run(tmp_path, signum, returncode):
    exit_status, manifest = _interrupt_a_kedro_run(tmp_path, signum)
    name = signal.Signals(signum).name
    assert exit_status == returncode
    assert manifest["error"] == {"type": name, "message": f"run stopped by {name}", "node": "block"}
    assert manifest["finished_at"] >= manifest["started_at"]
    assert manifest["pipeline"]["nodes_completed"] == 0


def test_the_last_success_manifest_survives_a_failed_run_and_dead_runs_become_abandoned(
    tmp_path,
):
    reporting = tmp_path / "data/08_reporting"
    pipeline, catalog, run_params = _project(tmp_path, _double)
    _run_with_hook(RunManifestHook(), pipeline, catalog, run_params)
    good = json.loads((reporting / "last_success.json").read_text())
    assert good["status"] == "success" and good["run_id"] == run_params["run_id"]
    # A run killed outright (SIGKILL) leaves its manifest 'running'.
    killed = RunManifestHook()
    wrapper = killed.before_pipeline_run(
        run_params={**run_params, "run_id": "killed"}, pipeline=pipeline, catalog=catalog
    )
    next(wrapper)
    killed._lock.release()  # what the operating system does when the process dies
    # The next run fails; the last success is still the first run.
    failing, catalog, failing_params = _project(tmp_path, _fail)
    with pytest.raises(ValueError, match="broken node"):
        _run_with_hook(RunManifestHook(), failing, catalog, {**failing_params, "run_id": "next"})
    assert json.loads((reporting / "last_success.json").read_text()) == good
    assert json.loads((reporting / "run_manifest.json").read_text())["status"] == "failed"
    abandoned = json.loads((reporting / "run_history/killed.json").read_text())
    assert abandoned["status"] == "abandoned"
    assert "found by run next" in abandoned["error"]["message"]


def test_a_run_refused_by_the_lock_leaves_the_running_manifest_alone(tmp_path):
    pipeline, catalog, run_params = _project(tmp_path, _double)
    catalog["parameters"] = MemoryDataset({"run_lock": {"when_busy": "stop"}})
    running = RunManifestHook()
    wrapper = running.before_pipeline_run(run_params=run_params, pipeline=pipeline, catalog=catalog)
    next(wrapper)
    manifest = (tmp_path / "data/08_reporting/run_manifest.json").read_text()
    second = RunManifestHook()
    with pytest.raises(Exception, match="Another run of this project is going"):
        next(
            second.before_pipeline_run(
                run_params={**run_params, "run_id": "second"}, pipeline=pipeline, catalog=catalog
            )
        )
    assert (tmp_path / "data/08_reporting/run_manifest.json").read_text() == manifest
    running._lock.release()
