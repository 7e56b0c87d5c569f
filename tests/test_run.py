"""End-to-end: `kedro run` of the default pipeline in a fresh copy of the project."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from customer_retention.datasets import RawTableDataset

from .conftest import fresh_project

pytestmark = pytest.mark.slow

SMALL_DEMO = {"demo_data": {"n_customers": 600}, "data_cleaning": {"reference_date": "2026-01-31"}}


def _fresh_project(tmp_path: Path, monkeypatch) -> Path:
    """A copy of the project's configuration with empty data folders, as a new user has it."""
    project = fresh_project(tmp_path)
    monkeypatch.chdir(project)
    bootstrap_project(project)
    return project


def _run(project: Path, pipeline: str | None = None) -> None:
    with KedroSession.create(project_path=project, runtime_params=SMALL_DEMO) as session:
        session.run(pipeline_names=[pipeline] if pipeline else None)


def test_default_run_generates_demo_data_and_reconciles(tmp_path, monkeypatch):
    project = _fresh_project(tmp_path, monkeypatch)
    _run(project)
    raw = project / "data" / "01_raw"
    assert {p.name for p in raw.iterdir()} >= {
        "customers.parquet",
        "events.parquet",
        "ground_truth.json",
    }
    truth = json.loads((raw / "ground_truth.json").read_text())
    assert truth["summary"]["n_customers"] == 600
    quality = json.loads((project / "data" / "08_reporting" / "data_quality.json").read_text())
    assert quality["contract"] == "contractual"
    for table, report in quality["tables"].items():
        assert report["status"] == "present", table
        assert report["rows_in"] == report["rows_clean"] + report["rows_quarantined"]
        assert report["quarantined_by_reason"] == truth["planted_data_errors"].get(table, {})
    assert (project / "data" / "02_intermediate" / "quarantine" / "transactions.parquet").exists()
    snapshots = pd.read_parquet(project / "data" / "04_feature" / "customer_snapshots.parquet")
    assert (
        snapshots["is_as_of_snapshot"].any() and snapshots["churned_within_horizon"].notna().any()
    )
    monthly = pd.read_csv(project / "data" / "08_reporting" / "monthly_retention.csv")
    assert len(monthly) >= 30
    summary = json.loads((project / "data" / "08_reporting" / "retention_summary.json").read_text())
    assert summary["health_score"]["roc_auc_next_horizon_churn"] > 0.5
    curves = pd.read_parquet(project / "data" / "07_model_output" / "survival_curves.parquet")
    assert set(curves["customer_id"]) == set(
        snapshots.loc[snapshots["is_as_of_snapshot"], "customer_id"]
    )
    assert list(
        (project / "data" / "08_reporting" / "charts").glob("kaplan_meier.png/*/kaplan_meier.png")
    )


@pytest.mark.parametrize(
    ("tables", "contract"),
    [
        (("customers", "subscriptions"), "contractual"),
        (("customers", "transactions"), "non-contractual"),
    ],
)
def test_runs_with_only_the_required_tables(tmp_path, monkeypatch, demo_tables, tables, contract):
    project = _fresh_project(tmp_path, monkeypatch)
    for table in tables:
        RawTableDataset(path=f"data/01_raw/{table}", table=table, save_format="csv").save(
            demo_tables[table]
        )
    _run(project)
    quality = json.loads(Path("data/08_reporting/data_quality.json").read_text())
    assert quality["contract"] == contract
    assert {t for t, r in quality["tables"].items() if r["status"] == "present"} == set(tables)
    assert not Path("data/01_raw/ground_truth.json").exists()  # no demo data were generated
    snapshots = pd.read_parquet("data/04_feature/customer_snapshots.parquet")
    assert ("events_recent" in snapshots) is False and snapshots[
        "churned_within_horizon"
    ].notna().any()


def test_run_without_revenue_table_stops_with_a_clear_error(tmp_path, monkeypatch, demo_tables):
    project = _fresh_project(tmp_path, monkeypatch)
    RawTableDataset(path="data/01_raw/customers", table="customers").save(demo_tables["customers"])
    with pytest.raises(ValueError, match="Neither 'subscriptions' nor 'transactions'"):
        _run(project)


def test_the_default_runner_writes_what_the_sequential_runner_writes(tmp_path, monkeypatch):
    """Every output of the default pipeline (tables, JSON, charts' pixels) is the same whether
    nodes run one at a time or two at a time on threads (``runner.OverlapRunner``, the
    default of ``kedro run``), on the same demo data."""
    import shutil
    import sys

    from kedro.runner import SequentialRunner

    from customer_retention.runner import OverlapRunner

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from compare_outputs import _files, compare

    one = _fresh_project(tmp_path / "one", monkeypatch)
    _run(one, "demo_data")
    two = tmp_path / "two" / "project"
    shutil.copytree(one, two)
    for project, runner in ((one, SequentialRunner()), (two, OverlapRunner())):
        monkeypatch.chdir(project)
        bootstrap_project(project)
        with KedroSession.create(project_path=project, runtime_params=SMALL_DEMO) as session:
            session.run(runner=runner)
    assert len(_files(one / "data")) > 50  # tables and JSON files compared
    assert compare(one / "data", two / "data") == []
    charts = [
        sorted((p / "data" / "08_reporting" / "report_charts").glob("*/report_charts/*.png"))
        for p in (one, two)
    ]
    assert len(charts[0]) > 10 and [c.name for c in charts[0]] == [c.name for c in charts[1]]
    for a, b in zip(*charts, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    reporting = two / "data" / "08_reporting"
    for record in ("runner_node_seconds.json", "runner_node_memory.json"):  # for the next run
        figures = json.loads((reporting / record).read_text())
        assert {"train_churn_model", "encode_report_charts"} <= set(figures), record
        assert all(value >= 0 for value in figures.values()), record
