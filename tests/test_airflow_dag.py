"""The committed Airflow DAGs (airflow/dags/) are generated from the current pipelines.

Airflow itself is not a dependency: the DAG files are read as Python source (their ``TASKS``
table), regenerated with the Makefile's own ``airflow-dag`` recipe and compared byte for byte,
and executed with a minimal stand-in for ``airflow.sdk`` (see tests/test_jobs.py). When Airflow
is installed, ``test_dags_import_in_airflow`` also loads them in a real DagBag.
"""

from __future__ import annotations

import ast
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from customer_retention.pipeline_registry import register_pipelines

from .conftest import PROJECT_ROOT

DAGS = PROJECT_ROOT / "airflow" / "dags"
JOBS = ("retrain", "score")


def dag_file(job: str, folder: Path = DAGS) -> Path:
    return folder / f"customer_retention_{job}_dag.py"


def dag_tasks(path: Path) -> dict[str, dict[str, list[str]]]:
    """The ``TASKS`` literal of a generated DAG file: task id -> nodes, upstream task ids."""
    for statement in ast.parse(path.read_text()).body:
        if isinstance(statement, ast.Assign) and [
            getattr(t, "id", None) for t in statement.targets
        ] == ["TASKS"]:
            return ast.literal_eval(statement.value)
    raise AssertionError(f"{path} has no TASKS table")


def _ancestors(tasks: dict, task_id: str) -> set[str]:
    seen, stack = set(), list(tasks[task_id]["upstream"])
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(tasks[current]["upstream"])
    return seen


@pytest.mark.parametrize("job", JOBS)
def test_dag_runs_every_node_of_the_job_exactly_once(job):
    tasks = dag_tasks(dag_file(job))
    nodes = [node for spec in tasks.values() for node in spec["nodes"]]
    assert sorted(nodes) == sorted(n.name for n in register_pipelines()[job].nodes)


@pytest.mark.parametrize("job", JOBS)
def test_dag_dependencies_follow_the_data(job):
    pipeline = register_pipelines()[job]
    tasks = dag_tasks(dag_file(job))
    task_of = {node: task_id for task_id, spec in tasks.items() for node in spec["nodes"]}
    producer = {output: n.name for n in pipeline.nodes for output in n.outputs}
    needed = {task_id: set() for task_id in tasks}
    for node in pipeline.nodes:
        for dataset in node.inputs:
            if dataset in producer and task_of[producer[dataset]] != task_of[node.name]:
                upstream = task_of[producer[dataset]]
                assert upstream in _ancestors(tasks, task_of[node.name]), (node.name, dataset)
                needed[task_of[node.name]].add(upstream)
    for task_id, spec in tasks.items():
        assert set(spec["upstream"]) == needed[task_id]  # no edge without a dataset behind it


@pytest.mark.parametrize("job", JOBS)
def test_dag_orders_the_readers_of_a_transcoded_dataset_after_its_writer(job):
    """kedro-airflow links tasks by exact dataset names, so the reader of ``x@ibis`` gets no
    edge from the writer of ``x@pandas``: the writer must still come before it, through
    other data."""
    pipeline = register_pipelines()[job]
    tasks = dag_tasks(dag_file(job))
    task_of = {node: task_id for task_id, spec in tasks.items() for node in spec["nodes"]}
    writer = {output.split("@")[0]: n.name for n in pipeline.nodes for output in n.outputs}
    checked = 0
    for node in pipeline.nodes:
        for dataset in (d for d in node.inputs if "@" in d and d.split("@")[0] in writer):
            upstream, reader = task_of[writer[dataset.split("@")[0]]], task_of[node.name]
            assert upstream == reader or upstream in _ancestors(tasks, reader), (node.name, dataset)
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("job", JOBS)
def test_dag_schedule_comes_from_airflow_yml(job):
    config = yaml.safe_load((PROJECT_ROOT / "conf/base/airflow.yml").read_text())
    source = dag_file(job).read_text()
    assert f'schedule="{config[job]["schedule"]}"' in source
    assert f'dag_id="customer_retention_{job}"' in source
    assert f"max_active_runs={config['default']['max_active_runs']}," in source


def _make_recipe(target: str) -> list[str]:
    """The `airflow-dag` recipe of the Makefile, with $(BIN) resolved and the target folder
    replaced."""
    lines = (PROJECT_ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("airflow-dag:"))
    recipe = lines[start + 1]
    assert recipe.startswith("\t") and "--target-dir airflow/dags" in recipe
    command = recipe.strip().replace("$(BIN)/", str(Path(sys.executable).parent) + "/")
    return shlex.split(command.replace("--target-dir airflow/dags", f"--target-dir {target}"))


def test_make_airflow_dag_reproduces_the_committed_dags(tmp_path):
    env = os.environ | {"KEDRO_DISABLE_TELEMETRY": "1"}
    result = subprocess.run(
        _make_recipe(str(tmp_path)),
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    generated = sorted(p.name for p in tmp_path.glob("*.py"))
    assert generated == sorted(p.name for p in DAGS.glob("*.py"))
    for name in generated:
        assert (tmp_path / name).read_text() == (DAGS / name).read_text(), (
            f"airflow/dags/{name} is stale: run `make airflow-dag` and commit the result"
        )


def test_dags_import_in_airflow():
    # Not "airflow": without Airflow, the project's own airflow/ folder imports as a namespace.
    dagbag = pytest.importorskip("airflow.models.dagbag")
    DagBag = dagbag.DagBag

    bag = DagBag(dag_folder=str(DAGS), include_examples=False)
    assert not bag.import_errors
    config = yaml.safe_load((PROJECT_ROOT / "conf/base/airflow.yml").read_text())
    for job in JOBS:
        dag = bag.get_dag(f"customer_retention_{job}")
        assert set(dag.task_ids) == set(dag_tasks(dag_file(job)))
        assert str(getattr(dag, "timetable", None).summary) == config[job]["schedule"]
