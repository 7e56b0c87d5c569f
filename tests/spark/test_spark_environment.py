"""``kedro run --env spark`` gives the default environment's snapshots and quarantine.

Cleaning and features run on a small demo business (600 customers) in two copies of a fresh
project: once in the default environment (DuckDB), once with ``--env spark`` (the hook finds
the test run's Spark session, uses it and leaves it running).
"""

from __future__ import annotations

import contextlib
import json
import shutil

import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from customer_retention.core import engines
from customer_retention.core.contract import RAW_TABLES
from customer_retention.datasets import CleanTableDataset, ParquetFrameDataset, RawTableDataset
from customer_retention.datasets.engine_table import EngineTableDataset
from customer_retention.pipelines.demo_data.nodes import generate_demo_data

from ..conftest import PROJECT_ROOT, SMALL_DEMO, fresh_project, load_parameters
from .test_features_on_spark import NPS, assert_same_rows

pytestmark = pytest.mark.spark


def _run(project, env: str | None) -> None:
    with contextlib.chdir(project):
        bootstrap_project(project)
        with KedroSession.create(project_path=project, env=env, runtime_params=SMALL_DEMO) as s:
            s.run(pipeline_names=["data_cleaning", "feature_engineering"])


@pytest.fixture(scope="module")
def both_runs(spark, tmp_path_factory):
    """(default project, spark project) after cleaning and features on the same raw data."""
    params = load_parameters("demo_data") | SMALL_DEMO["demo_data"]
    tables = generate_demo_data(params)[:-1]
    projects = {}
    for env in ("base", "spark"):
        project = fresh_project(tmp_path_factory.mktemp(env))
        shutil.copytree(PROJECT_ROOT / "conf" / "spark", project / "conf" / "spark")
        for table, frame in zip(RAW_TABLES, tables, strict=True):
            RawTableDataset(path=str(project / "data/01_raw" / table), table=table).save(frame)
        _run(project, None if env == "base" else "spark")
        projects[env] = project
    return projects["base"], projects["spark"]


def test_snapshots_are_the_default_environments(both_runs, spark):
    base, on_spark = both_runs
    for name in ("customer_snapshots", "as_of_snapshot"):
        expected = ParquetFrameDataset(filepath=str(base / f"data/04_feature/{name}.parquet"))
        actual = EngineTableDataset(
            path=str(on_spark / f"data/04_feature/spark/{name}"),
            keep_text=["customer_id"],
            categories=NPS,
        )
        assert_same_rows(expected.load(), actual.load(), rtol=1e-9)
    # The hook left the shared session running, as it found it, and the run's engine unset.
    assert engines.run_spark_session() is None
    assert spark.conf.get("spark.sql.shuffle.partitions") == "2"


def test_quarantine_and_report_are_the_default_environments(both_runs):
    base, on_spark = both_runs
    quarantine = sorted((base / "data/02_intermediate/quarantine").glob("*.parquet"))
    assert len(quarantine) == len(RAW_TABLES)
    for path in quarantine:
        relative = path.relative_to(base)
        pd.testing.assert_frame_equal(
            CleanTableDataset(filepath=str(on_spark / relative)).load(),
            CleanTableDataset(filepath=str(path)).load(),
        )
    reports = [
        json.loads((project / "data/08_reporting/data_quality.json").read_text())
        for project in both_runs
    ]
    assert reports[0] == reports[1]
    assert reports[1]["totals"]["rows_quarantined"] > 0


def test_clean_tables_hold_the_same_rows(both_runs):
    base, on_spark = both_runs
    for table in RAW_TABLES[1:]:
        path = f"data/02_intermediate/{table}.parquet"
        expected = CleanTableDataset(filepath=str(base / path)).load()
        actual = CleanTableDataset(filepath=str(on_spark / path)).load()
        text = [c for c in expected if isinstance(expected[c].dtype, pd.StringDtype)]
        pd.testing.assert_frame_equal(actual.astype(dict.fromkeys(text, "string")), expected)
