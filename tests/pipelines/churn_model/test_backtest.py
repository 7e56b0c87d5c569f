"""A churn model fit to deploy (#19): the rolling-origin backtest, the choice between the
candidates, the refit on every labelled snapshot, the lead time and the model card."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from customer_retention.core.calibration import apply_calibrator
from customer_retention.models.churn_classifier import predict_raw
from customer_retention.pipelines.churn_model import (
    backtest,
    lead_time,
    refit,
    split,
    train,
    treatment,
)

from ...conftest import load_parameters
from .helpers import churn_params, demo_data, demo_interventions, trained_model

HORIZON = pd.Timedelta(days=load_parameters("churn_model")["horizon_days"])
LABEL = "churned_within_horizon"


@pytest.fixture(scope="module")
def trained() -> dict:
    return trained_model()


def test_backtest_has_four_cutoffs_with_both_candidates_and_their_spread(trained):
    result = trained["churn_backtest"]
    assert result["kind"] == "rolling_origin"
    cutoffs = result["cutoffs"]
    assert [c["cutoff"] for c in cutoffs] == [
        "2025-07-01",
        "2025-08-01",
        "2025-09-01",
        "2025-10-01",
    ]
    for cutoff in cutoffs:
        for kind in ("xgboost", "logistic"):
            assert 0.55 < cutoff[kind]["roc_auc"] < 0.9
            assert {"pr_auc", "top_decile_lift", "ece", "brier_score"} <= set(cutoff[kind])
    for kind in ("xgboost", "logistic"):
        values = [c[kind]["roc_auc"] for c in cutoffs]
        spread = result["summary"][kind]["roc_auc"]
        assert spread["mean"] == pytest.approx(np.mean(values))
        assert spread["sd"] == pytest.approx(np.std(values, ddof=1))
    # The last cutoff is the evaluation split: the same numbers as churn_model_metrics.json.
    assert cutoffs[-1]["is_evaluation_split"] and not any(
        c["is_evaluation_split"] for c in cutoffs[:-1]
    )
    scorers = trained["churn_model_metrics"]["scorers"]
    assert cutoffs[-1]["xgboost"]["roc_auc"] == pytest.approx(
        scorers["xgboost_calibrated"]["roc_auc"]
    )
    assert cutoffs[-1]["logistic"]["ece"] == pytest.approx(scorers["logistic_baseline"]["ece"])


def test_backtest_never_tests_on_a_snapshot_whose_labels_were_seen(trained):
    for cutoff in trained["churn_backtest"]["cutoffs"]:
        test_date = pd.Timestamp(cutoff["cutoff"])
        parts = cutoff["parts"]
        assert parts["test"]["snapshots"] == [cutoff["cutoff"]]
        seen = [pd.Timestamp(d) for d in parts["train"]["snapshots"] + parts["valid"]["snapshots"]]
        assert max(seen) + HORIZON <= test_date  # every training label known by the cutoff
        # ... and none closer to it was left out (the latest labels are used).
        assert min(seen) == pd.Timestamp("2025-02-01")


def test_a_recomputed_cutoff_uses_the_split_of_that_date_only(trained):
    """Labels after a cutoff cannot move its result: the cutoff 2025-08-01 computed on data
    whose later labels are all flipped gives the same metrics."""
    snapshots, _ = treatment.mask_treated_labels(demo_data()[0], demo_interventions(), HORIZON.days)
    params = churn_params()
    cutoff = pd.Timestamp("2025-08-01")
    first = backtest._score_cutoff(snapshots, params, HORIZON.days, cutoff)
    later = snapshots["snapshot_date"] > cutoff
    flipped = snapshots.copy()
    flipped.loc[later & flipped[LABEL].notna(), LABEL] = 1 - flipped.loc[later, LABEL]
    again = backtest._score_cutoff(flipped, params, HORIZON.days, cutoff)
    assert again["xgboost"] == first["xgboost"] and again["logistic"] == first["logistic"]
    recorded = next(c for c in trained["churn_backtest"]["cutoffs"] if c["cutoff"] == "2025-08-01")
    assert recorded["logistic"]["roc_auc"] == pytest.approx(first["logistic"]["roc_auc"])


def _cutoffs(xgboost: list[float], logistic: list[float]) -> list[dict]:
    return [
        {"xgboost": {"roc_auc": x, "ece": 0.02}, "logistic": {"roc_auc": s, "ece": 0.01}}
        for x, s in zip(xgboost, logistic, strict=True)
    ]


def test_the_simpler_model_wins_unless_xgboost_beats_the_backtest_noise():
    steady = backtest.select_candidate(
        _cutoffs([0.72, 0.73, 0.71, 0.72], [0.70, 0.71, 0.70, 0.70]), "roc_auc"
    )
    assert steady["chosen"] == "xgboost"
    assert steady["xgboost_mean_advantage"] == pytest.approx(0.0175)
    noisy = backtest.select_candidate(
        _cutoffs([0.74, 0.69, 0.73, 0.70], [0.70, 0.72, 0.70, 0.71]), "roc_auc"
    )
    assert noisy["chosen"] == "logistic"  # +0.0075 on average, standard error 0.0125
    assert noisy["advantage_standard_error"] == pytest.approx(
        np.std([0.04, -0.03, 0.03, -0.01], ddof=1) / 2
    )
    single = backtest.select_candidate(_cutoffs([0.80], [0.70]), "roc_auc")
    assert (
        single["chosen"] == "logistic" and "no estimate of the backtest noise" in single["reason"]
    )
    # Lower is better for the ECE: XGBoost's higher ECE is a disadvantage.
    assert (
        backtest.select_candidate(_cutoffs([0.7] * 3, [0.7] * 3), "ece")["xgboost_mean_advantage"]
        < 0
    )
    forced = backtest.select_candidate(_cutoffs([0.6, 0.6], [0.7, 0.7]), "roc_auc", "xgboost")
    assert forced["chosen"] == "xgboost" and "set in parameters" in forced["reason"]
    with pytest.raises(ValueError, match="auto or one of xgboost, logistic"):
        backtest.select_candidate(_cutoffs([0.6, 0.6], [0.7, 0.7]), "roc_auc", "forest")


def test_too_few_snapshots_backtest_on_customer_folds():
    snapshots, _, _ = demo_data()
    labelled = sorted(snapshots.loc[snapshots[LABEL].notna(), "snapshot_date"].unique())
    one = snapshots[snapshots["snapshot_date"] == labelled[-1]]
    folds = split.backtest_splits(one, churn_params(), HORIZON.days)
    assert [name for name, _ in folds] == ["fold 1", "fold 2", "fold 3", "fold 4"]
    tested = []
    for _, fold in folds:
        frame, info = split.split_at_cutoff(one, churn_params(), HORIZON.days, fold)
        assert info["split"] == "grouped_random"
        tested.append(set(frame.loc[frame["split"] == "test", "customer_id"]))
        assert tested[-1].isdisjoint(frame.loc[frame["split"] != "test", "customer_id"])
    assert all(a.isdisjoint(b) for i, a in enumerate(tested) for b in tested[i + 1 :])


def test_the_refit_trains_on_every_labelled_snapshot_and_no_label_after_the_as_of_date(trained):
    refit_info = trained["churn_refit"]
    window = refit_info["window"]
    parts = refit_info["split"]["parts"]
    assert set(parts) == {"train", "valid"}
    assert parts["train"]["snapshots"][-1] == parts["valid"]["snapshots"][-1] == "2025-10-01"
    assert len(parts["train"]["snapshots"]) == 9
    assert pd.Timestamp(window["labels_known_by"]) <= pd.Timestamp(window["as_of_date"])
    assert refit_info["data_fingerprint"]["rows"]["valid"] == parts["valid"]["rows"]
    # Labels reaching past the as-of date (an inconsistent snapshot table) stop the refit.
    snapshots, _, _ = demo_data()
    with pytest.raises(ValueError, match="after the as-of date"):
        refit._check_no_label_after_as_of(snapshots, ["2025-12-01"], HORIZON.days)


def test_lead_time_separates_customers_already_leaving():
    """A score that only finds the customers who started an exit survey: all its flagged
    churners carry the signal, and without them it ranks no better than chance."""
    rng = np.random.default_rng(0)
    n = 4_000
    signal = rng.uniform(size=n) < 0.05
    churned = np.where(signal, rng.uniform(size=n) < 0.8, rng.uniform(size=n) < 0.08).astype(int)
    score = np.where(signal, 0.9, 0.05) + rng.uniform(0, 0.01, size=n)
    scores = pd.DataFrame({LABEL: churned, "xgboost_calibrated": score, "logistic_baseline": score})
    model_input = pd.DataFrame({"split": "test", "exit_survey_started": signal, "other": 1.0})
    params = churn_params()
    params["evaluation"]["top_fraction"] = 0.04  # fewer flagged than signal rows (~5%)
    result = lead_time.measure_lead_time(
        scores, model_input, {"selection": {"chosen": "logistic"}}, params
    )
    assert result["status"] == "measured" and result["signals"] == ["exit_survey_started"]
    assert result["share_of_flagged_churners_with_signal"] == 1.0
    assert result["all_customers"]["roc_auc"] > 0.6
    assert abs(result["without_signal"]["roc_auc"] - 0.5) < 0.06
    assert result["rows_with_signal"] == signal.sum()
    params["lead_time"]["already_leaving_signals"] = ["cancellation_page_visits"]
    absent = lead_time.measure_lead_time(
        scores, model_input, {"selection": {"chosen": "logistic"}}, params
    )
    assert absent["status"] == "not measured"
    assert absent["signals_not_in_the_data"] == ["cancellation_page_visits"]


def test_model_card_describes_the_deployed_model(trained):
    card = trained["model_card"]
    metadata = trained["churn_model_metadata"]
    assert card["model_id"] == metadata["model_id"] and card["model_kind"] == metadata["model_kind"]
    assert "probability of churning within 90 days" in card["intended_use"]
    assert card["training_window"]["snapshots"][-1] == "2025-10-01"
    assert (
        card["data_age_at_scoring"]["days_from_latest_training_snapshot_to_as_of"]
        == (
            pd.Timestamp(card["data_age_at_scoring"]["as_of_date"]) - pd.Timestamp("2025-10-01")
        ).days
    )
    features = {f["name"]: f for f in card["features"]}
    assert set(features) == set(metadata["feature_spec"]["features"])
    assert features["events_recent"]["source"] == "events"
    assert features["region"]["source"] == "customers (attribute)"
    assert card["backtest"]["chosen"]["model"] == trained["churn_backtest"]["selection"]["chosen"]
    assert len(card["backtest"]["cutoffs"]) == 4 and card["backtest"]["chosen"]["roc_auc"]["sd"] > 0
    assert card["lead_time"]["status"] == "measured"
    assert any("leaving signal" in note for note in card["known_limitations"])
    assert card["promotion"]["decision"] == "promoted"


def test_treated_customers_do_not_bias_the_untreated_customers_probabilities():
    """A very effective action: 30% of the customers treated on 2025-05-01 never churn after.
    Trained on their changed labels, the model under-predicts churn for the untreated; with
    those labels masked (mask_treated_labels), its probabilities for the untreated are right."""
    snapshots, _, _ = demo_data()
    rng = np.random.default_rng(1)
    ids = snapshots["customer_id"].astype(str).unique()
    chosen = rng.choice(ids, size=int(0.3 * len(ids)), replace=False)
    treated_at = pd.Timestamp("2025-05-01")
    interventions = pd.DataFrame(
        {"customer_id": chosen, "campaign": "save", "treated_at": treated_at, "arm": "treatment"}
    )
    is_treated = snapshots["customer_id"].astype(str).isin(chosen)
    changed = is_treated & (snapshots["snapshot_date"] + HORIZON > treated_at)
    changed &= snapshots[LABEL].notna()
    acted_on = snapshots.assign(**{LABEL: snapshots[LABEL].where(~changed, 0.0)})
    masked, summary = treatment.mask_treated_labels(acted_on, interventions, HORIZON.days)
    assert summary["rows_masked"] == changed.sum() and summary["treated_customers"] == len(chosen)
    assert masked[LABEL].isna().sum() == acted_on[LABEL].isna().sum() + changed.sum()

    untreated = snapshots[~is_treated]
    test_date = untreated.loc[untreated[LABEL].notna(), "snapshot_date"].max()
    test_rows = untreated[untreated["snapshot_date"] == test_date]
    bias = {}
    for name, data in (("masked", masked), ("unmasked", acted_on)):
        frame, _ = split.split_at_cutoff(data, churn_params(), HORIZON.days, None)
        spec = split.define_model_features(frame, churn_params())
        model, calibrator, _ = train.fit_candidate("logistic", frame, spec, churn_params())
        predicted = apply_calibrator(calibrator, predict_raw(model, test_rows, spec))
        bias[name] = float(predicted.mean() - test_rows[LABEL].mean())
    assert abs(bias["masked"]) < 0.01, bias
    assert bias["unmasked"] < -0.02, bias  # trained on the treated world: too optimistic
