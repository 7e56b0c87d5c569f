"""Experiment tracking end to end (hooks.tracking): what a run logs to the project's MLflow
store, the registered model and its aliases after a promotion and after a rejected retrain, a
failure between the store write and the alias write repaired by the next run, scoring from the
registry, and tracking turned off. Read back with MlflowClient."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from customer_retention.datasets.model_store import PromotedModelDataset
from customer_retention.datasets.registry import (
    CHALLENGER,
    CHAMPION,
    ModelRegistry,
    mlflow_module,
)

from .conftest import SMALL_DEMO, project_copy, run_job

pytestmark = pytest.mark.slow

NAME = "customer_retention_churn"


def _client(project: Path):
    mlflow = mlflow_module()
    uri = f"sqlite:///{(project / 'data' / '09_tracking' / 'mlflow.db').as_posix()}"
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _runs(client) -> list:
    experiment = client.get_experiment_by_name("customer_retention")
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time"])


def _artifacts(client, run_id: str, path: str = "") -> list[str]:
    found = []
    for item in client.list_artifacts(run_id, path):
        found += _artifacts(client, run_id, item.path) if item.is_dir else [item.path]
    return found


def _store(project: Path) -> PromotedModelDataset:
    return PromotedModelDataset(path=str(project / "data" / "06_models" / "promoted"))


def _with(params: dict) -> dict:
    merged = json.loads(json.dumps(SMALL_DEMO))
    for block, values in params.items():
        merged.setdefault(block, {}).update(values)
    return merged


@pytest.fixture
def project(retrained, tmp_path, monkeypatch) -> Path:
    return project_copy(retrained, tmp_path, monkeypatch)


def test_a_retrain_logs_one_run_and_registers_its_model_as_champion(project):
    client = _client(project)
    (run,) = _runs(client)
    manifest = json.loads((project / "data" / "08_reporting" / "run_manifest.json").read_text())
    assert run.info.status == "FINISHED" and run.info.run_name == manifest["run_id"]
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    assert tags["kedro.pipeline"] == "retrain"
    assert tags["parameters_hash"] == manifest["parameters_hash"]
    assert len(tags["data_fingerprint"]) == 64
    assert tags["promotion.decision"] == "promoted"
    assert params["churn_model.promotion.metric"] == "roc_auc"
    assert params["demo_data.n_customers"] == "600"  # the run's parameters, flattened
    rows = manifest["inputs"]["customers_raw"]["rows"]
    assert int(params["data.customers_raw.rows"]) == rows >= 600  # from the run manifest
    churn = json.loads((project / "data" / "08_reporting" / "churn_model_metrics.json").read_text())
    calibrated = churn["scorers"]["xgboost_calibrated"]
    for key in ("roc_auc", "roc_auc_ci_low", "roc_auc_ci_high", "brier_score", "ece"):
        assert metrics[f"test.xgboost_calibrated.{key}"] == pytest.approx(calibrated[key])
    assert any(k.startswith("backtest.") for k in metrics)
    assert "survival.km.customers" in metrics
    assert any(k.startswith("survival.comparison.c_index_test.") for k in metrics)
    assert metrics["clv.customers"] > 0 and metrics["clv.clv_total"] > 0
    assert metrics["tracking_seconds"] > 0
    artifacts = _artifacts(client, run.info.run_id)
    for expected in (
        "report/report.html",
        "report/charts/roc.png",
        "report/charts/kaplan_meier.png",
        "summaries/churn_model_metrics.json",
        "summaries/survival_summary.json",
        "summaries/model_card.json",
        "data_inputs.json",
    ):
        assert expected in artifacts
    # One registered version, the promoted store's model, with the alias champion.
    store = _store(project)
    versions = client.search_model_versions(f"name='{NAME}'")
    assert len(versions) == 1
    champion = client.get_model_version_by_alias(NAME, CHAMPION)
    assert champion.tags["model_id"] == store.current_model_id() == tags["churn_model.trained"]
    model_dir = f"churn_model/{store.current_model_id()}"
    assert f"{model_dir}/model.json" in artifacts and f"{model_dir}/MLmodel" in artifacts
    local = client.download_artifacts(run.info.run_id, f"{model_dir}/MLmodel", str(project))
    assert "python_function" not in yaml.safe_load(Path(local).read_text())["flavors"]


def test_a_rejected_retrain_leaves_the_alias_on_the_champion(project):
    """Retraining on unchanged data keeps the promoted model: the new version is the
    challenger, the champion keeps its alias and the store its model."""
    client = _client(project)
    champion_before = client.get_model_version_by_alias(NAME, CHAMPION)
    promoted_before = _store(project).current_model_id()
    run_job(project, "retrain")
    runs = _runs(client)
    assert len(runs) == 2
    latest = runs[-1]
    assert latest.data.tags["promotion.decision"] == "kept_champion"
    assert latest.data.tags["registry.reconciliation"] == "in_step"
    assert _store(project).current_model_id() == promoted_before
    champion = client.get_model_version_by_alias(NAME, CHAMPION)
    assert champion.version == champion_before.version
    assert champion.tags["model_id"] == promoted_before
    challenger = client.get_model_version_by_alias(NAME, CHALLENGER)
    assert challenger.version != champion.version
    assert challenger.tags["model_id"] == latest.data.tags["churn_model.trained"]
    assert challenger.tags["decision"] == "kept_champion"


def test_a_failure_between_the_store_and_alias_writes_is_repaired_at_the_next_run(
    project, monkeypatch
):
    """A promotion whose alias write fails (the store was already switched): the run goes on,
    the MLflow run says what failed, and the next run (here a `score`) moves the alias."""
    client = _client(project)
    old = _store(project).current_model_id()
    original = ModelRegistry.set_alias

    def fail_for_champion(self, alias, version):
        if alias == CHAMPION:
            raise ConnectionError("injected: tracking server unreachable")
        original(self, alias, version)

    monkeypatch.setattr(ModelRegistry, "set_alias", fail_for_champion)
    # Another model kind and a wide tolerance: the retrain is promoted.
    forced = {"churn_model": {"backtest": {"model": "xgboost"}, "promotion": {"tolerance": 1.0}}}
    run_job(project, "retrain", _with(forced))
    new = _store(project).current_model_id()
    assert new != old  # the store switched ...
    assert client.get_model_version_by_alias(NAME, CHAMPION).tags["model_id"] == old  # ... alone
    failed = _runs(client)[-1]
    assert "injected" in failed.data.tags["tracking_error"]
    assert failed.data.tags["promotion.decision"] == "promoted"

    monkeypatch.setattr(ModelRegistry, "set_alias", original)
    run_job(project, "score")
    champion = client.get_model_version_by_alias(NAME, CHAMPION)
    assert champion.tags["model_id"] == new
    assert _runs(client)[-1].data.tags["registry.reconciliation"] == "moved"
    assert champion.tags["model_kind"] == "xgboost"  # native format, loadable by MLflow
    files = client.download_artifacts(champion.run_id, f"churn_model/{new}", str(project / "dl"))
    assert mlflow_module().xgboost.load_model(files).num_boosted_rounds() > 0


def test_score_can_load_the_champion_from_the_registry(project):
    """`score_from: registry`: the score job runs without the promoted store, on the version
    holding the alias, through the same checks (checksums, then the scoring sanity check)."""
    champion = _client(project).get_model_version_by_alias(NAME, CHAMPION)
    shutil.rmtree(project / "data" / "06_models" / "promoted")
    run_job(project, "score", _with({"tracking": {"score_from": "registry"}}))
    mirror = project / "data" / "06_models" / "registry_champion"
    assert json.loads((mirror / "current.json").read_text()) == {
        "model_id": champion.tags["model_id"]
    }
    manifest = json.loads((project / "data" / "08_reporting" / "run_manifest.json").read_text())
    assert manifest["status"] == "success"
    assert manifest["models"]["used"]["promoted_churn_model"] == champion.tags["model_id"]
    assert (project / "data" / "07_model_output" / "at_risk_customers.csv").is_file()


def test_tracking_can_be_turned_off(project):
    client = _client(project)
    before = len(_runs(client))
    run_job(project, "score", _with({"tracking": {"enabled": False}}))
    assert len(_runs(client)) == before
    assert (
        json.loads((project / "data" / "08_reporting" / "run_manifest.json").read_text())["status"]
        == "success"
    )
