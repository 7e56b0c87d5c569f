"""A run that needs another stage's outputs says which stage to run first, before any node."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node

from customer_retention.datasets import OptionalDataset, ParquetDataset
from customer_retention.hooks.inputs_check import InputsCheckHook, MissingInputError

from .conftest import fresh_project


def _identity(frame):
    return frame


def test_a_missing_intermediate_names_its_file_and_the_stage_to_run_first(tmp_path):
    features = tmp_path / "04_feature/customer_snapshots.parquet"
    catalog = DataCatalog(
        {
            "customer_snapshots": ParquetDataset(filepath=str(features)),
            "report_inputs": OptionalDataset(
                dataset={"type": "customer_retention.datasets.JSONDataset", "filepath": "x"}
            ),
            "scores": MemoryDataset(),
        }
    )
    model = Pipeline([node(_identity, "customer_snapshots", "scores", name="train")])
    stages = {
        "feature_engineering": Pipeline(
            [node(_identity, "raw", "customer_snapshots", name="build")]
        ),
        "churn_model": model,
        "__default__": model,
    }
    hook = InputsCheckHook(stages)
    with pytest.raises(MissingInputError) as missing:
        hook.before_pipeline_run(pipeline=model, catalog=catalog)
    message = str(missing.value)
    assert f"customer_snapshots ({features})" in message
    assert "written by the feature_engineering stage" in message
    assert "Run `kedro run --pipelines feature_engineering` first" in message
    features.parent.mkdir(parents=True)
    pd.DataFrame({"x": [1]}).to_parquet(features)
    hook.before_pipeline_run(pipeline=model, catalog=catalog)  # present: passes
    # An optional input is the reading stage's business, not a missing intermediate.
    optional = Pipeline([node(_identity, "report_inputs", "scores", name="report")])
    hook.before_pipeline_run(pipeline=optional, catalog=catalog)


def test_one_stage_alone_on_a_fresh_checkout_stops_before_any_node(tmp_path, monkeypatch):
    project = fresh_project(tmp_path)
    monkeypatch.chdir(project)
    bootstrap_project(project)
    with (
        KedroSession.create(project_path=project) as session,
        pytest.raises(MissingInputError, match="--pipelines") as missing,
    ):
        session.run(pipeline_names=["churn_model"])
    assert "customer_snapshots" in str(missing.value)
    assert not list((project / "data/06_models").rglob("*.json"))  # nothing was trained
