"""Churn model: temporal split, quality vs the baseline and the oracle, calibration,
reproducibility, safe artifacts and champion/challenger promotion."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from kedro.io import DatasetError
from kedro_datasets.text import TextDataset
from sklearn.metrics import roc_auc_score

from customer_retention.core.chart_data import SCORER_NAMES
from customer_retention.core.model_frame import (
    NON_MODEL_COLUMNS,
    booster_from_json,
    dmatrix,
    model_matrix,
)
from customer_retention.core.reasons import (
    action_for,
    explain,
    phrase,
    top_drivers,
)
from customer_retention.datasets.model_store import OptionalDataset, PromotedModelDataset
from customer_retention.models.churn_classifier import (
    LogisticChurnClassifier,
    model_from_json,
    predict_raw,
)
from customer_retention.pipelines.churn_model import benchmarks, common, nodes, train

from ...conftest import load_parameters
from .helpers import (
    churn_params,
    default_demo_metrics,
    demo_data,
    demo_interventions,
    run_churn_model,
    trained_model,
)

LABEL = common.LABEL


@pytest.fixture(scope="module")
def trained() -> dict:
    return trained_model()


# --- split --------------------------------------------------------------------------------------


HORIZON_DAYS = load_parameters("feature_engineering")["horizon_days"]


def _held_out_customers_are_unseen(frame: pd.DataFrame) -> None:
    valid = set(frame.loc[frame["split"] == "valid", "customer_id"])
    assert valid and valid.isdisjoint(frame.loc[frame["split"] == "train", "customer_id"])


def test_split_is_temporal_and_tests_on_the_last_labelled_snapshot():
    snapshots, _, _ = demo_data()
    params = churn_params()
    params["split"]["gap_snapshots"] = 0
    frame, info = nodes.split_snapshots(snapshots, params, HORIZON_DAYS)
    labelled_dates = sorted(snapshots.loc[snapshots[LABEL].notna(), "snapshot_date"].unique())
    by_part = frame.groupby("split")["snapshot_date"]
    assert info["split"] == "temporal"
    assert by_part.max()["train"] == by_part.min()["valid"] == by_part.max()["valid"]
    assert by_part.min()["test"] == by_part.max()["test"] == labelled_dates[-1]
    assert by_part.max()["valid"] == labelled_dates[-2]
    assert frame[LABEL].notna().all() and not frame["is_as_of_snapshot"].any()
    assert info["parts"]["test"]["rows"] == (snapshots["snapshot_date"] == labelled_dates[-1]).sum()
    assert "label horizons of train and test overlap" in info["reason"]
    _held_out_customers_are_unseen(frame)
    at_valid_date = snapshots["snapshot_date"] == labelled_dates[-2]
    share = info["parts"]["valid"]["rows"] / at_valid_date.sum()
    assert share == pytest.approx(params["split"]["calibration_share"], abs=0.01)


def test_default_split_uses_only_labels_known_at_the_date_evaluated():
    """gap_snapshots auto: each training label's horizon ends by the test date, and no closer
    snapshot qualifies (none is wasted); calibration on the latest training snapshot."""
    snapshots, _, _ = demo_data()
    frame, info = nodes.split_snapshots(snapshots, churn_params(), HORIZON_DAYS)
    horizon = pd.Timedelta(days=HORIZON_DAYS)
    labelled = sorted(snapshots.loc[snapshots[LABEL].notna(), "snapshot_date"].unique())
    dates = {part: sorted(rows.unique()) for part, rows in frame.groupby("split")["snapshot_date"]}
    (valid,), (test,) = dates["valid"], dates["test"]
    assert test == labelled[-1]
    assert dates["train"] == [d for d in labelled if d + horizon <= test]
    assert valid == max(dates["train"]) and valid + horizon <= test
    assert labelled[labelled.index(valid) + 1] + horizon > test
    assert info["split"] == "temporal" and f"{HORIZON_DAYS}-day label horizon" in info["reason"]
    _held_out_customers_are_unseen(frame)


def test_split_with_a_gap_leaves_snapshots_out():
    snapshots, _, _ = demo_data()
    params = churn_params()
    params["split"]["gap_snapshots"] = 1
    frame, info = nodes.split_snapshots(snapshots, params, HORIZON_DAYS)
    labelled = sorted(snapshots.loc[snapshots[LABEL].notna(), "snapshot_date"].unique())
    assert info["parts"]["valid"]["snapshots"] == [str(pd.Timestamp(labelled[-3]).date())]
    assert labelled[-2] not in set(frame["snapshot_date"])


def test_too_few_labelled_snapshots_fall_back_to_a_grouped_random_split():
    snapshots, _, _ = demo_data()
    labelled_dates = sorted(snapshots.loc[snapshots[LABEL].notna(), "snapshot_date"].unique())
    two = snapshots[snapshots["snapshot_date"].isin(labelled_dates[-2:])]
    frame, info = nodes.split_snapshots(two, churn_params(), HORIZON_DAYS)
    assert info["split"] == "grouped_random"
    assert "only 2 labelled snapshot(s)" in info["reason"]
    parts_per_customer = frame.groupby("customer_id")["split"].nunique()
    assert (parts_per_customer == 1).all()  # no customer in two parts
    shares = frame["split"].value_counts(normalize=True)
    assert shares["test"] == pytest.approx(0.2, abs=0.03)
    rates = frame.groupby("split")[LABEL].mean()
    assert rates.max() - rates.min() < 0.02  # stratified


def test_split_without_labels_says_why():
    snapshots, _, _ = demo_data()
    unlabelled = snapshots.assign(**{LABEL: np.nan})
    with pytest.raises(ValueError, match="no labelled rows"):
        nodes.split_snapshots(unlabelled, churn_params(), HORIZON_DAYS)


# --- features -----------------------------------------------------------------------------------


def test_features_come_from_the_columns_present():
    snapshots, _, _ = demo_data()
    usage = ["events_recent", "events_previous", "active_days_recent", "usage_trend_ratio"]
    frame, _ = nodes.split_snapshots(snapshots.drop(columns=usage), churn_params(), HORIZON_DAYS)
    spec = nodes.define_model_features(frame, churn_params())
    assert not set(spec["features"]) & (set(usage) | NON_MODEL_COLUMNS | {"split"})
    assert {"tenure_days", "plan", "region", "nps_class", "current_plan"} <= set(spec["features"])
    assert spec["categorical_levels"]["contract_type"] == ["annual", "monthly"]
    assert spec["dtypes"]["exit_survey_started"] == "float"  # booleans become 0/1


def test_unseen_category_becomes_missing_and_missing_column_is_named(trained):
    spec = trained["churn_feature_spec"]
    test = trained["churn_model_input"].query("split == 'test'").head(50).copy()
    booster = booster_from_json(trained["churn_evaluation_booster"])
    base = booster.predict(dmatrix(test, spec))
    test["region"] = test["region"].cat.add_categories("antarctica")
    test.loc[test.index[:5], "region"] = "antarctica"
    as_missing = test.assign(region=test["region"].where(test["region"] != "antarctica"))
    assert np.array_equal(
        booster.predict(dmatrix(test, spec)), booster.predict(dmatrix(as_missing, spec))
    )
    assert np.array_equal(base[5:], booster.predict(dmatrix(test, spec))[5:])
    with pytest.raises(ValueError, match="nps_latest, plan"):
        dmatrix(test.drop(columns=["plan", "nps_latest"]), spec)


def test_the_feature_array_predicts_exactly_like_a_categorical_data_frame(trained):
    """dmatrix builds a float32 array with category codes (fast); XGBoost's own pandas path
    (categoricals with the training levels) must give the same predictions and SHAP values,
    whatever the column types of the input (text, object with None, nullable integers)."""
    spec = trained["churn_feature_spec"]
    rows = trained["churn_model_input"].query("split == 'test'").head(400).copy()
    rows["region"] = rows["region"].astype(object).where(rows.index % 7 != 0, None)
    rows["plan"] = rows["plan"].astype("string")
    rows.loc[rows.index[:3], "plan"] = "platinum"  # unseen in training
    rows["tenure_days"] = rows["tenure_days"].astype("Int64")
    rows.loc[rows.index[3], "tenure_days"] = pd.NA
    booster = booster_from_json(trained["churn_evaluation_booster"])
    frame = xgb.DMatrix(model_matrix(rows, spec), enable_categorical=True, missing=np.nan)
    fast = dmatrix(rows, spec)
    assert np.array_equal(booster.predict(frame), booster.predict(fast))
    assert np.array_equal(
        booster.predict(frame, pred_contribs=True), booster.predict(fast, pred_contribs=True)
    )
    assert model_matrix(rows, spec)["plan"].isna().sum() == rows["plan"].isna().sum() + 3


# --- quality ------------------------------------------------------------------------------------


def test_on_the_default_demo_both_candidates_near_the_oracle_and_are_calibrated():
    """The quality bar of issue #6, on the demo data exactly as `make run` generates them
    (5,000 customers): calibrated XGBoost within 0.03 ROC-AUC of the oracle and of the logistic
    regression, with an ECE of at most 0.03.

    The demo plants one non-additive effect -- usage fades over the last 30 days before churn on
    monthly contracts, 150 days on annual ones -- which trees can learn and a linear model
    cannot. With the old split (training on the oldest snapshots, an uncalibrated baseline)
    XGBoost won on the test snapshot for 10 of 10 seeds; trained on the recent snapshots, both
    calibrated, and with the treated customers' labels masked, the two are within the backtest
    noise on this seed, and the backtest (not this test snapshot) chooses between them.
    """
    metrics = default_demo_metrics()
    scorers = metrics["scorers"]
    xgb = scorers["xgboost_calibrated"]
    assert metrics["split"] == "temporal"
    assert abs(xgb["roc_auc"] - scorers["logistic_baseline"]["roc_auc"]) < 0.03
    # The oracle knows the true hazard but not the leading signals of the realised churn
    # (usage fade, exit surveys), so the model can also beat it.
    assert xgb["roc_auc"] >= scorers["oracle"]["roc_auc"] - 0.03
    assert xgb["ece"] <= 0.03 and scorers["logistic_baseline"]["ece"] <= 0.03


def test_xgboost_beats_baseline_and_health_score_and_is_calibrated(trained):
    scorers = trained["churn_model_metrics"]["scorers"]
    xgb_auc = scorers["xgboost_calibrated"]["roc_auc"]
    assert scorers["xgboost_calibrated"]["rows"] > 2500  # treated customers' labels masked
    assert xgb_auc >= scorers["logistic_baseline"]["roc_auc"] - 0.02
    assert xgb_auc >= scorers["oracle"]["roc_auc"] - 0.03
    assert scorers["xgboost_calibrated"]["ece"] <= 0.03
    # scale_pos_weight inflates the raw probabilities; calibration fixes them.
    assert scorers["xgboost_raw"]["ece"] > 0.1
    assert scorers["xgboost_raw"]["roc_auc"] == pytest.approx(xgb_auc)  # Platt keeps the order
    assert xgb_auc > scorers["health_score"]["roc_auc"]
    assert scorers["xgboost_calibrated"]["top_decile_lift"] > 2


def test_metrics_json_reports_every_scorer_and_the_split(trained):
    metrics = trained["churn_model_metrics"]
    json.dumps(metrics, allow_nan=False)  # plain JSON
    assert metrics["split"] == "temporal" and metrics["windows"]["test"] == ["2025-10-01"]
    for name in (
        "xgboost_calibrated",
        "xgboost_raw",
        "logistic_baseline",
        "health_score",
        "oracle",
    ):
        result = metrics["scorers"][name]
        assert result["status"] == "ok"
        assert {"roc_auc", "pr_auc", "log_loss", "brier_score", "ece"} <= set(result)
        assert {"top_decile_lift", "top_decile_capture_rate"} <= set(result)
        for metric in ("roc_auc", "pr_auc", "top_decile_lift"):  # bootstrap 95% intervals
            assert result[f"{metric}_ci_low"] <= result[metric] <= result[f"{metric}_ci_high"]
    difference = metrics["comparisons"]["differences"]["xgboost_calibrated - logistic_baseline"]
    auc = difference["roc_auc"]
    assert auc["ci_low"] <= auc["difference"] <= auc["ci_high"]
    assert auc["significant"] == (not auc["ci_low"] <= 0 <= auc["ci_high"])
    assert metrics["scorers"]["cox_risk"]["status"].startswith("not available")
    assert metrics["promotion"]["decision"] == "promoted"


def test_cox_risk_scores_are_evaluated_when_present(tmp_path, trained):
    snapshots, health, truth = demo_data()
    test = trained["churn_test_scores"]
    cox = test[["customer_id", "snapshot_date"]].assign(risk=test["oracle"] * 3)
    params = churn_params()
    params["xgboost"]["num_boost_round"] = 20
    catalog = run_churn_model(
        snapshots, tmp_path, params=params, health=health, cox_risk_scores=cox
    )
    scorers = catalog.load("churn_model_metrics")["scorers"]
    assert "oracle" not in scorers or scorers["oracle"]["status"] != "ok"  # no ground truth
    assert scorers["cox_risk_rank_only"]["roc_auc"] == pytest.approx(
        trained["churn_model_metrics"]["scorers"]["oracle"]["roc_auc"]
    )
    assert "ece" not in scorers["cox_risk_rank_only"]  # a relative risk is not a probability


# --- artifacts ----------------------------------------------------------------------------------


def test_training_is_deterministic(trained):
    params = churn_params()
    again, _ = nodes.train_churn_model(
        trained["churn_model_input"], trained["churn_feature_spec"], params
    )
    assert again == trained["churn_evaluation_booster"]


def test_early_stopping_watches_a_sample_of_the_validation_rows_at_little_cost(trained):
    frame, spec = trained["churn_model_input"], trained["churn_feature_spec"]
    valid, test = common._rows(frame, "valid"), common._rows(frame, "test")
    params = churn_params()
    params["xgboost"]["early_stopping_rows"] = len(valid) // 3
    sampled, summary = nodes.train_churn_model(frame, spec, params)
    assert summary["early_stopping_rows"] == len(valid) // 3
    default = churn_params()["xgboost"]["early_stopping_rows"]
    assert train._early_stopping_rows(valid, default, params["seed"]) is valid  # small tables
    watched = train._early_stopping_rows(valid, len(valid) // 3, params["seed"])
    assert watched.index.isin(valid.index).all() and watched.index.is_unique
    auc = {
        name: roc_auc_score(test[LABEL], booster_from_json(model).predict(dmatrix(test, spec)))
        for name, model in (("all", trained["churn_evaluation_booster"]), ("sample", sampled))
    }
    assert abs(auc["sample"] - auc["all"]) < 0.01, auc


def test_saved_booster_reloads_from_json_with_identical_predictions(tmp_path, trained):
    spec = trained["churn_feature_spec"]
    test = trained["churn_model_input"].query("split == 'test'")
    expected = booster_from_json(trained["churn_evaluation_booster"]).predict(dmatrix(test, spec))
    # Through the versioned catalog dataset (XGBoost JSON text) ...
    dataset = TextDataset(filepath=str(tmp_path / "booster.json"))
    dataset.save(trained["churn_evaluation_booster"])
    assert json.loads(dataset.load())["learner"]["objective"]["name"] == "binary:logistic"
    reloaded = booster_from_json(dataset.load()).predict(dmatrix(test, spec))
    np.testing.assert_array_equal(reloaded, expected)
    # ... and the deployed model through the promoted store (model.json, by its kind).
    promoted = PromotedModelDataset(path=str(trained["store"])).load()
    refit = trained["churn_refit"]
    deployed = model_from_json(trained["churn_model_file"], refit["model_kind"])
    np.testing.assert_array_equal(
        predict_raw(promoted["model"], test, refit["feature_spec"]),
        predict_raw(deployed, test, refit["feature_spec"]),
    )
    assert promoted["calibrator"] == json.loads(json.dumps(trained["churn_model_calibrator"]))


def test_metadata_describes_the_refitted_model(trained):
    metadata = trained["churn_model_metadata"]
    refit = trained["churn_refit"]
    assert (
        metadata["model_kind"]
        == refit["model_kind"]
        == (trained["churn_backtest"]["selection"]["chosen"])
    )
    assert metadata["feature_spec"] == refit["feature_spec"]
    assert metadata["feature_spec"]["categorical_levels"]["plan"] == ["basic", "enterprise", "pro"]
    window = metadata["training_window"]
    labelled = sorted(trained["churn_model_input"]["snapshot_date"].unique())
    # Refitted on every labelled snapshot, calibrated on held-out customers of the latest.
    assert window["split"] == "temporal" and len(window["train"]) == 9
    assert window["train"][-1] == window["valid"][-1] == "2025-10-01" == str(labelled[-1].date())
    assert "test" not in window
    assert pd.Timestamp(window["labels_known_by"]) <= pd.Timestamp(window["as_of_date"])
    assert metadata["evaluation_window"]["test"] == ["2025-10-01"]
    fingerprint = metadata["data_fingerprint"]
    assert set(fingerprint["rows"]) == {"train", "valid"}
    assert len(fingerprint["training_frame_sha256"]) == 64
    assert metadata["code_version"]["package"] and metadata["code_version"]["git_commit"]
    assert metadata["parameters"]["xgboost"]["tree_method"] == "hist"
    assert metadata["promotion"]["decision"] == "promoted"
    assert set(metadata["backtest"]["by_cutoff"]) == {
        c["cutoff"] for c in trained["churn_backtest"]["cutoffs"]
    }


# --- champion / challenger ----------------------------------------------------------------------


def test_worse_challenger_keeps_the_champion(tmp_path, trained):
    store = tmp_path / "promoted"
    trained_model(store)  # the default model is the champion
    before = (store / "current.json").read_text()
    champion_id = json.loads(before)["model_id"]
    snapshots, health, _ = demo_data()
    worse = churn_params(max_depth=1)
    worse["xgboost"]["num_boost_round"] = 1
    worse["backtest"]["model"] = "xgboost"  # a one-stump XGBoost, deployed whatever the backtest
    catalog = run_churn_model(
        snapshots, store, params=worse, health=health, interventions=demo_interventions()
    )
    decision = catalog.load("churn_model_metrics")["promotion"]
    assert decision["decision"] == "kept_champion"
    assert decision["champion_model_id"] == champion_id
    assert decision["champion_score"] > decision["challenger_score"] + decision["tolerance"]
    # Both judged by their backtests on the same cutoffs: the champion's recorded mean.
    backtest = trained["churn_backtest"]
    assert decision["shared_cutoffs"] == [c["cutoff"] for c in backtest["cutoffs"]]
    chosen = backtest["selection"]["chosen"]
    assert decision["champion_score"] == pytest.approx(
        backtest["summary"][chosen]["roc_auc"]["mean"]
    )
    assert catalog.load("churn_model_metadata")["promotion"] == decision
    assert (store / "current.json").read_text() == before
    assert [p.name for p in store.iterdir() if p.is_dir()] == [champion_id]


def test_retraining_on_the_same_data_keeps_the_identical_champion(tmp_path, trained):
    store = tmp_path / "promoted"
    trained_model(store)
    promoted_before = (store / "current.json").read_text()
    snapshots, health, _ = demo_data()
    catalog = run_churn_model(snapshots, store, health=health, interventions=demo_interventions())
    decision = catalog.load("churn_model_metrics")["promotion"]
    assert decision["decision"] == "kept_champion"
    assert decision["reason"].startswith("identical to the promoted model")
    assert (store / "current.json").read_text() == promoted_before  # nothing rewritten


def _promote(trained: dict, draft: dict, champion: dict, params: dict) -> dict:
    """The promotion decision of the trained model with metadata ``draft`` against ``champion``."""
    return nodes.promote_churn_model(
        trained["churn_model_file"],
        trained["churn_model_calibrator"],
        draft,
        trained["churn_model_metrics"],
        champion,
        trained["churn_model_input"],
        params,
    )[2]


def test_equal_but_different_challenger_is_promoted(trained):
    champion = PromotedModelDataset(path=str(trained["store"])).load()
    draft = {k: v for k, v in trained["churn_model_metadata"].items() if k != "promotion"}
    draft |= {"model_id": "challenger", "booster_sha256": "another booster"}
    result = _promote(trained, draft, champion, churn_params())
    assert result["promotion"]["decision"] == "promoted"
    assert result["promotion"]["promoted_model_id"] == "challenger"


def test_promotion_metric_where_lower_is_better(trained):
    params = churn_params()
    params["promotion"] = {"metric": "ece", "tolerance": 0.0}
    champion = PromotedModelDataset(path=str(trained["store"])).load()
    draft = {k: v for k, v in trained["churn_model_metadata"].items() if k != "promotion"}
    draft = json.loads(json.dumps(draft)) | {"model_id": "challenger", "booster_sha256": "other"}
    for metrics in draft["backtest"]["by_cutoff"].values():
        metrics["ece"] += 0.01  # a worse calibration at every cutoff
    draft["backtest"]["summary"]["ece"]["mean"] += 0.01
    result = _promote(trained, draft, champion, params)
    assert result["promotion"]["decision"] == "kept_champion"
    assert result["promotion"]["higher_is_better"] is False
    assert result["promotion"]["challenger_score"] == pytest.approx(
        result["promotion"]["champion_score"] + 0.01
    )


def test_a_champion_without_shared_backtest_cutoffs_gives_way_to_the_newer_model(trained):
    champion = PromotedModelDataset(path=str(trained["store"])).load()
    champion["metadata"]["backtest"]["by_cutoff"] = {"2024-01-01": {"roc_auc": 0.99}}
    draft = {k: v for k, v in trained["churn_model_metadata"].items() if k != "promotion"}
    draft |= {"model_id": "challenger", "booster_sha256": "another model"}
    result = _promote(trained, draft, champion, churn_params())
    assert result["promotion"]["decision"] == "promoted"
    assert "shares no cutoff" in result["promotion"]["reason"]


def test_promoted_store_is_replaced_atomically_and_pruned(tmp_path, trained):
    store = PromotedModelDataset(path=str(tmp_path), keep=2)
    with pytest.raises(DatasetError, match="kedro run --pipeline churn_model"):
        store.load()
    assert PromotedModelDataset(path=str(tmp_path), missing_ok=True).load() is None
    bundle = {
        "model": trained["churn_model_file"],
        "calibrator": trained["churn_model_calibrator"],
        "metadata": trained["churn_model_metadata"],
    }
    for model_id in ("m1", "m2", "m3"):
        store.save(bundle | {"metadata": bundle["metadata"] | {"model_id": model_id}})
    assert json.loads((tmp_path / "current.json").read_text()) == {"model_id": "m3"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current.json", "m2", "m3"]
    mtime = (tmp_path / "current.json").stat().st_mtime_ns
    store.save(bundle | {"metadata": bundle["metadata"] | {"model_id": "m3"}})  # no-op
    assert (tmp_path / "current.json").stat().st_mtime_ns == mtime
    shutil.rmtree(tmp_path / "m3")
    with pytest.raises(DatasetError, match="does not exist"):
        store.load()


def test_optional_dataset_loads_none_when_absent(tmp_path):
    config = {"type": "json.JSONDataset", "filepath": str(tmp_path / "truth.json")}
    optional = OptionalDataset(dataset=config)
    assert optional.load() is None
    optional.save({"a": 1})
    assert optional.load() == {"a": 1}


# --- reasons ------------------------------------------------------------------------------------


def test_reason_phrases_use_the_feature_value():
    assert phrase("usage_trend_ratio", 0.4) == "usage down 60% vs previous period"
    assert phrase("nps_latest", 3.0) == "detractor NPS (3)"
    assert phrase("nps_class", "detractor", {"nps_latest": 3.0}) == "detractor NPS (3)"
    assert (
        phrase("median_first_response_hours", 31.04) == "slow support: median first response 31 h"
    )
    assert phrase("contract_type", "monthly") == "annual contract: no (monthly)"
    assert phrase("exit_survey_started", True) == "exit survey started"
    assert phrase("some_new_feature", 2.5) == "some new feature: 2.5"
    assert phrase("mrr_current", float("nan")) == "no data"


def test_only_drivers_that_raise_the_risk_are_reasons():
    frame = pd.DataFrame(
        {"usage_trend_ratio": [0.5, 1.0], "nps_latest": [2.0, 10.0], "region": ["europe", "apac"]}
    )
    contributions = np.array([[0.3, 0.5, -0.2], [-0.1, -0.4, 0.0]])
    actions = {"by_driver": {"usage": "training", "nps_latest": "call"}, "fallback": "review"}
    reasons = explain(frame, contributions, list(frame.columns), actions, k=3)
    assert reasons.loc[0, ["reason_1", "reason_2", "reason_3"]].tolist() == [
        "detractor NPS (2)",
        "usage down 50% vs previous period",
        None,
    ]
    assert reasons.loc[0, "recommended_action"] == "call"  # by feature name
    assert reasons.loc[1, "reason_1"] is None and reasons.loc[1, "top_driver"] is None
    assert reasons.loc[1, "recommended_action"] == "review"
    assert action_for("events_recent", actions) == "training"  # by driver group
    assert action_for("region", actions) == "review"


def test_reasons_are_each_rows_own_phrases(trained):
    """explain builds phrases per driver and distinct value; each row must still read its own
    values (and, for row-aware templates, its own row) exactly as phrase() would."""
    spec, features = trained["churn_feature_spec"], trained["churn_feature_spec"]["features"]
    rows = trained["churn_model_input"].query("split == 'test'").head(2000).copy()
    rows["region"] = rows["region"].astype(object).where(rows.index % 5 != 0, None)
    rows["tenure_days"] = rows["tenure_days"].astype("Int64")
    booster = booster_from_json(trained["churn_evaluation_booster"])
    contributions = booster.predict(dmatrix(rows, spec), pred_contribs=True)[:, :-1]
    actions = load_parameters("scoring")["actions"]
    reasons = explain(rows, contributions, features, actions, k=3)
    records = rows[features].to_dict("records")
    for i, (record, drivers) in enumerate(
        zip(records, top_drivers(contributions, features, 3), strict=True)
    ):
        expected = [phrase(f, record[f], record) for f in drivers] + [None] * (3 - len(drivers))
        assert reasons.iloc[i][["reason_1", "reason_2", "reason_3"]].tolist() == expected
        assert reasons.iloc[i]["top_driver"] == (drivers[0] if drivers else None)
        assert reasons.iloc[i]["recommended_action"] == action_for(
            drivers[0] if drivers else None, actions
        )
    assert reasons["reason_3"].notna().sum() > 1000 and rows["nps_class"].notna().any()


# ----------------------------------------------------------------------------- score lookups
def _full_join(frame: pd.DataFrame, table: pd.DataFrame, column: str) -> np.ndarray:
    """The lookup done on every row of the table (what _lookup saves)."""
    keyed = benchmarks._keyed(table[[*common.KEYS, column]]).drop_duplicates(common.KEYS)
    return (
        benchmarks._keyed(frame[common.KEYS])
        .merge(keyed, on=common.KEYS, how="left")[column]
        .to_numpy()
    )


def test_score_lookup_reads_the_rows_snapshots_only_and_matches_a_full_join():
    rng = np.random.default_rng(3)
    dates = pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"])
    table = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 300, 2_000),  # integer ids, duplicated keys
            "snapshot_date": rng.choice(dates, 2_000),
            "health_score": rng.uniform(0, 100, 2_000),
        }
    )
    frame = pd.DataFrame(
        {
            "customer_id": [str(i) for i in rng.integers(0, 400, 500)],  # some never scored
            "snapshot_date": rng.choice(dates[1:].astype(str), 500),  # text dates
        },
        index=rng.permutation(np.arange(1_000, 1_500)),
    )
    expected = _full_join(frame, table, "health_score")
    found = benchmarks._lookup(frame, table, "health_score")
    np.testing.assert_array_equal(found, expected)
    assert np.isnan(found).any() and not np.isnan(found).all()
    risk = benchmarks._health_risk(frame, table)
    assert risk.index.equals(frame.index)
    np.testing.assert_array_equal(risk.to_numpy(), 100.0 - expected)


def test_logistic_candidate_equals_scikit_learns_imputer_scaler_one_hot_pipeline(trained):
    """LogisticChurnClassifier builds its design matrix itself (JSON-storable, no pickle); it
    must predict what scikit-learn's median imputer (with missing indicators), scaler,
    one-hot encoder and logistic regression predict, and its contributions must add up to
    the log-odds."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    spec = trained["churn_feature_spec"]
    frame = trained["churn_model_input"]
    train_rows, test = common._rows(frame, "train"), common._rows(frame, "test")
    train_rows = train_rows.assign(
        mrr_current=train_rows["mrr_current"].where(train_rows.index % 9 != 0)
    )  # blanks: an indicator column
    categorical = list(spec["categorical_levels"])
    numeric = [c for c in spec["features"] if c not in categorical]

    def as_text(rows: pd.DataFrame) -> pd.DataFrame:
        matrix = model_matrix(rows, spec, log_unseen=False)
        for column in categorical:
            matrix[column] = matrix[column].astype(object).where(matrix[column].notna(), "missing")
        return matrix

    reference = make_pipeline(
        ColumnTransformer(
            [
                (
                    "numeric",
                    make_pipeline(
                        SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                    ),
                    numeric,
                ),
                ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
            ]
        ),
        LogisticRegression(C=1.0, max_iter=2000),
    ).fit(as_text(train_rows), train_rows[LABEL])
    ours = LogisticChurnClassifier(1.0, 2000).fit(train_rows, train_rows[LABEL], spec)
    expected = reference.predict_proba(as_text(test))[:, 1]
    np.testing.assert_allclose(ours.predict_proba(test, spec), expected, rtol=1e-8, atol=1e-10)
    assert "mrr_current" in ours.indicators_
    reloaded = LogisticChurnClassifier.from_json(ours.to_json())
    np.testing.assert_array_equal(
        reloaded.predict_proba(test, spec), ours.predict_proba(test, spec)
    )
    shares = ours.contributions(test, spec)
    baseline = ours.intercept_ + np.dot(ours.design_mean_, ours.coef_)
    np.testing.assert_allclose(shares.sum(axis=1) + baseline, ours.decision_function(test, spec))


