"""Drift monitoring on the 8,000-customer demo data with the session's trained churn model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from customer_retention.datasets.model_store import PromotedModelDataset
from customer_retention.models.drift import categorical_psi, ks_two_sample, psi
from customer_retention.pipelines.monitoring import nodes
from customer_retention.pipelines.monitoring.pipeline import create_pipeline
from customer_retention.pipelines.scoring.nodes import score_customers

from ...conftest import PROJECT_ROOT, load_parameters
from ..churn_model.helpers import demo_data, trained_model

REPORT_KEYS = {
    "reference_window",
    "scoring_snapshot",
    "features",
    "score_shift",
    "model_age_days",
    "score_sanity",
    "training_data_end",
    "data_age_days",
    "retraining_recommended",
    "reasons",
}


@pytest.fixture(scope="module")
def promoted() -> dict:
    return PromotedModelDataset(path=str(trained_model()["store"])).load()


@pytest.fixture(scope="module")
def snapshots() -> pd.DataFrame:
    return demo_data()[0]


@pytest.fixture(scope="module")
def samples(snapshots, promoted):
    return nodes.select_drift_samples(snapshots, promoted, load_parameters("monitoring"))


@pytest.fixture
def params(promoted) -> dict:
    """The project's parameters, with model age measured on the day the model was trained."""
    created = pd.Timestamp(promoted["metadata"]["created_at"]).date().isoformat()
    return load_parameters("monitoring") | {"evaluation_date": created}


@pytest.fixture(scope="module")
def at_risk(samples, promoted) -> pd.DataFrame:
    return score_customers(samples[1], promoted, load_parameters("scoring"))


def _report(samples, promoted, params, scoring_rows=None, at_risk=None):
    reference, scoring, description = samples
    scoring = scoring if scoring_rows is None else scoring_rows
    if at_risk is None:
        at_risk = score_customers(scoring, promoted, load_parameters("scoring"))
    drift = nodes.compute_feature_drift(reference, scoring, promoted, params)
    shift = nodes.compute_score_shift(reference, at_risk, promoted, params)
    return nodes.recommend_retraining(description, drift, shift, promoted, params)


def test_reference_is_the_promoted_models_training_window(samples, snapshots, promoted):
    reference, scoring, description = samples
    train = promoted["metadata"]["training_window"]["train"]
    dates = pd.to_datetime(reference["snapshot_date"]).dt.date.astype(str)
    assert sorted(dates.unique()) == sorted(train)
    assert len(reference) == snapshots["snapshot_date"].isin(pd.to_datetime(train)).sum()
    assert scoring["is_as_of_snapshot"].all()
    assert len(scoring) == snapshots["is_as_of_snapshot"].sum()
    assert description["reference_window"] == {"start": min(train), "end": max(train)}
    assert description["fallback"] is None


def test_unchanged_data_raise_no_alarm(samples, promoted, params, at_risk):
    report = _report(samples, promoted, params, at_risk=at_risk)
    assert set(report) == REPORT_KEYS
    assert set(report["reference_window"]) == {"start", "end"}
    assert set(report["score_shift"]) == {"psi", "ks_statistic", "mean_reference", "mean_scoring"}
    for row in report["features"]:
        assert set(row) == {"feature", "psi", "ks_statistic", "ks_pvalue", "drifted"}
    assert {r["feature"] for r in report["features"]} == set(
        promoted["metadata"]["feature_spec"]["features"]
    )
    assert not any(r["drifted"] for r in report["features"])
    assert report["score_shift"]["psi"] < 0.05
    assert report["model_age_days"] == 0
    # The refitted model's newest training snapshot is one horizon and a bit before the scored one.
    assert report["training_data_end"] == promoted["metadata"]["training_window"]["train"][-1]
    assert (
        report["data_age_days"]
        == (
            pd.Timestamp(report["scoring_snapshot"]) - pd.Timestamp(report["training_data_end"])
        ).days
        > 0
    )
    assert report["retraining_recommended"] is False and report["reasons"] == []


