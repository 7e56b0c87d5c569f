"""The scheduled jobs end to end (600 demo customers, throw-away copies of the project):
`retrain` is repeatable, a failed training leaves the promoted model alone, `score` refuses to
run without one, drift is detected without false alarms, every run leaves a manifest, and the
generated Airflow DAG runs task by task."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from kedro.framework.startup import bootstrap_project
from kedro.io import DatasetError

from customer_retention.datasets import model_store
from customer_retention.model_versions import list_model_versions
from customer_retention.pipeline_registry import register_pipelines

from .conftest import SMALL_DEMO, fresh_project, project_copy, run_job
from .test_airflow_dag import dag_file, dag_tasks

pytestmark = pytest.mark.slow

VOLATILE = re.compile(r"(^|_)(seconds|created_at|generated_at|model_id)$")
# The run records, and the HTML report: it shows its generation time and the changes since the
# previous report (stateful by design); its inputs and report_summary.json are compared.
NOT_REPEATABLE = {"run_manifest.json", "last_success.json", ".run.lock", "report.html"}
VERSION = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z")  # Kedro save version


run = run_job


def manifest(project: Path) -> dict[str, Any]:
    return json.loads((project / "data/08_reporting/run_manifest.json").read_text())


@pytest.fixture
def project(retrained, tmp_path, monkeypatch) -> Path:
    """A private copy of the retrained project, as the working directory."""
    return project_copy(retrained, tmp_path, monkeypatch)


# ---------------------------------------------------------------------------------------------
# retrain: repeatable
# ---------------------------------------------------------------------------------------------


def _latest_files(data: Path) -> dict[str, tuple[str, Path]]:
    """Every output file -> (version, path); for versioned datasets (a folder named by Kedro's
    save version somewhere in the path) the newest version. Run records and the promoted-model
    store are compared separately."""
    files: dict[str, tuple[str, Path]] = {}
    for path in data.rglob("*"):
        rel = path.relative_to(data)
        if not path.is_file() or rel.parts[0] in ("01_raw", "09_tracking"):  # input; MLflow
            continue
        if "run_history" in rel.parts:
            continue
        if rel.parts[:2] == ("06_models", "promoted") or rel.name in NOT_REPEATABLE:
            continue
        versions = [part for part in rel.parts if VERSION.fullmatch(part)]
        version = versions[0] if versions else ""
        key = "/".join(part for part in rel.parts if part != version)
        if key not in files or files[key][0] < version:
            files[key] = (version, path)
    return files


def _without_volatile(value: Any) -> Any:
    """JSON without run-specific values: timings, creation times, model ids (which embed the
    creation time) and the promotion decision (checked on its own)."""
    if isinstance(value, dict):
        return {
            k: _without_volatile(v)
            for k, v in value.items()
            if not VOLATILE.search(k) and k != "promotion"
        }
    if isinstance(value, list):
        return [_without_volatile(v) for v in value]
    return value


def _content(path: Path) -> Any:
    if path.suffix == ".json":
        return _without_volatile(json.loads(path.read_text()))
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _same(a: Any, b: Any) -> bool:
    """Equal, floats to 1e-12 relative: DuckDB's multi-threaded SUM over DOUBLE adds partial
    sums in varying order, so e.g. an MRR total can come out as 19600.45 or
    19600.449999999997 (see the report); anything larger is a real difference."""
    if isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame):
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12, atol=0)
        except AssertionError:
            return False
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0) or (a != a and b != b)
    return a == b


def test_retrain_twice_with_the_same_inputs_gives_identical_outputs(project):
    data = project / "data"
    first_files = _latest_files(data)
    first = {key: _content(path) for key, (_, path) in first_files.items()}
    first_manifest = manifest(project)

    run(project, "retrain")

    second_files = _latest_files(data)
    assert set(second_files) == set(first_files)
    for key, (version, _) in second_files.items():  # versioned outputs: a new version each run
        assert version == first_files[key][0] == "" or version > first_files[key][0], key
    differing = sorted(k for k, (_, p) in second_files.items() if not _same(_content(p), first[k]))
    assert differing == [], f"outputs that changed between identical runs: {differing}"

    second_manifest = manifest(project)
    assert first_manifest["status"] == second_manifest["status"] == "success"
    assert second_manifest["run_id"] != first_manifest["run_id"]
    assert second_manifest["parameters_hash"] == first_manifest["parameters_hash"]
    raw = {k for k in first_manifest["inputs"] if k.endswith("_raw")}
    assert len(raw) == 7 and all(first_manifest["inputs"][k]["rows"] > 0 for k in raw)
    assert {k: second_manifest["inputs"][k] for k in raw} == {
        k: first_manifest["inputs"][k] for k in raw
    }
    # The retrained model is the champion's twin (same trees, same test score), so the champion
    # stays promoted and nothing in the promoted store is rewritten.
    promotion = second_manifest["models"]["promotion"]
    champion_id = first_manifest["models"]["promoted_model"]["model_id"]
    assert promotion["champion_model_id"] == champion_id
    assert promotion["challenger_score"] == promotion["champion_score"]
    assert promotion["decision"] == "kept_champion"
    assert promotion["reason"].startswith("identical to the promoted model")
    assert second_manifest["models"]["promoted_model"]["model_id"] == champion_id
    rows = list_model_versions(data / "06_models")
    assert len(rows) == 2 and [row["promoted"] for row in rows] == [True, False]
    assert rows[0]["model_id"] == champion_id
    assert rows[0]["roc_auc"] == rows[1]["roc_auc"]


# ---------------------------------------------------------------------------------------------
# A failed training never touches the promoted model
# ---------------------------------------------------------------------------------------------


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _inject(kind: str, monkeypatch) -> None:
    if kind == "node":  # the promotion node fails after training and evaluation
        from customer_retention.pipelines.churn_model import promotion

        def fail(*args, **kwargs):
            raise RuntimeError("injected failure while scoring the champion")

        monkeypatch.setattr(promotion, "_backtest_mean", fail)
        return
    real_replace = os.replace

    def replace(src, dst):
        moving_folder = Path(src).name.startswith(".staging-")
        if (kind == "model_folder" and moving_folder) or (
            kind == "pointer" and Path(dst).name == model_store.POINTER
        ):
            raise OSError(f"injected failure: no space left on device ({kind})")
        return real_replace(src, dst)

    monkeypatch.setattr(model_store.os, "replace", replace)


@pytest.mark.parametrize(
    ("kind", "pipeline"),
    [("node", "retrain"), ("model_folder", "churn_model"), ("pointer", "churn_model")],
)
def test_failed_training_leaves_the_promoted_model_untouched(project, monkeypatch, kind, pipeline):
    store = project / "data/06_models/promoted"
    pointer = (store / model_store.POINTER).read_bytes()
    champion = json.loads(pointer)["model_id"]
    before = _tree(store / champion)
    folders = {p.name for p in store.iterdir()}

    _inject(kind, monkeypatch)
    # Another seed gives a different challenger, and any score wins: the store must be written.
    challenger = SMALL_DEMO | {"churn_model": {"seed": 7, "promotion": {"tolerance": 1.0}}}
    with pytest.raises(Exception, match="injected failure"):
        run(project, pipeline, challenger)
    monkeypatch.undo()

    assert (store / model_store.POINTER).read_bytes() == pointer
    assert _tree(store / champion) == before
    assert not [p for p in store.iterdir() if p.name.startswith(".")]  # no staging left over
    new = {p.name for p in store.iterdir()} - folders
    if kind == "pointer":  # the new model was fully written, then never pointed at
        assert len(new) == 1 and set(_tree(store / new.pop())) == set(before)
    else:
        assert new == set()

    record = manifest(project)
    assert record["status"] == "failed"
    assert "injected failure" in record["error"]["message"]
    assert record["error"]["node"] == "promote_churn_model"
    assert record["pipeline"]["names"] == [pipeline]
    assert record["models"]["promoted_model"]["model_id"] == champion
    history = json.loads(
        (project / "data/08_reporting/run_history" / f"{record['run_id']}.json").read_text()
    )
    assert history == record

    if kind == "node":  # scoring goes on with the untouched champion
        run(project, "score")
        at_risk = pd.read_csv(project / "data/07_model_output/at_risk_customers.csv")
        assert set(at_risk["model_id"]) == {champion}


# ---------------------------------------------------------------------------------------------
# score without a promoted model
# ---------------------------------------------------------------------------------------------


def test_score_without_a_promoted_model_stops_before_any_node(tmp_path, monkeypatch):
    project = fresh_project(tmp_path)
    monkeypatch.chdir(project)
    bootstrap_project(project)
    with pytest.raises(DatasetError, match=r"kedro run --pipeline retrain"):
        run(project, "score")
    assert not any((project / "data/01_raw").iterdir())  # stopped before generating demo data
    record = manifest(project)
    assert record["status"] == "failed" and record["pipeline"]["nodes_completed"] == 0
    assert "No promoted churn model" in record["error"]["message"]

    result = subprocess.run(
        [str(Path(sys.executable).parent / "kedro"), "run", "--pipeline", "score"],
        cwd=project,
        env=os.environ | {"KEDRO_DISABLE_TELEMETRY": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert "No promoted churn model" in output and "kedro run --pipeline retrain" in output


# ---------------------------------------------------------------------------------------------
# Drift
# ---------------------------------------------------------------------------------------------


def _drift(project: Path) -> dict[str, Any]:
    return json.loads((project / "data/08_reporting/drift_report.json").read_text())


def _without_clock(report: dict[str, Any]) -> dict[str, Any]:
    """The report but the model's age, counted to today (two runs may straddle midnight)."""
    return {k: v for k, v in report.items() if k != "model_age_days"}


