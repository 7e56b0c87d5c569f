"""Scoring with the promoted model: input checks, ordering, deciles, reasons, actions."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, DatasetError

from customer_retention.core.calibration import apply_calibrator
from customer_retention.datasets.model_store import PromotedModelDataset
from customer_retention.models.churn_classifier import contributions, predict_raw
from customer_retention.pipelines.churn_model.pipeline import create_pipeline as churn_pipeline
from customer_retention.pipelines.churn_model.train import fit_candidate
from customer_retention.pipelines.scoring import nodes
from customer_retention.pipelines.scoring.pipeline import create_pipeline

from ...conftest import PROJECT_ROOT, load_parameters
from ..churn_model.helpers import churn_params, demo_data, trained_model


@pytest.fixture(scope="module")
def promoted() -> dict:
    return PromotedModelDataset(path=str(trained_model()["store"])).load()


@pytest.fixture(scope="module")
def as_of_rows() -> pd.DataFrame:
    snapshots, _, _ = demo_data()
    return nodes.select_as_of_snapshot(snapshots)


@pytest.fixture(scope="module")
def at_risk(as_of_rows, promoted) -> pd.DataFrame:
    return nodes.score_customers(as_of_rows, promoted, load_parameters("scoring"))


def test_scores_every_active_customer_sorted_with_deciles(at_risk, as_of_rows):
    assert len(at_risk) == len(as_of_rows)
    assert set(at_risk["customer_id"]) == set(as_of_rows["customer_id"].astype(str))
    assert at_risk["churn_probability"].is_monotonic_decreasing
    assert at_risk["churn_probability"].between(0, 1).all()
    assert at_risk["risk_decile"].is_monotonic_increasing
    sizes = at_risk["risk_decile"].value_counts()
    assert sorted(sizes.index) == list(range(1, 11))
    assert sizes.max() - sizes.min() <= 1
    by_decile = at_risk.groupby("risk_decile")["churn_probability"]
    assert (by_decile.min().iloc[:-1].to_numpy() >= by_decile.max().iloc[1:].to_numpy()).all()
    assert list(at_risk.columns[:4]) == [
        "customer_id",
        "as_of_date",
        "churn_probability",
        "risk_decile",
    ]
    assert "clv" not in at_risk and "value_at_risk" not in at_risk


def test_reasons_and_actions_are_filled(at_risk):
    actions = load_parameters("scoring")["actions"]
    allowed = {*actions["by_driver"].values(), actions["fallback"]}
    assert set(at_risk["recommended_action"]) <= allowed
    top = at_risk[at_risk["risk_decile"] == 1]
    assert top["reason_1"].notna().all()
    assert top["top_driver"].notna().all()
    # A reason slot is empty only when fewer drivers push the risk up.
    assert (at_risk["reason_3"].isna() | at_risk["reason_2"].notna()).all()


def test_risk_deciles_on_small_inputs():
    assert nodes.risk_deciles(pd.Series([0.9, 0.1, 0.5])).tolist() == [4, 10, 7]
    assert nodes.risk_deciles(pd.Series([0.3] * 20)).tolist() == [i // 2 + 1 for i in range(20)]


def test_missing_feature_column_stops_with_the_column_names(as_of_rows, promoted):
    rows = as_of_rows.drop(columns=["nps_latest", "median_first_response_hours"])
    with pytest.raises(ValueError, match="median_first_response_hours, nps_latest") as error:
        nodes.score_customers(rows, promoted, load_parameters("scoring"))
    assert "feature column(s) the churn model was trained on" in str(error.value)


def test_extra_columns_and_unseen_levels_are_handled(as_of_rows, promoted, at_risk, caplog):
    rows = as_of_rows.assign(loyalty_tier="gold")
    rows["plan"] = rows["plan"].cat.add_categories("platinum")
    rows.loc[rows.index[:3], "plan"] = "platinum"
    with caplog.at_level(logging.INFO):
        scored = nodes.score_customers(rows, promoted, load_parameters("scoring"))
    assert "loyalty_tier" in caplog.text and "ignored" in caplog.text
    assert "unseen in training" in caplog.text and "platinum" in caplog.text
    assert len(scored) == len(at_risk)
    merged = scored.merge(at_risk, on="customer_id", suffixes=("", "_before"))
    changed = merged["customer_id"].isin(rows["customer_id"].iloc[:3].astype(str))
    pd.testing.assert_series_equal(
        merged.loc[~changed, "churn_probability"],
        merged.loc[~changed, "churn_probability_before"],
        check_names=False,
    )


def test_no_promoted_model_says_to_train_first(tmp_path, monkeypatch):
    """The catalog entry scoring reads, as configured, in a project without a model."""
    config = yaml.safe_load((PROJECT_ROOT / "conf/base/catalog_churn_model.yml").read_text())
    monkeypatch.chdir(tmp_path)
    catalog = DataCatalog.from_config({"promoted_churn_model": config["promoted_churn_model"]})
    with pytest.raises(DatasetError, match=r"kedro run --pipeline churn_model"):
        catalog.load("promoted_churn_model")


def test_scoring_pipeline_does_not_train():
    scoring = create_pipeline()
    assert "promoted_churn_model" in scoring.inputs()
    assert {n.name for n in scoring.nodes}.isdisjoint({n.name for n in churn_pipeline().nodes})
    assert scoring.outputs() == {"retention_plan", "retention_plan_summary"}
    assert "at_risk_customers" in scoring.all_outputs()


def test_scores_are_reproducible_from_the_stored_model(tmp_path, as_of_rows, promoted):
    store = tmp_path / "promoted"
    shutil.copytree(trained_model()["store"], store)
    reloaded = PromotedModelDataset(path=str(store)).load()
    params = load_parameters("scoring")
    first = nodes.score_customers(as_of_rows, reloaded, params)
    second = nodes.score_customers(as_of_rows, promoted, params)
    pd.testing.assert_frame_equal(first, second)
    assert first["model_id"].unique().tolist() == [promoted["metadata"]["model_id"]]


@pytest.mark.parametrize("kind", ["xgboost", "logistic"])
def test_either_candidate_scores_from_the_store_with_its_own_reasons(kind, tmp_path, as_of_rows):
    """The backtest may deploy either candidate: both go through the promoted store (JSON) and
    score with their calibrated probabilities; the top driver is the largest positive share of
    the model's own contributions."""
    trained = trained_model()
    frame, spec = trained["churn_model_input"], trained["churn_feature_spec"]
    model, calibrator, _ = fit_candidate(kind, frame, spec, churn_params())
    metadata = {"model_id": f"m-{kind}", "model_kind": kind, "feature_spec": spec}
    store = PromotedModelDataset(path=str(tmp_path))
    store.save({"model": model, "calibrator": calibrator, "metadata": metadata})
    scored = nodes.score_customers(as_of_rows, store.load(), load_parameters("scoring"))
    rows = as_of_rows.assign(customer_id=as_of_rows["customer_id"].astype(str))
    expected = apply_calibrator(calibrator, predict_raw(model, rows, spec))
    by_id = scored.set_index("customer_id").loc[rows["customer_id"]]
    np.testing.assert_allclose(by_id["churn_probability"], expected, rtol=1e-6)
    shares = contributions(model, rows, spec)
    top = np.where(shares.max(axis=1) > 0, np.array(spec["features"])[shares.argmax(axis=1)], None)
    assert (by_id["top_driver"].to_numpy() == top).mean() > 0.99
    assert scored["model_id"].unique().tolist() == [f"m-{kind}"]


def test_implausible_scores_stop_scoring_with_the_numbers(as_of_rows, promoted):
    """A model whose training churn rate is far below what it now predicts (another business,
    a broken feature) must not write a believable at-risk list."""
    params = load_parameters("scoring")
    wrong = {**promoted, "metadata": json.loads(json.dumps(promoted["metadata"]))}
    wrong["metadata"]["data_fingerprint"]["label_rate"]["train"] = 0.005
    with pytest.raises(ValueError, match=r"times the churn rate of its training data"):
        nodes.score_customers(as_of_rows, wrong, params)
    unchecked = params | {"sanity": {"max_mean_ratio": None}}
    assert len(nodes.score_customers(as_of_rows, wrong, unchecked)) == len(as_of_rows)
    ok = nodes.score_customers(as_of_rows, promoted, params)  # the real rate: no stop
    rate = promoted["metadata"]["data_fingerprint"]["label_rate"]["train"]
    assert 1 / 3 < ok["churn_probability"].mean() / rate < 3