def test_feature_statistics_are_the_drift_library_values(samples, promoted, params):
    reference, scoring, _ = samples
    rows = {
        r["feature"]: r for r in nodes.compute_feature_drift(reference, scoring, promoted, params)
    }
    usage = rows["events_recent"]
    assert usage["psi"] == pytest.approx(psi(reference["events_recent"], scoring["events_recent"]))
    ks = ks_two_sample(reference["events_recent"], scoring["events_recent"])
    assert usage["ks_statistic"] == pytest.approx(ks.statistic)
    assert usage["ks_pvalue"] == pytest.approx(ks.pvalue)
    plan = rows["plan"]
    assert plan["psi"] == pytest.approx(categorical_psi(reference["plan"], scoring["plan"]))
    assert plan["ks_statistic"] is None and plan["ks_pvalue"] is None
    psis = [r["psi"] for r in nodes.compute_feature_drift(reference, scoring, promoted, params)]
    assert psis == sorted(psis, reverse=True)


def test_usage_collapse_in_the_scoring_snapshot_is_detected(samples, promoted, params):
    _, scoring, _ = samples
    shifted = scoring.copy()
    # Usage falls to a fifth and a fifth of the customers move to the basic plan.
    for column in ("events_recent", "active_days_recent"):
        shifted[column] = np.floor(shifted[column] * 0.2)
    shifted["usage_trend_ratio"] = shifted["usage_trend_ratio"] * 0.2
    rng = np.random.default_rng(0)
    moved = rng.random(len(shifted)) < 0.2
    shifted.loc[moved, "plan"] = "basic"
    report = _report(samples, promoted, params, scoring_rows=shifted)
    drifted = {r["feature"] for r in report["features"] if r["drifted"]}
    assert {"events_recent", "active_days_recent", "usage_trend_ratio"} <= drifted
    assert drifted <= {"events_recent", "active_days_recent", "usage_trend_ratio", "plan"}
    assert report["score_shift"]["mean_scoring"] > report["score_shift"]["mean_reference"]
    assert report["score_shift"]["psi"] > params["score_psi_threshold"]
    assert report["retraining_recommended"] is True
    assert any("features drifted" in reason for reason in report["reasons"])
    assert any("churn-score distribution shifted" in reason for reason in report["reasons"])


def test_score_shift_reference_is_the_promoted_model_on_the_training_window(
    samples, promoted, params, at_risk
):
    reference, _, _ = samples
    shift = nodes.compute_score_shift(reference, at_risk, promoted, params)
    reference_scores = score_customers(reference, promoted, load_parameters("scoring"))
    assert shift["mean_reference"] == pytest.approx(reference_scores["churn_probability"].mean())
    assert shift["mean_scoring"] == pytest.approx(at_risk["churn_probability"].mean())
    assert shift["psi"] == pytest.approx(
        psi(reference_scores["churn_probability"], at_risk["churn_probability"])
    )


def test_thresholds_decide_the_recommendation(samples, promoted, params, at_risk):
    reference, scoring, description = samples
    drift = nodes.compute_feature_drift(reference, scoring, promoted, params)
    shift = nodes.compute_score_shift(reference, at_risk, promoted, params)
    top = drift[0]["psi"]  # the largest feature PSI of unchanged data

    strict = params | {"feature_psi_threshold": top / 2, "max_drifted_features": 1}
    strict_drift = nodes.compute_feature_drift(reference, scoring, promoted, strict)
    report = nodes.recommend_retraining(description, strict_drift, shift, promoted, strict)
    assert report["retraining_recommended"] and drift[0]["feature"] in report["reasons"][0]

    sensitive = params | {"score_psi_threshold": shift["psi"] / 2}
    report = nodes.recommend_retraining(description, drift, shift, promoted, sensitive)
    assert len(report["reasons"]) == 1 and "churn-score" in report["reasons"][0]

    created = pd.Timestamp(promoted["metadata"]["created_at"]).tz_convert("UTC").normalize()
    old = params | {"evaluation_date": (created + pd.Timedelta(days=46)).date().isoformat()}
    report = nodes.recommend_retraining(description, drift, shift, promoted, old)
    assert report["model_age_days"] == 46
    assert len(report["reasons"]) == 1 and "46 days old" in report["reasons"][0]

    # Scores far above the churn rate the model learned: an alert with the numbers.
    assert report["score_sanity"]["status"] == "ok"
    rate = promoted["metadata"]["data_fingerprint"]["label_rate"]["train"]
    inflated = shift | {"mean_scoring": 2.5 * rate}
    report = nodes.recommend_retraining(description, drift, inflated, promoted, params)
    assert report["score_sanity"]["status"] == "implausible"
    assert report["score_sanity"]["ratio"] == pytest.approx(2.5)
    assert any("times the churn rate of the model's training data" in r for r in report["reasons"])