def test_drift_is_detected_and_stable_data_raise_no_alarm(project):
    data = project / "data"
    run(project, "score")
    stable = _drift(project)
    assert stable["retraining_recommended"] is False and stable["reasons"] == []
    assert not [f["feature"] for f in stable["features"] if f["drifted"]]
    assert manifest(project)["drift"]["retraining_recommended"] is False
    at_risk = (data / "07_model_output/at_risk_customers.csv").read_bytes()

    run(project, "score")  # the same job again: same list, same report
    assert (data / "07_model_output/at_risk_customers.csv").read_bytes() == at_risk
    assert _without_clock(_drift(project)) == _without_clock(stable)

    # An independent sample of the same business (another seed): still no alarm.
    run(project, "demo_data", SMALL_DEMO | {"demo_data": {"n_customers": 600, "seed": 7}})
    run(project, "score")
    resample = _drift(project)
    assert resample["retraining_recommended"] is False, resample["reasons"]

    # Product usage collapses in the last 60 days: 80% of those events disappear.
    events = pd.read_parquet(data / "01_raw/events.parquet")
    recent = events["event_time"] >= events["event_time"].max() - pd.Timedelta(days=60)
    dropped = recent & (np.random.default_rng(0).random(len(events)) < 0.8)
    events[~dropped].to_parquet(data / "01_raw/events.parquet", index=False)
    run(project, "score")
    drifted = _drift(project)
    flagged = {f["feature"] for f in drifted["features"] if f["drifted"]}
    assert {"events_recent", "active_days_recent"} <= flagged
    assert flagged <= {
        "events_recent",
        "active_days_recent",
        "event_types_recent",
        "days_since_last_event",
        "usage_trend_ratio",
        "events_previous",
    }
    assert drifted["retraining_recommended"] is True
    assert any("features drifted" in reason for reason in drifted["reasons"])
    assert drifted["score_shift"]["mean_scoring"] > resample["score_shift"]["mean_scoring"]
    record = manifest(project)
    assert record["drift"]["retraining_recommended"] is True
    assert record["drift"]["reasons"] == drifted["reasons"]
    assert record["inputs"]["events_raw"]["rows"] == int((~dropped).sum())


