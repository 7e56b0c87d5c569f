"""`kedro run --pipeline scoring` / `churn_model` with the project's catalog, in a fresh copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from ...conftest import PROJECT_ROOT
from ..churn_model.helpers import demo_data, demo_interventions


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """Project configuration plus the feature-stage outputs of 2,500 demo customers."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT / "conf" / "base", project / "conf" / "base")
    (project / "conf" / "local").mkdir()
    (project / "src").mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", project / "pyproject.toml")
    snapshots, health, _ = demo_data()
    customers = snapshots["customer_id"].astype(int) <= 2500
    (project / "data" / "04_feature").mkdir(parents=True)
    (project / "data" / "07_model_output").mkdir(parents=True)
    snapshots[customers].to_parquet(project / "data/04_feature/customer_snapshots.parquet")
    health[health["customer_id"].astype(int) <= 2500].to_parquet(
        project / "data/07_model_output/customer_health.parquet"
    )
    as_of = snapshots[customers & snapshots["is_as_of_snapshot"]]
    as_of.to_parquet(project / "data/04_feature/as_of_snapshot.parquet")
    as_of[["customer_id"]].assign(clv=1000.0).to_parquet(
        project / "data/07_model_output/customer_value.parquet"
    )
    # The cleaning stage's interventions table (the churn model masks treated labels).
    (project / "data" / "02_intermediate").mkdir(parents=True)
    demo_interventions().to_parquet(project / "data/02_intermediate/interventions.parquet")
    monkeypatch.chdir(project)
    bootstrap_project(project)
    return project


def _run(project: Path, pipeline: str) -> None:
    with KedroSession.create(project_path=project) as session:
        session.run(pipeline_names=[pipeline])


def test_score_needs_a_promoted_model_then_train_then_score(project):
    with pytest.raises(Exception, match=r"kedro run --pipeline churn_model"):
        _run(project, "scoring")

    _run(project, "churn_model")
    data = project / "data"
    for artifact in ("model.json", "calibrator.json", "metadata.json"):
        versions = list((data / "06_models/churn_model" / artifact).iterdir())
        assert len(versions) == 1 and (versions[0] / artifact).is_file()
    pointer = json.loads((data / "06_models/promoted/current.json").read_text())
    assert (data / "06_models/promoted" / pointer["model_id"] / "model.json").is_file()
    for chart in ("roc_curve", "precision_recall", "calibration", "gains", "feature_importance"):
        assert list((data / "08_reporting/charts" / f"{chart}.png").glob("*/*.png")), chart
    metrics = json.loads((data / "08_reporting/churn_model_metrics.json").read_text())
    assert metrics["promotion"]["decision"] == "promoted"
    assert metrics["scorers"]["oracle"]["status"] == "not available"  # no ground truth here

    _run(project, "scoring")
    at_risk = pd.read_csv(data / "07_model_output/at_risk_customers.csv")
    assert at_risk["churn_probability"].is_monotonic_decreasing  # equal CLV: VaR order = risk order
    assert at_risk["value_at_risk"].is_monotonic_decreasing
    assert (at_risk["model_id"] == pointer["model_id"]).all()