def test_model_age_counts_whole_days_in_utc():
    assert nodes.model_age_days("2026-01-01T23:30:00+00:00", "2026-03-01") == 59
    assert nodes.model_age_days("2026-01-01T23:30:00-05:00", "2026-01-03") == 1  # 02 Jan UTC


def test_a_sampled_reference_gives_the_same_drift_as_the_whole_window(
    snapshots, promoted, params, samples
):
    reference, scoring, description = samples
    sampled, _, sampled_description = nodes.select_drift_samples(
        snapshots, promoted, params | {"max_reference_rows": 5000}
    )
    again, _, _ = nodes.select_drift_samples(
        snapshots, promoted, params | {"max_reference_rows": 5000}
    )
    assert len(sampled) == sampled_description["reference_rows"] == 5000
    assert sampled_description["reference_rows_available"] == len(reference) > 5000
    pd.testing.assert_frame_equal(sampled, again)  # seeded
    # The rows a seeded sample of the whole reference gives (drawn among positions, taken once).
    expected = reference.sample(5000, random_state=int(params["seed"])).reset_index(drop=True)
    pd.testing.assert_frame_equal(sampled, expected)
    assert set(sampled["snapshot_date"]) == set(reference["snapshot_date"])
    whole = {
        r["feature"]: r["psi"]
        for r in nodes.compute_feature_drift(reference, scoring, promoted, params)
    }
    part = {
        r["feature"]: r["psi"]
        for r in nodes.compute_feature_drift(sampled, scoring, promoted, params)
    }
    assert max(abs(whole[f] - part[f]) for f in whole) < 0.02
    assert [f for f in whole if whole[f] > 0.25] == [f for f in part if part[f] > 0.25]


def test_training_window_gone_from_the_history_falls_back_and_recommends(
    snapshots, promoted, params
):
    train = pd.to_datetime(promoted["metadata"]["training_window"]["train"])
    recent = snapshots[~snapshots["snapshot_date"].isin(train)]
    reference, scoring, description = nodes.select_drift_samples(recent, promoted, params)
    oldest = recent.loc[~recent["is_as_of_snapshot"], "snapshot_date"].min()
    assert (reference["snapshot_date"] == oldest).all()
    assert "none of the promoted model's training" in description["fallback"]
    drift = nodes.compute_feature_drift(reference, scoring, promoted, params)
    at_risk = score_customers(scoring, promoted, load_parameters("scoring"))
    shift = nodes.compute_score_shift(reference, at_risk, promoted, params)
    report = nodes.recommend_retraining(description, drift, shift, promoted, params)
    assert report["retraining_recommended"] and description["fallback"] in report["reasons"]


def test_pipeline_reads_the_scoring_outputs_and_writes_the_drift_report():
    pipeline = create_pipeline()
    assert pipeline.inputs() == {
        "customer_snapshots",
        "promoted_churn_model",
        "at_risk_customers",
        "params:monitoring",
        "feedback@optional",
    }
    assert pipeline.outputs() == {"drift_report"}
    catalog = yaml.safe_load((PROJECT_ROOT / "conf/base/catalog_monitoring.yml").read_text())
    assert catalog["drift_report"]["dataset"]["filepath"] == "data/08_reporting/drift_report.json"


def test_score_shift_without_an_at_risk_list_says_to_score_first(samples, promoted, params):
    with pytest.raises(ValueError, match="kedro run --pipeline score"):
        nodes.compute_score_shift(samples[0], None, promoted, params)