def test_evaluation_charts_draw_thinned_curves_with_the_exact_areas():
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(5)
    n = 60_000
    label = (rng.uniform(size=n) < 0.1).astype(int)
    scores = pd.DataFrame(
        {
            "customer_id": [str(i) for i in range(n)],
            "snapshot_date": pd.Timestamp("2025-10-01"),
            LABEL: label,
            "xgboost_calibrated": 1 / (1 + np.exp(-rng.normal(label * 1.5 - 2.5, 1.0))),
            "health_risk": np.where(rng.uniform(size=n) < 0.2, np.nan, rng.normal(label, 1.0)),
        }
    )
    scores["health_score"] = scores["health_risk"] / 10
    columns = {"xgboost_calibrated": "xgboost_calibrated", "health_score": "health_risk"}
    exact = {}
    for scorer, column in columns.items():
        ok = scores[column].notna().to_numpy()
        exact[scorer] = {
            "roc_auc": roc_auc_score(label[ok], scores.loc[ok, column]),
            "pr_auc": average_precision_score(label[ok], scores.loc[ok, column]),
        }
    metrics = {
        "scorers": exact,
        "evaluation": {"top_fraction": 0.1, "ece_bins": 10, "ece_strategy": "quantile"},
    }
    roc, pr, _, _ = nodes.plot_churn_model_evaluation(scores, metrics)
    for figure, area in ((roc, "roc_auc"), (pr, "pr_auc")):
        lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
        for scorer, column in columns.items():
            ok = scores[column].notna().to_numpy()
            value = exact[scorer][area]
            line = lines[f"{SCORER_NAMES[scorer]} ({value:.3f})"]  # legend: the metric's area
            x, y = line.get_xdata() / 100, line.get_ydata() / 100
            assert len(x) < ok.sum() / 5  # thinned, not one point per row
            if area == "roc_auc":
                assert (x[0], y[0], x[-1], y[-1]) == (0.0, 0.0, 1.0, 1.0)
                assert np.trapezoid(y, x) == pytest.approx(value, abs=1e-3)
            else:
                assert (x[0], x[-1], y[-1]) == (1.0, 0.0, 1.0)
                assert y[0] == pytest.approx(label[ok].mean())