# ---------------------------------------------------------------------------------------------
# The generated Airflow DAG, run task by task without Airflow
# ---------------------------------------------------------------------------------------------


class _FakeTask:
    """What ``@task(...)(fn)()`` returns in Airflow: a node of the DAG with ``>>``."""

    def __init__(self, dag: dict, task_id: str, fn) -> None:
        self.task_id, self.fn, self.upstream = task_id, fn, set()
        dag["tasks"][task_id] = self

    def __rshift__(self, other: _FakeTask) -> _FakeTask:
        other.upstream.add(self.task_id)
        return other


def _fake_airflow(registry: dict) -> types.ModuleType:
    """A stand-in for ``airflow.sdk``: ``dag`` records the DAG, ``task`` records tasks."""
    sdk = types.ModuleType("airflow.sdk")

    def dag(**dag_kwargs):
        def decorate(fn):
            def build():
                registry.update(kwargs=dag_kwargs, tasks={})
                fn()

            return build

        return decorate

    def task(task_id: str, **kwargs):
        def decorate(fn):
            return lambda: _FakeTask(registry, task_id, fn)

        return decorate

    sdk.dag, sdk.task = dag, task
    return sdk


def test_generated_score_dag_runs_task_by_task(project, monkeypatch):
    registry: dict[str, Any] = {}
    airflow = types.ModuleType("airflow")
    airflow.sdk = _fake_airflow(registry)
    monkeypatch.setitem(sys.modules, "airflow", airflow)
    monkeypatch.setitem(sys.modules, "airflow.sdk", airflow.sdk)
    monkeypatch.setenv("CUSTOMER_RETENTION_PROJECT_PATH", str(project))
    cleaning = project / "conf/base/parameters_data_cleaning.yml"  # Airflow passes no params
    cleaning.write_text(
        cleaning.read_text().replace("reference_date: null", 'reference_date: "2026-01-31"')
    )
    spec = importlib.util.spec_from_file_location("score_dag", dag_file("score"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    assert registry["kwargs"]["dag_id"] == "customer_retention_score"
    tasks = registry["tasks"]
    assert set(tasks) == set(dag_tasks(dag_file("score")))
    done: list[str] = []
    while len(done) < len(tasks):  # topological order, as the scheduler would
        ready = sorted(t for t in tasks if t not in done and tasks[t].upstream <= set(done))
        assert ready, "cycle in the DAG"
        for task_id in ready:
            monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "customer_retention_score")
            monkeypatch.setenv("AIRFLOW_CTX_DAG_RUN_ID", "manual__test")
            monkeypatch.setenv("AIRFLOW_CTX_TASK_ID", task_id)
            tasks[task_id].fn()
            done.append(task_id)

    records = [
        json.loads(p.read_text()) for p in (project / "data/08_reporting/run_history").iterdir()
    ]
    by_task = {r["scheduler"]["task_id"]: r for r in records if r.get("scheduler")}
    assert set(by_task) == set(tasks)
    assert all(r["status"] == "success" for r in by_task.values())
    assert sum(r["pipeline"]["nodes_completed"] for r in by_task.values()) == len(
        register_pipelines()["score"].nodes
    )
    assert (project / "data/08_reporting/drift_report.json").is_file()
    at_risk = pd.read_csv(project / "data/07_model_output/at_risk_customers.csv")
    promoted = json.loads((project / "data/06_models/promoted/current.json").read_text())
    assert set(at_risk["model_id"]) == {promoted["model_id"]}
