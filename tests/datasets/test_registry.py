"""The MLflow model registry beside the promoted store (datasets.registry), without Kedro runs:
registration in the store's bytes, the alias following the store, the repair of a failure
between the store write and the alias write, loading the champion, a moved project."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
import yaml

from customer_retention.datasets.model_store import PromotedModelDataset
from customer_retention.datasets.registry import (
    CHAMPION,
    ModelRegistry,
    RegistryChampionDataset,
    RegistryError,
    mlflow_module,
    relocate_local_store,
    resolve_tracking_uri,
)

NAME = "churn_test"
FEATURES = ["tenure_days", "plan"]


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its tables (creating them takes seconds: done once)."""
    mlflow = mlflow_module()
    folder = tmp_path_factory.mktemp("template")
    mlflow.MlflowClient(f"sqlite:///{folder / 'mlflow.db'}").search_experiments()
    return folder / "mlflow.db"


@pytest.fixture
def registry(empty_store, tmp_path) -> ModelRegistry:
    shutil.copy(empty_store, tmp_path / "mlflow.db")
    uri = f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}"
    return ModelRegistry.open(uri, NAME)


def _run(registry: ModelRegistry, tmp_path: Path) -> str:
    client = registry.client
    experiment = client.get_experiment_by_name("e") or client.get_experiment(
        client.create_experiment("e", (tmp_path / "artifacts").as_uri())
    )
    return client.create_run(experiment.experiment_id).info.run_id


def _model(model_id: str, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "tenure_days": rng.uniform(0, 900, 60),
            "plan": pd.Categorical(rng.choice(["basic", "pro"], 60)),
        }
    )
    data = xgb.DMatrix(frame, label=rng.integers(0, 2, 60), enable_categorical=True)
    booster = xgb.train({"max_depth": 1, "seed": seed}, data, num_boost_round=2)
    spec = {"features": FEATURES, "dtypes": {"tenure_days": "float64", "plan": "category"}}
    metadata = {"model_id": model_id, "model_kind": "xgboost", "feature_spec": spec}
    return {"model": booster, "calibrator": {"method": "none"}, "metadata": metadata}


def _artifacts(registry: ModelRegistry, version, target: Path) -> Path:
    mlflow = mlflow_module()
    source = registry.client.get_model_version_download_uri(NAME, version.version)
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(target)))


def test_a_model_is_registered_in_the_store_bytes_with_its_signature_and_no_pickle(
    registry, tmp_path
):
    store = PromotedModelDataset(path=str(tmp_path / "promoted"))
    model = _model("m1")
    store.save(model)
    version = registry.register(_run(registry, tmp_path), model)
    assert version.tags["model_id"] == "m1" and version.tags["model_kind"] == "xgboost"
    files = _artifacts(registry, version, tmp_path / "download")
    assert sorted(p.name for p in files.iterdir()) == [
        "MLmodel",
        "calibrator.json",
        "checksums.json",
        "metadata.json",
        "model.json",
    ]
    for name in ("model.json", "calibrator.json", "metadata.json", "checksums.json"):
        assert (files / name).read_bytes() == (tmp_path / "promoted" / "m1" / name).read_bytes()
    digest = hashlib.sha256((files / "model.json").read_bytes()).hexdigest()
    assert version.tags["sha256.model.json"] == digest
    mlmodel = yaml.safe_load((files / "MLmodel").read_text())
    assert set(mlmodel["flavors"]) == {"xgboost", "customer_retention_churn"}  # no pyfunc
    assert mlmodel["flavors"]["xgboost"]["model_format"] == "json"
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert [(c["name"], c["type"]) for c in inputs] == [
        ("tenure_days", "double"),
        ("plan", "string"),
    ]
    assert not list(files.rglob("*.pkl")) and not list(files.rglob("*.pickle"))
    # XGBoost's own loader reads the version (native JSON format).
    booster = mlflow_module().xgboost.load_model(str(files))
    assert isinstance(booster, xgb.Booster) and booster.num_boosted_rounds() == 2
    # Registering the same model again is a no-op.
    assert registry.register(_run(registry, tmp_path), model).version == version.version


def test_a_failure_between_the_store_write_and_the_alias_is_repaired_by_the_next_run(
    registry, tmp_path, monkeypatch, caplog
):
    """The promotion's writes in order: register, store, alias. A failure after the store
    switched leaves the alias on the old champion; the reconciliation every run starts with
    moves it to the store's model (with a warning), so the two never stay apart."""
    store = PromotedModelDataset(path=str(tmp_path / "promoted"))
    run_id = _run(registry, tmp_path)
    first = _model("m1")
    registry.register(run_id, first)
    store.save(first)
    assert registry.follow_store(store, run_id, repair=False) == "moved"
    assert registry.alias(CHAMPION).tags["model_id"] == "m1"

    second = _model("m2", seed=1)
    registry.register(run_id, second)  # 1. the challenger becomes a version
    store.save(second)  # 2. the store switches
    original = ModelRegistry.set_alias

    def crash(self, alias, version):
        raise ConnectionError("tracking server went away")

    monkeypatch.setattr(ModelRegistry, "set_alias", crash)
    with pytest.raises(ConnectionError):  # 3. the alias write fails
        registry.follow_store(store, run_id, repair=False)
    assert store.current_model_id() == "m2"
    assert registry.alias(CHAMPION).tags["model_id"] == "m1"  # apart, for now

    monkeypatch.setattr(ModelRegistry, "set_alias", original)
    with caplog.at_level(logging.WARNING, logger="customer_retention.datasets.registry"):
        assert registry.follow_store(store, _run(registry, tmp_path), repair=True) == "moved"
    assert registry.alias(CHAMPION).tags["model_id"] == "m2"
    assert "repaired" in caplog.text and "m2" in caplog.text
    assert registry.follow_store(store, None) == "in_step"  # nothing more to do


