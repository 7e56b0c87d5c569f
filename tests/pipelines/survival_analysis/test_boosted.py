"""The boosted AFT survival model: its curves, the evaluation it shares with the landmark model
(same rows, same grid, nothing after the test snapshot), the rule that picks the CLV curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from scipy import stats

from customer_retention.pipelines.survival_analysis import (
    boosted,
    evaluation,
    landmark,
    nodes,
    selection,
)
from customer_retention.pipelines.survival_analysis.design import with_unusable_excluded

from ...conftest import attribute_profile, load_parameters, run_plan
from ..feature_engineering.test_nodes import compute_snapshots


@pytest.fixture(scope="module")
def params() -> dict:
    return load_parameters("survival_analysis")


@pytest.fixture(scope="module")
def demo(clean_demo) -> tuple[pd.DataFrame, dict]:
    """The demo snapshots (test size) and the attribute profile, as the landmark test builds them."""
    snapshots = compute_snapshots(clean_demo, load_parameters("feature_engineering"))
    return snapshots, attribute_profile(clean_demo["customers"])


@pytest.fixture(scope="module")
def fitted(demo, params) -> dict:
    """Both snapshot models fitted on the demo data, with the summary and the CLV curves."""
    snapshots, attributes = demo
    landmark_summary, landmark_curves, _ = nodes.fit_landmark_model(
        snapshots, run_plan(), attributes, params
    )
    boosted_summary, boosted_curves = nodes.fit_boosted_survival(
        snapshots, run_plan(), attributes, params
    )
    return {
        "landmark_summary": landmark_summary,
        "landmark_curves": landmark_curves,
        "boosted_summary": boosted_summary,
        "boosted_curves": boosted_curves,
    }


@pytest.mark.parametrize("distribution", sorted(boosted.DISTRIBUTIONS))
def test_aft_survival_is_the_formula_and_a_survival_curve(distribution):
    """S(t) = 1 - F((ln t - mu) / sigma): in [0, 1], non-increasing in t, and for each law the
    closed form (extreme: exp(-e^z))."""
    rng = np.random.default_rng(0)
    margin, times, sigma = rng.normal(5, 1.5, 200), np.geomspace(0.5, 5000, 60), 0.8
    survival = boosted.aft_survival(margin, times, distribution, sigma)
    assert survival.shape == (200, 60)
    assert ((survival >= 0) & (survival <= 1)).all()
    assert (np.diff(survival, axis=1) <= 0).all()
    z = (np.log(times)[None, :] - margin[:, None]) / sigma
    closed_form = {
        "normal": 1 - stats.norm.cdf(z),
        "logistic": 1 / (1 + np.exp(z)),
        "extreme": np.exp(-np.exp(z)),
    }[distribution]
    np.testing.assert_allclose(survival, closed_form, rtol=1e-10, atol=1e-12)


def test_the_margin_is_mu_of_xgboost_aft():
    """XGBoost's AFT prediction is exp(margin): the margin is the location mu of ln T that the
    curves use, recovered from censored data; the starting intercept is the censored MLE."""
    rng = np.random.default_rng(3)

    def censored(log_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        censor = np.exp(rng.uniform(3, 8, len(log_t)))
        event = np.exp(log_t) <= censor
        return np.maximum(np.minimum(np.exp(log_t), censor), 1.0), event

    noise = 0.8 * stats.gumbel_l.rvs(size=4000, random_state=rng)
    observed, event = censored(5 + noise)  # no covariates: mu = 5
    assert 0.3 < event.mean() < 0.9
    assert boosted.aft_intercept(observed, event, "extreme", 0.8) == pytest.approx(5, abs=0.06)
    x = rng.normal(size=(4000, 2))
    observed, event = censored(5 + 0.7 * x[:, 0] + noise)
    mu0 = boosted.aft_intercept(observed, event, "extreme", 0.8)
    matrix = xgb.DMatrix(x)
    matrix.set_float_info("label_lower_bound", observed)
    matrix.set_float_info("label_upper_bound", np.where(event, observed, np.inf))
    booster = xgb.train(
        {
            "objective": "survival:aft",
            "aft_loss_distribution": "extreme",
            "aft_loss_distribution_scale": 0.8,
            "base_score": float(np.exp(mu0)),
            "max_depth": 1,
            "learning_rate": 0.1,
        },
        matrix,
        num_boost_round=100,
    )
    margin = booster.predict(matrix, output_margin=True)
    np.testing.assert_allclose(np.exp(margin), booster.predict(matrix), rtol=1e-5)
    planted = 5 + 0.7 * x[:, 0]
    assert np.corrcoef(margin, planted)[0, 1] > 0.95
    assert np.abs(margin - planted).mean() < 0.15


def test_boosted_curves_are_valid_for_every_as_of_customer(demo, fitted, params):
    snapshots, _ = demo
    summary, curves = fitted["boosted_summary"], fitted["boosted_curves"]
    assert summary["status"] == "fitted"
    horizon = params["landmark"]["horizon_months"]
    survival = curves.filter(like="survival_month_").to_numpy()
    assert survival.shape == (len(curves), horizon)
    assert ((survival >= 0) & (survival <= 1)).all()
    assert (np.diff(survival, axis=1) <= 0).all()
    assert list(curves.columns) == list(fitted["landmark_curves"].columns)  # the same frame
    as_of = snapshots[snapshots["is_as_of_snapshot"]]
    assert sorted(curves["customer_id"]) == sorted(as_of["customer_id"])
    np.testing.assert_allclose(curves["expected_remaining_lifetime_months"], survival.sum(axis=1))
    assert (curves["expected_remaining_lifetime_months"] <= horizon).all()
    # The inputs are the landmark model's: what it leaves out, the boosted model leaves out.
    features = summary["scoring_model"]["features"]
    assert not set(params["landmark_exclude"]) & set(features)
    assert "tenure_days" in features and "days_observed" not in features


def test_both_models_are_evaluated_on_the_same_rows_and_grid(demo, params, monkeypatch):
    snapshots, attributes = demo
    splits = []

    def spy(*args, **kwargs):
        splits.append(split := evaluation_split(*args, **kwargs))
        return split

    evaluation_split = evaluation.landmark_split
    monkeypatch.setattr(evaluation, "landmark_split", spy)
    usable = with_unusable_excluded(params, attributes)
    landmark_metrics, _ = landmark._evaluate_landmark_model(snapshots, usable)
    boosted_metrics, _ = boosted._evaluate_boosted(snapshots, usable)
    first, second = splits
    assert first.train_rows.index.equals(second.train_rows.index)
    assert first.test_rows.index.equals(second.test_rows.index)
    for field in ("train_days", "train_event", "test_days", "test_event", "grid"):
        np.testing.assert_array_equal(getattr(first, field), getattr(second, field))
    for key in (
        "test_snapshot",
        "train_snapshots",
        "train_rows",
        "test_rows",
        "brier_grid_days",
        "integrated_brier_score_kaplan_meier_reference",
    ):
        assert landmark_metrics[key] == boosted_metrics[key], key
    # Trained before the test snapshot, censored at it.
    assert (first.train_rows["snapshot_date"] < first.test_date).all()
    follow_up_limit = (first.test_date - first.train_rows["snapshot_date"]).dt.days
    assert (first.train_days <= np.maximum(follow_up_limit, 1)).all()


def _perturb_after(snapshots: pd.DataFrame, test_date: pd.Timestamp, seed: int) -> pd.DataFrame:
    """Every outcome the evaluation must not see changed at random: the outcomes of the test
    snapshot, all of the later snapshots (features too), and the follow-up of earlier
    snapshots past the test date (days and whether the customer churned)."""
    rng = np.random.default_rng(seed)
    changed = snapshots.copy()
    on_or_after = changed["snapshot_date"] >= test_date
    n = int(on_or_after.sum())
    changed.loc[on_or_after, "days_observed"] = rng.integers(1, 400, n)
    changed.loc[on_or_after, "churn_observed"] = rng.random(n) < 0.5
    later = changed["snapshot_date"] > test_date
    for column in ("tenure_days", "events_recent", "nps_latest"):
        changed.loc[later, column] = rng.permutation(changed.loc[later, column].to_numpy())
    limit = (test_date - changed["snapshot_date"]).dt.days
    past = (changed["snapshot_date"] < test_date) & (changed["days_observed"] > limit)
    extra = rng.integers(1, 300, int(past.sum()))
    changed.loc[past, "days_observed"] = limit[past] + extra
    changed.loc[past, "churn_observed"] = rng.random(int(past.sum())) < 0.5
    return changed


def _evaluation_models(snapshots: pd.DataFrame, params: dict, monkeypatch) -> dict:
    """Both evaluations run; what their models are and predict for the test rows: the boosted
    model (XGBoost JSON) with its margins, the landmark model's coefficients."""
    seen: dict = {}
    train_aft, margin, fit_weibull_ph = boosted.train_aft, boosted._margin, landmark._fit_weibull_ph

    def spy_train(*args, **kwargs):
        booster, info = train_aft(*args, **kwargs)
        seen["boosted_model"] = bytes(booster.save_raw(raw_format="json"))
        return booster, info

    def spy_margin(booster, rows, spec):
        seen["test_rows"], seen["boosted_margin"] = rows.index, margin(booster, rows, spec)
        return seen["boosted_margin"]

    def spy_weibull(design, penalizer):
        model = fit_weibull_ph(design, penalizer)
        shape = pd.Series({"rho": model.params_["rho"], "alpha": model.params_["alpha"]})
        seen["landmark_coefficients"] = pd.concat([shape, model.params_["beta"]])
        return model

    with monkeypatch.context() as patch:
        patch.setattr(boosted, "train_aft", spy_train)
        patch.setattr(boosted, "_margin", spy_margin)
        patch.setattr(landmark, "_fit_weibull_ph", spy_weibull)
        boosted._evaluate_boosted(snapshots, params)
        landmark._evaluate_landmark_model(snapshots, params)
    return seen


