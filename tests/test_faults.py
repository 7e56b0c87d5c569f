"""The fault suite (#27): each way an operator or a new user can hurt a run, tried on a copy of a
retrained project. Every case asserts the refusal and its message, and that the promoted model
and the last successful run's manifest are exactly as before. The last case starts ``retrain``
and ``score`` together."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from customer_retention.core.run_lock import RunLock

from .conftest import SMALL_DEMO, project_copy, run_job

pytestmark = pytest.mark.slow

PROMOTED = Path("data/06_models/promoted")
LAST_SUCCESS = Path("data/08_reporting/last_success.json")


def _state(project: Path) -> dict[str, str]:
    """sha256 of every file of the promoted-model store and of last_success.json."""
    files = [p for p in sorted((project / PROMOTED).rglob("*")) if p.is_file()]
    files.append(project / LAST_SUCCESS)
    return {
        p.relative_to(project).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files
    }


@pytest.fixture
def project(retrained, tmp_path, monkeypatch) -> Path:
    return project_copy(retrained, tmp_path, monkeypatch)


def _refused(project: Path, pipeline: str, match: str, params: dict | None = None) -> str:
    """Run ``pipeline``; it must fail with ``match`` in its message and change neither the
    promoted model nor the last success manifest. Returns the message."""
    before = _state(project)
    assert (project / LAST_SUCCESS).exists()
    with pytest.raises(Exception, match=match) as refused:
        run_job(project, pipeline, params)
    assert _state(project) == before
    return str(refused.value)


def _promoted_folder(project: Path) -> Path:
    model_id = json.loads((project / PROMOTED / "current.json").read_text())["model_id"]
    return project / PROMOTED / model_id


def test_own_csv_beside_the_demo_parquet_is_refused_naming_both_files(project):
    raw = project / "data/01_raw"
    pd.read_parquet(raw / "customers.parquet").to_csv(raw / "customers.csv", index=False)
    message = _refused(project, "score", "Table 'customers' is in 2 files")
    assert "customers.csv" in message and "customers.parquet" in message


def test_a_file_that_is_no_table_is_refused_with_the_expected_names(project):
    (project / "data/01_raw/customer.csv").write_text("customer_id\n1\n")
    message = _refused(project, "score", "not input tables")
    assert "customer.csv" in message and "customers" in message


def test_half_the_subscription_dates_in_another_format_stops_the_run(project):
    raw = project / "data/01_raw/subscriptions.parquet"
    table = pd.read_parquet(raw)
    table["start_date"] = table["start_date"].astype(str)
    half = table.index[::2]
    table.loc[half, "start_date"] = pd.to_datetime(table.loc[half, "start_date"]).dt.strftime(
        "%d/%m/%Y"
    )
    table.to_parquet(raw, index=False)
    message = _refused(project, "retrain", "rows .* were quarantined")
    assert "data_cleaning.max_quarantine_share" in message and "start_date" in message


def test_a_header_only_customers_file_is_named_as_such(project):
    raw = project / "data/01_raw/customers.parquet"
    pd.read_parquet(raw).iloc[:0].to_parquet(raw, index=False)
    _refused(project, "score", "Table 'customers' has no rows")


def test_an_edited_promoted_model_is_refused(project):
    model = _promoted_folder(project) / "model.json"
    content = json.loads(model.read_text())
    if "learner" in content:  # XGBoost: every probability near 1
        content["learner"]["learner_model_param"]["base_score"] = "[9.9E-1]"
    else:  # the logistic model: the same, through its intercept
        content["intercept_"] = 7.0
    model.write_text(json.dumps(content))  # still valid JSON, still loadable
    _refused(project, "score", "checksum")


@pytest.mark.parametrize(
    ("pointer", "match"),
    [('{"model_id": "../../elsewhere"}', "not a model folder name"), ("{not json", "pointer")],
)
def test_a_damaged_or_escaping_pointer_is_refused(project, pointer, match):
    (project / PROMOTED / "current.json").write_text(pointer)
    _refused(project, "score", match)


def test_a_missing_intermediate_names_the_stage_to_run_first(project):
    (project / "data/04_feature/customer_snapshots.parquet").unlink()
    message = _refused(project, "churn_model", "stages it does not include")
    assert "kedro run --pipelines feature_engineering" in message


def test_implausible_scores_stop_scoring(project):
    params = SMALL_DEMO | {"scoring": {"sanity": {"max_mean_ratio": 1.0001}}}
    _refused(project, "score", "scoring.sanity.max_mean_ratio", params)


def test_an_explicit_business_model_the_data_cannot_carry_is_refused(project):
    (project / "conf/local/globals.yml").write_text("contract: contractual\n")
    (project / "data/01_raw/subscriptions.parquet").unlink()
    _refused(project, "score", "'subscriptions' has no clean rows")


def test_a_run_that_may_not_wait_stops_naming_the_running_one(project):
    holder = RunLock(project / "data/.run.lock")
    holder.acquire("nightly-retrain", ["retrain"])
    try:
        params = SMALL_DEMO | {"run_lock": {"when_busy": "stop"}}
        _refused(project, "score", "Another run of this project is going: run nightly", params)
    finally:
        holder.release()


def _kedro(project: Path, pipeline: str, log: Path) -> subprocess.Popen:
    """``kedro run --pipelines pipeline`` in the background, its output to ``log`` (a file, not
    a pipe: a run holding the lock must never block on a full pipe that nobody reads)."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "200"}
    with log.open("w") as output:
        return subprocess.Popen(
            [str(Path(sys.executable).with_name("kedro")), "run", "--pipelines", pipeline],
            cwd=project,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )


def test_retrain_and_score_started_together_both_succeed_and_every_output_reads_back(project):
    """They used to collide: retrain read a 0-byte Parquet that score was writing. Now the
    second waits for the first (run lock), and every file is replaced atomically."""
    (project / "conf/local/parameters.yml").write_text(
        yaml.safe_dump({"data_cleaning": {"reference_date": "2026-01-31"}})
    )
    logs = {name: project.parent / f"{name}.log" for name in ("r", "s")}
    retrain = _kedro(project, "retrain", logs["r"])
    score = _kedro(project, "score", logs["s"])
    for job in (retrain, score):
        job.wait(timeout=900)
    outputs = {name: log.read_text() for name, log in logs.items()}
    assert retrain.returncode == 0, outputs["r"][-3000:]
    assert score.returncode == 0, outputs["s"][-3000:]
    assert "Waiting for another run of this project to finish" in outputs["r"] + outputs["s"]
    history = [
        json.loads(p.read_text())
        for p in (project / "data/08_reporting/run_history").glob("*.json")
    ]
    finished = {tuple(h["pipeline"]["names"]) for h in history if h["status"] == "success"}
    assert {("retrain",), ("score",)} <= finished
    read = 0
    for file in (project / "data").rglob("*"):
        if not file.is_file():  # a versioned dataset is a folder named like its file
            continue
        read += file.suffix in (".parquet", ".json", ".csv")
        if file.suffix == ".parquet":
            pd.read_parquet(file)
        elif file.suffix == ".json":
            json.loads(file.read_text())
        elif file.suffix == ".csv":
            pd.read_csv(file)
    assert read > 50 and not list((project / "data").rglob(".*.tmp"))
