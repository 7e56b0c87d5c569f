"""End to end on data our generator did not make: the public bank churn table (one snapshot,
identifiers posing as numbers, 2,932 surnames, numeric attributes), a CRM-style export with
blanks, a high-cardinality city and free-text notes, and the demo business exported as one
snapshot. Each runs the default pipeline in a fresh project and must produce the report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from customer_retention.runner import OverlapRunner

from .conftest import fresh_project
from .fixtures.real_exports import bank_churn_tables, cdnow_tables, crm_tables, write_tables

pytestmark = pytest.mark.slow


def _run(tmp_path: Path, monkeypatch, tables: dict | None, runtime_params: dict | None = None):
    project = fresh_project(tmp_path)
    if tables is not None:
        write_tables(tables, project / "data" / "01_raw")
    monkeypatch.chdir(project)
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=runtime_params) as session:
        session.run(runner=OverlapRunner())  # what `kedro run` uses (cli.DEFAULT_RUNNER)
    return project / "data"


def _json(data: Path, path: str) -> dict:
    return json.loads((data / path).read_text())


def _check_single_snapshot_run(data: Path) -> dict:
    """What every one-snapshot run must show: the mode, the skips with reasons, a report, no
    monthly KPIs made up from the rebuilt history, Cox curves feeding CLV."""
    plan = _json(data, "04_feature/run_plan.json")
    assert plan["history"] == "single_snapshot"
    assert plan["labelled_snapshots"] == 1
    assert not plan["stages"]["landmark_model"]["run"]
    assert not plan["stages"]["retention_kpis"]["run"]
    report = (data / "08_reporting" / "report.html").read_text()
    assert "one snapshot with a churn flag" in report and "Not enough history" in report
    # The summary's forecast is of the export's churn flag, not of churn within horizon_days.
    assert "As the export&#39;s churn flag defines churn" in report
    assert "Over the next 90 days we expect" not in report
    assert pd.read_csv(data / "08_reporting" / "monthly_retention.csv").empty
    retention = _json(data, "08_reporting/retention_summary.json")
    assert retention["history_kpis"] != "computed" and retention["months"] == 0
    survival = _json(data, "08_reporting/survival_summary.json")
    assert survival["landmark"]["status"] == "skipped"
    assert survival["survival_curves_for_clv"]["source"].startswith("Cox model")
    curves = pd.read_parquet(data / "07_model_output" / "survival_curves.parquet")
    value = pd.read_parquet(data / "07_model_output" / "customer_value.parquet")
    as_of = pd.read_parquet(data / "04_feature" / "as_of_snapshot.parquet")
    assert set(curves["customer_id"]) == set(as_of["customer_id"]) == set(value["customer_id"])
    monthly = curves.filter(like="survival_month_").to_numpy()
    assert ((monthly >= 0) & (monthly <= 1)).all() and (monthly[:, 1:] <= monthly[:, :-1]).all()
    assert (value["clv"] >= 0).all() and (value["clv"] > 0).mean() > 0.99
    assert value["churn_probability"].between(0, 1).all()
    metrics = _json(data, "08_reporting/churn_model_metrics.json")
    assert metrics["split"] != "temporal"
    assert metrics["scorers"]["health_score"]["status"].startswith("not available")
    return plan


def test_public_bank_churn_table_runs_end_to_end_and_matches_the_references(tmp_path, monkeypatch):
    """Reference figures (../shared/data/public/README.md): XGBoost 5-fold ROC-AUC 0.844
    (defaults) to 0.868 (tuned); Cox hazard ratios Germany 1.61, age 1.047 per year,
    IsActiveMember 0.50, Male 0.69 (Female 1.45 vs Male); C-index 0.719 in sample."""
    data = _run(tmp_path, monkeypatch, bank_churn_tables())
    plan = _check_single_snapshot_run(data)
    assert "DEMO DATA" not in (data / "08_reporting" / "report.html").read_text()
    kinds = _json(data, "02_intermediate/customer_attributes.json")["columns"]
    assert kinds["RowNumber"]["kind"] == "identifier"
    assert kinds["Surname"]["kind"] == "high_cardinality" and kinds["Surname"]["levels"] == 2932
    for column in ("CreditScore", "Age", "Balance", "EstimatedSalary"):
        assert kinds[column]["kind"] == "numeric", column
    assert {"RowNumber", "Surname"}.isdisjoint(plan["covariates"])
    assert plan["segments"] == ["Geography", "Gender"]
    snapshots = pd.read_parquet(data / "04_feature" / "customer_snapshots.parquet")
    assert "RowNumber" not in snapshots and snapshots["Age"].dtype == "float64"
    ratios = pd.read_csv(data / "08_reporting" / "hazard_ratios.csv").set_index("covariate")
    hazard = ratios["hazard_ratio"]
    assert hazard["Geography=Germany"] == pytest.approx(1.61, rel=0.05)
    assert hazard["Age"] == pytest.approx(1.047, abs=0.003)
    assert hazard["IsActiveMember"] == pytest.approx(0.50, rel=0.06)
    assert hazard["Gender=Female"] == pytest.approx(1 / 0.69, rel=0.06)
    assert not any(c.startswith(("Surname", "RowNumber")) for c in ratios.index)
    survival = _json(data, "08_reporting/survival_summary.json")
    assert survival["cox"]["c_index_test"] == pytest.approx(0.719, abs=0.02)
    metrics = _json(data, "08_reporting/churn_model_metrics.json")
    assert 0.83 <= metrics["scorers"]["xgboost_calibrated"]["roc_auc"] <= 0.89

    # The report alone, with upstream outputs missing: each section says which stage to run.
    for output in (
        "07_model_output/customer_value.parquet",
        "08_reporting/survival_summary.json",
        "08_reporting/hazard_ratios.csv",
        "08_reporting/churn_model_metrics.json",
        "08_reporting/monthly_retention.csv",
        "08_reporting/retention_summary.json",
    ):
        (data / output).unlink()
    with KedroSession.create(project_path=data.parent) as session:
        session.run(pipeline_names=["reporting"])
    report = (data / "08_reporting" / "report.html").read_text()
    for absent in (
        "No customer values: the CLV stage has not run",
        "No survival summary available: the survival stage has not run",
        "No Cox model: the survival stage has not run",
        "the churn model has not been trained",
        "The retention-metrics stage has not run",
    ):
        assert absent in report, absent


def test_crm_export_with_blanks_and_high_cardinality_runs_end_to_end(tmp_path, monkeypatch):
    tables = crm_tables(n=7000)
    data = _run(tmp_path, monkeypatch, tables)
    plan = _check_single_snapshot_run(data)
    quality = _json(data, "08_reporting/data_quality.json")
    kinds = quality["tables"]["customers"]["attributes"]["columns"]
    raw = tables["customers"]
    assert kinds["City"]["kind"] == "high_cardinality"
    assert kinds["Notes"]["kind"] == "free_text"
    assert kinds["SupportCalls"]["kind"] == "numeric"
    assert kinds["Contract"]["kind"] == "categorical" and kinds["Contract"]["segment"]
    # Blanks (" " and "") are counted per column, and the numbers stay numbers.
    assert kinds["TotalCharges"] == kinds["TotalCharges"] | {
        "kind": "numeric",
        "blanks": int((raw["TotalCharges"].str.strip() == "").sum()),
        "unparseable": 0,
    }
    assert kinds["MonthlyCharges"]["blanks"] == 5
    assert {"City", "Notes"}.isdisjoint(plan["covariates"])
    snapshots = pd.read_parquet(data / "04_feature" / "customer_snapshots.parquet")
    assert "Notes" not in snapshots and isinstance(snapshots["City"].dtype, pd.CategoricalDtype)
    metadata = json.loads(
        next((data / "06_models" / "promoted").rglob("metadata.json")).read_text()
    )
    features = metadata["feature_spec"]["features"]
    assert "City" in features and "Notes" not in features
    ratios = pd.read_csv(data / "08_reporting" / "hazard_ratios.csv")
    assert not ratios["covariate"].str.startswith(("City", "Notes")).any()
    assert any(c.startswith("Contract=") for c in ratios["covariate"])  # never lost


def test_demo_business_exported_as_one_snapshot_runs_end_to_end(tmp_path, monkeypatch):
    params = {
        "demo_data": {"n_customers": 3000, "single_snapshot": {"enabled": True}},
        "data_cleaning": {"reference_date": "2026-01-31"},
    }
    data = _run(tmp_path, monkeypatch, None, params)
    truth = _json(data, "01_raw/ground_truth.json")["single_snapshot"]
    _check_single_snapshot_run(data)
    assert "DEMO DATA" in (data / "08_reporting" / "report.html").read_text()  # said first
    kinds = _json(data, "02_intermediate/customer_attributes.json")["columns"]
    assert kinds["postcode"]["kind"] == "high_cardinality"
    assert kinds["monthly_charges"]["kind"] == "numeric"
    assert kinds["monthly_charges"]["blanks"] == truth["blank_monthly_charges"] > 0
    spine = pd.read_parquet(data / "04_feature" / "customer_snapshots.parquet")
    labelled = spine.dropna(subset=["churned_within_horizon"])
    assert len(labelled) == truth["customers"]
    assert labelled["churned_within_horizon"].sum() == truth["churned"]


def test_cdnow_purchase_log_reproduces_the_published_bg_nbd_on_its_calibration_period(
    tmp_path, monkeypatch
):
    """A purchase log without attributes (the CDNOW sample) as customers + transactions: the
    calibration fit reproduces Fader, Hardie & Lee (2005) (r 0.2426, alpha 4.414, a 0.7929,
    b 2.426, LL -9582.43), the holdout covers weeks 40-78 with 1,882 actual repeat purchases,
    and the deployed model is the full-history refit on every customer."""
    params = {
        "feature_engineering": {"as_of_date": "1998-07-01"},
        "clv": {"bg_nbd": {"calibration_end": "1997-10-01"}},
    }
    data = _run(tmp_path, monkeypatch, cdnow_tables(), params)
    validation = _json(data, "08_reporting/clv_validation.json")
    calibration = validation["calibration"]
    assert calibration["end"] == "1997-10-01"
    published = {"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259}
    for name, value in published.items():
        assert calibration["bg_nbd"][name] == pytest.approx(value, rel=1e-3), name
    assert calibration["bg_nbd"]["log_likelihood"] == pytest.approx(-9582.43, abs=0.01)
    gg = calibration["gamma_gamma"]
    assert (gg["p"], gg["q"], gg["gamma"]) == pytest.approx((6.25, 3.74, 15.44), abs=0.01)
    holdout = validation["holdout"]
    assert holdout["weeks"] == [40, 78] and holdout["repeat_purchases_actual"] == 1882
    assert holdout["repeat_purchases_expected"] == pytest.approx(1653.4, abs=0.5)
    zero = holdout["conditional_expectations"][0]
    assert (zero["customers"], round(zero["actual_mean"], 3)) == (1411, 0.237)
    assert zero["expected_mean"] == pytest.approx(0.225, abs=0.001)
    errors = holdout["mean_absolute_error"]
    assert errors["bg_nbd"] < min(errors["calibration_rate_carried_forward"], errors["zero"])
    # Deployed: the full-history refit on all 2,357 customers, lapsed ones included.
    assert validation["bg_nbd"]["n_customers"] == 2357 and validation["bg_nbd"]["a"] > 0.1
    value = pd.read_parquet(data / "07_model_output" / "customer_value.parquet")
    assert len(value) == 2357 and 0 < value["is_active"].sum() < 2357
    tracking = pd.read_csv(data / "08_reporting" / "clv_tracking.csv")
    assert tracking["week"].tolist() == list(range(1, 79))
    # BG/NBD (calibration fit, history before each snapshot) is a scorer beside XGBoost.
    metrics = _json(data, "08_reporting/churn_model_metrics.json")
    bg_nbd = metrics["scorers"]["bg_nbd"]
    assert bg_nbd["status"] == "ok" and bg_nbd["rows"] == metrics["rows"]["test"]
    assert 0.6 < bg_nbd["roc_auc"] < 0.95
    scored = pd.read_parquet(data / "07_model_output" / "bg_nbd_risk_scores.parquet")
    assert (scored["snapshot_date"] >= pd.Timestamp("1997-10-01")).all()  # never in calibration
    # No attributes: survival models skipped with a reason, the report still written.
    plan = _json(data, "04_feature/run_plan.json")
    assert not plan["stages"]["cox_and_aft"]["run"] and plan["attributes"] == {}
    report = (data / "08_reporting" / "report.html").read_text()
    assert "the purchase model expected 1,653 repeat purchases over the next 39 weeks" in report
    assert "customers made 1,882 (14% more)" in report
    assert "Customers with value band top 25% by CLV hold" in report  # no segment: CLV bands