def test_the_evaluation_never_sees_an_outcome_on_or_after_the_test_snapshot(
    demo, params, monkeypatch
):
    """Outcomes on and after the test snapshot perturbed (and later snapshots' features): the
    evaluation models are bit for bit the same, and so are their predictions for the test
    rows (boosted and landmark). Moving churn dates within the training follow-up changes
    them: the comparison can tell."""
    snapshots, attributes = demo
    usable = with_unusable_excluded(params, attributes)
    test_date = evaluation.landmark_split(snapshots, usable).test_date
    original = _evaluation_models(snapshots, usable, monkeypatch)
    assert (snapshots.loc[original["test_rows"], "snapshot_date"] == test_date).all()
    perturbed = _perturb_after(snapshots, test_date, seed=7)
    assert not perturbed[["days_observed", "churn_observed"]].equals(
        snapshots[["days_observed", "churn_observed"]]
    )
    after = _evaluation_models(perturbed, usable, monkeypatch)
    assert after["boosted_model"] == original["boosted_model"]
    np.testing.assert_array_equal(after["boosted_margin"], original["boosted_margin"])
    pd.testing.assert_series_equal(
        after["landmark_coefficients"], original["landmark_coefficients"], rtol=0, atol=0
    )
    # Control: churn dates moved within the training follow-up do change the models.
    moved = snapshots.copy()
    limit = (test_date - moved["snapshot_date"]).dt.days
    churned_early = (moved["snapshot_date"] < test_date) & moved["churn_observed"]
    churned_early &= moved["days_observed"] < limit - 60
    moved.loc[churned_early, "days_observed"] += 60
    control = _evaluation_models(moved, usable, monkeypatch)
    assert not np.array_equal(control["boosted_margin"], original["boosted_margin"])
    assert not control["landmark_coefficients"].equals(original["landmark_coefficients"])