def test_a_store_model_the_registry_never_got_is_registered_from_the_store(registry, tmp_path):
    """Promoted while tracking was off (or the process died before registering): the
    reconciliation registers the store's folder as it is and puts the alias on it."""
    store = PromotedModelDataset(path=str(tmp_path / "promoted"))
    assert registry.follow_store(store, None) == "no_model"  # nothing promoted: alias left alone
    store.save(_model("m1"))
    assert registry.alias(CHAMPION) is None
    assert registry.follow_store(store, _run(registry, tmp_path)) == "registered"
    champion = registry.alias(CHAMPION)
    assert champion.tags["model_id"] == "m1"
    files = _artifacts(registry, champion, tmp_path / "download")
    assert (files / "model.json").read_bytes() == (
        tmp_path / "promoted" / "m1" / "model.json"
    ).read_bytes()


def test_the_champion_loads_from_the_registry_with_the_store_checks(registry, tmp_path):
    run_id = _run(registry, tmp_path)
    store = PromotedModelDataset(path=str(tmp_path / "promoted"))
    model = _model("m1")
    registry.register(run_id, model)
    store.save(model)
    mirror = tmp_path / "mirror"
    dataset = RegistryChampionDataset(
        path=str(mirror), tracking_uri=registry.uri, registered_model=NAME
    )
    assert not dataset.exists()  # no champion yet
    with pytest.raises(RegistryError, match="no 'champion' version"):
        dataset.load()
    registry.follow_store(store, run_id, repair=False)
    assert dataset.exists()
    loaded = dataset.load()
    assert loaded["metadata"]["model_id"] == "m1" and isinstance(loaded["model"], xgb.Booster)
    assert json.loads((mirror / "current.json").read_text()) == {"model_id": "m1"}
    # A version whose files changed after registration is refused, before anything loads it.
    source = registry.client.get_model_version_download_uri(NAME, registry.alias(CHAMPION).version)
    model_file = Path(source.removeprefix("file://")) / "model.json"
    model_file.write_text(model_file.read_text().replace("{", "{ ", 1))
    shutil.rmtree(mirror)
    fresh = RegistryChampionDataset(
        path=str(mirror), tracking_uri=registry.uri, registered_model=NAME
    )
    with pytest.raises(RegistryError, match="does not match the checksum"):
        fresh.load()
    with pytest.raises(Exception, match="read-only"):
        fresh.save(model)


def test_a_moved_project_points_its_store_at_its_own_artifacts(empty_store, tmp_path):
    old = tmp_path / "old" / "data" / "09_tracking"
    old.mkdir(parents=True)
    shutil.copy(empty_store, old / "mlflow.db")
    registry = ModelRegistry.open(f"sqlite:///{(old / 'mlflow.db').as_posix()}", NAME)
    client = registry.client
    experiment = client.create_experiment("e", (old / "artifacts").as_uri())
    run_id = client.create_run(experiment).info.run_id
    registry.register(run_id, _model("m1"))
    new = tmp_path / "new" / "data" / "09_tracking"
    shutil.copytree(old, new)
    assert relocate_local_store(new) >= 3  # experiment, run, model version
    assert relocate_local_store(new) == 0  # already in place
    moved = ModelRegistry.open(f"sqlite:///{(new / 'mlflow.db').as_posix()}", NAME)
    assert moved.client.get_experiment(experiment).artifact_location.startswith(new.as_uri())
    assert moved.client.get_run(run_id).info.artifact_uri.startswith(new.as_uri())
    version = moved.version_of("m1")
    assert version.source.startswith(new.as_uri())
    assert (_artifacts(moved, version, tmp_path / "download") / "model.json").is_file()


def test_the_tracking_uri_is_the_parameter_then_the_environment_then_the_project(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri, folder = resolve_tracking_uri(None, tmp_path)
    assert folder == (tmp_path / "data" / "09_tracking").resolve()
    assert uri == f"sqlite:///{(folder / 'mlflow.db').as_posix()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.team:5000")
    assert resolve_tracking_uri(None, tmp_path) == ("http://mlflow.team:5000", None)
    assert resolve_tracking_uri("http://other:5000", tmp_path) == ("http://other:5000", None)