def test_early_stopping_holds_out_whole_customers_of_the_training_rows():
    rows = pd.DataFrame({"customer_id": np.repeat(np.arange(500).astype(str), 4)})
    held = boosted._grouped_holdout(rows, 0.2, seed=1)
    assert 0.15 < held.mean() < 0.25
    on_both_sides = set(rows.loc[held, "customer_id"]) & set(rows.loc[~held, "customer_id"])
    assert on_both_sides == set()
    shuffled = rows.sample(frac=1, random_state=0)  # order does not change who is held out
    assert set(shuffled.loc[boosted._grouped_holdout(shuffled, 0.2, 1), "customer_id"]) == set(
        rows.loc[held, "customer_id"]
    )


def _summary(ibs: float, c_index: float) -> dict:
    return {"status": "fitted", "integrated_brier_score_test": ibs, "c_index_test": c_index}


@pytest.mark.parametrize(
    ("landmark_metrics", "boosted_metrics", "chosen"),
    [
        ((0.050, 0.70), (0.047, 0.71), "boosted"),  # Brier 0.003 lower, C-index higher
        ((0.050, 0.70), (0.047, 0.70), "boosted"),  # C-index equal: not lower
        ((0.050, 0.70), (0.0495, 0.75), "landmark"),  # Brier only 0.0005 lower
        ((0.050, 0.70), (0.040, 0.69), "landmark"),  # much better Brier, worse ranking
        ((0.050, 0.70), (0.052, 0.80), "landmark"),  # worse Brier
    ],
)
def test_the_choice_rule_picks_each_model(params, landmark_metrics, boosted_metrics, chosen):
    snapshot = pd.DataFrame({"customer_id": ["1", "2"], "tenure_days": [10, 20]})
    curves = {
        name: pd.DataFrame({"customer_id": ["1", "2"], "survival_month_1": value})
        for name, value in (("landmark", 0.9), ("boosted", 0.8))
    }
    rule = params | {"boosted": params["boosted"] | {"min_brier_improvement": 0.001}}
    selected, source = nodes.select_survival_curves(
        curves["landmark"],
        curves["boosted"],
        pd.DataFrame(),
        pd.DataFrame(),
        snapshot,
        _summary(*landmark_metrics),
        _summary(*boosted_metrics),
        rule,
    )
    assert source["chosen_model"] == chosen
    assert source["source"] == selection.SOURCES[chosen]
    assert selected is curves[chosen]
    assert source["landmark"]["integrated_brier_score_test"] == landmark_metrics[0]
    assert source["boosted"]["c_index_test"] == boosted_metrics[1]
    assert f"{boosted_metrics[0]:.4f}" in source["why"] and "0.001" in source["why"]


def test_without_one_snapshot_model_the_other_feeds_clv(params):
    snapshot = pd.DataFrame({"customer_id": ["1"], "tenure_days": [10]})
    curves = pd.DataFrame({"customer_id": ["1"], "survival_month_1": [0.9]})
    skipped = {"status": "skipped", "reason": "switched off"}
    chosen, source = nodes.select_survival_curves(
        curves, pd.DataFrame(), pd.DataFrame(), None, snapshot, _summary(0.05, 0.7), skipped, params
    )
    assert chosen is curves and source["source"] == "landmark model"
    assert source["why"] == "the boosted model is not available (skipped: switched off)"
    failed = {"status": "failed", "reason": "failed (ValueError: x)"}
    chosen, source = nodes.select_survival_curves(
        pd.DataFrame(), curves, pd.DataFrame(), None, snapshot, failed, _summary(0.05, 0.7), params
    )
    assert chosen is curves and source["chosen_model"] == "boosted"
    assert "landmark model is not available (failed" in source["why"]


def test_skipped_when_the_run_plan_skips_the_landmark_model(demo, params):
    snapshots, attributes = demo
    summary, curves = nodes.fit_boosted_survival(
        snapshots, run_plan(landmark=False), attributes, params
    )
    assert summary == {"status": "skipped", "reason": "test"}
    assert curves.empty and "expected_remaining_lifetime_months" in curves
    switched_off = params | {"boosted": params["boosted"] | {"enabled": False}}
    summary, curves = nodes.fit_boosted_survival(snapshots, run_plan(), attributes, switched_off)
    assert summary["status"] == "skipped" and "enabled: false" in summary["reason"]
    assert curves.empty


def test_a_failing_boosted_model_is_explained(demo, params, monkeypatch):
    snapshots, attributes = demo

    def out_of_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate")

    monkeypatch.setattr(boosted, "train_aft", out_of_memory)
    summary, curves = nodes.fit_boosted_survival(snapshots, run_plan(), attributes, params)
    assert summary == {"status": "failed", "reason": "failed (MemoryError: Unable to allocate)"}
    assert curves.empty


def test_demo_data_both_models_compared_in_the_summary(fitted, params, record_property):
    """On the demo data both models beat the Kaplan-Meier reference on the same test snapshot;
    the numbers and the decision are in survival_summary.json's model_comparison."""
    landmark_summary, boosted_summary = fitted["landmark_summary"], fitted["boosted_summary"]
    for name, summary in (("landmark", landmark_summary), ("boosted", boosted_summary)):
        for key in (
            "c_index_test",
            "integrated_brier_score_test",
            "integrated_brier_score_kaplan_meier_reference",
            "fit_seconds",
        ):
            record_property(f"{name}_{key}", summary[key])
        assert summary["c_index_test"] > 0.6, name
        assert (
            summary["integrated_brier_score_test"]
            < summary["integrated_brier_score_kaplan_meier_reference"]
        ), name
    curves, source = nodes.select_survival_curves(
        fitted["landmark_curves"],
        fitted["boosted_curves"],
        pd.DataFrame(),
        pd.DataFrame(),
        pd.DataFrame(),
        landmark_summary,
        boosted_summary,
        params,
    )
    record_property("chosen_model", source["chosen_model"])
    summary = nodes.summarise_survival({}, {}, {}, landmark_summary, boosted_summary, source)
    assert {"kaplan_meier", "cox", "weibull_aft", "landmark", "boosted"} <= set(summary)
    assert summary["survival_curves_for_clv"] is source
    comparison = summary["model_comparison"]
    assert set(comparison["c_index_test"]) == {"cox", "weibull_aft", "landmark", "boosted"}
    assert comparison["integrated_brier_score_test"] == {
        "landmark": landmark_summary["integrated_brier_score_test"],
        "boosted": boosted_summary["integrated_brier_score_test"],
        "kaplan_meier_reference": landmark_summary["integrated_brier_score_kaplan_meier_reference"],
    }
    assert comparison["decision"]["chosen_model"] == source["chosen_model"]
    assert "note" in comparison
