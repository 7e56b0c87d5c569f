"""Censoring by hand, planted hazard ratios recovered, survival-curve invariants."""

from __future__ import annotations

import copy

import ibis
import lifelines
import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from customer_retention.models.clv import DAYS_PER_MONTH
from customer_retention.models.simulation import true_churn_probability
from customer_retention.pipelines.data_cleaning.nodes import clean_customers
from customer_retention.pipelines.demo_data.nodes import generate_demo_data
from customer_retention.pipelines.feature_engineering import nodes as features
from customer_retention.pipelines.reporting.nodes import ph_note
from customer_retention.pipelines.survival_analysis import cox, cox_nodes, km, nodes
from customer_retention.pipelines.survival_analysis.design import sample_rows

from ...conftest import attribute_profile, load_parameters, run_plan, tiny_tables, tiny_timeline
from ..feature_engineering.test_nodes import compute_snapshots

DAYS = DAYS_PER_MONTH


@pytest.fixture(scope="module")
def params() -> dict:
    return load_parameters("survival_analysis")


def test_survival_table_censors_active_customers_by_hand(params):
    tables = tiny_tables()
    timeline = tiny_timeline(tables)
    table = nodes.build_survival_table(tables["customers"], timeline).set_index("customer_id")
    assert table.loc["A", ["tenure_days", "churned"]].tolist() == [74, True]  # Jan 1 -> Mar 15
    assert table.loc["B", ["tenure_days", "churned"]].tolist() == [90, False]  # censored at May 1
    assert table.loc["C", ["tenure_days", "churned"]].tolist() == [
        22,
        True,
    ]  # first episode ends Feb 1


def test_kaplan_meier_summary_matches_hand_computation(params):
    # Months 1..5; churned at 1, 3, 4; censored at 2 and 5.
    frame = pd.DataFrame({"d": np.arange(1, 6) * DAYS, "e": [True, False, True, True, False]})
    summary = km._km_segment_summary(frame, "d", "e", params | {"survival_at_months": [1, 3, 4, 6]})
    # S(1) = 4/5; S(3) = 4/5 * 2/3; S(4) = S(3) * 1/2; month 6 is past the follow-up.
    assert summary["survival_1m"] == pytest.approx(0.8)
    assert summary["survival_3m"] == pytest.approx(0.8 * 2 / 3)
    assert summary["survival_4m"] == pytest.approx(0.8 * 2 / 3 / 2)
    assert summary["survival_6m"] is None
    assert summary["median_survival_days"] == pytest.approx(4 * DAYS)
    assert (summary["customers"], summary["churned"]) == (5, 3)


@pytest.fixture(scope="module")
def default_size_demo() -> dict:
    """The demo data at the default size of `make run` (the issue's acceptance size)."""
    demo = load_parameters("demo_data")
    output = generate_demo_data(copy.deepcopy(demo))
    cleaning = load_parameters("data_cleaning") | {"reference_date": "2026-01-31"}
    customers = clean_customers(output[0], cleaning)[0]
    subscriptions = output[1].astype({"customer_id": "string"})
    subscriptions = subscriptions[
        subscriptions["end_date"].isna()
        | (subscriptions["end_date"] >= subscriptions["start_date"])
    ]
    fe = load_parameters("feature_engineering")
    timeline = features.build_customer_timeline(
        customers, ibis.memtable(subscriptions), ibis.memtable(output[2].iloc[:0]), fe
    )
    return {"customers": customers, "timeline": timeline, "truth": output[-1]}


def test_cox_recovers_the_planted_hazard_ratios(default_size_demo, params):
    table = nodes.build_survival_table(
        default_size_demo["customers"], default_size_demo["timeline"]
    )
    snapshots = pd.DataFrame(
        {
            "customer_id": table["customer_id"],
            "snapshot_date": pd.Timestamp("2025-06-01"),
            "tenure_days": 30,
        }
    )
    summary, hazard_ratios, risk = nodes.fit_cox_model(table, snapshots, run_plan(), 90, params)[:3]
    hr = hazard_ratios.set_index("covariate")
    planted = {
        f"{attribute}={level}": ratio
        for attribute, levels in default_size_demo["truth"]["hazard_ratios"].items()
        for level, ratio in levels.items()
        if attribute in table.columns
    }
    assert len(planted) == 5
    inside = 0
    for covariate, truth in planted.items():
        estimate = hr.loc[covariate]
        assert estimate["hazard_ratio"] == pytest.approx(truth, rel=0.15), covariate
        inside += estimate["ci_lower_95"] <= truth <= estimate["ci_upper_95"]
    assert inside >= 4
    for region in [c for c in hr.index if c.startswith("region=")]:  # no planted effect
        assert hr.loc[region, "ci_lower_95"] < 1 < hr.loc[region, "ci_upper_95"]
    assert summary["ph_test"]["violating_attributes"] == []  # the planted model is PH
    assert 0.58 < summary["c_index_test"] < 0.7
    aft = nodes.fit_weibull_aft(table, run_plan(), params)
    assert aft["weibull_shape"] == pytest.approx(
        default_size_demo["truth"]["baseline_hazard"]["weibull_shape"], rel=0.1
    )


def test_the_scale_guards_change_nothing_on_the_demo_data(default_size_demo, params):
    """The demo's few attributes are under every cap: the Cox and AFT outputs are those of a
    run without the guards (no screen, no PH-test width cap, no strata cap), exactly."""
    table = nodes.build_survival_table(
        default_size_demo["customers"], default_size_demo["timeline"]
    )
    snapshots = table[["customer_id"]].assign(
        snapshot_date=pd.Timestamp("2025-06-01"), tenure_days=45
    )
    unguarded = params | {
        "max_covariates": None,
        "cox": params["cox"] | {"ph_test_max_values": None, "max_strata_groups": None},
    }
    guarded = nodes.fit_cox_model(table, snapshots, run_plan(), 90, params)
    plain = nodes.fit_cox_model(table, snapshots, run_plan(), 90, unguarded)
    assert guarded[0]["attribute_screen"]["applied"] is False
    volatile = {"fit_seconds", "attribute_screen"}
    assert {k: v for k, v in guarded[0].items() if k not in volatile} == {
        k: v for k, v in plain[0].items() if k not in volatile
    }
    for ours, theirs in zip(guarded[1:], plain[1:], strict=True):
        pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
    aft, aft_plain = (nodes.fit_weibull_aft(table, run_plan(), p) for p in (params, unguarded))
    aft.pop("fit_seconds"), aft_plain.pop("fit_seconds")
    assert aft == aft_plain


def _crossing_hazards_table(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customers whose ``profile`` violates proportional hazards, and one snapshot of them."""
    rng = np.random.default_rng(1)
    crossing = rng.random(n) < 0.5
    # Group "late": low hazard early, high later (Weibull shape 3 vs 0.7): not proportional.
    days = np.where(crossing, 400 * rng.weibull(3, n), 400 * rng.weibull(0.7, n))
    table = pd.DataFrame(
        {
            "customer_id": np.arange(n).astype(str),
            "signup_date": pd.Timestamp("2024-01-01"),
            "profile": np.where(crossing, "late", "early"),
            "plan": rng.choice(["basic", "pro"], n),
            "tenure_days": np.ceil(np.minimum(days, 700)).astype(int),
            "churned": days < 700,
        }
    )
    snapshots = table[["customer_id"]].assign(
        snapshot_date=pd.Timestamp("2024-06-01"), tenure_days=100
    )
    return table, snapshots


def test_stratifies_an_attribute_that_violates_proportional_hazards(params):
    table, snapshots = _crossing_hazards_table(3000)
    summary, hazard_ratios, risk = nodes.fit_cox_model(table, snapshots, run_plan(), 90, params)[:3]
    assert summary["ph_test"]["violating_attributes"] == ["profile"]
    assert risk["churn_probability"].between(0, 1).all()  # works with strata too
    assert summary["ph_test"]["handling"] == "stratified by ['profile']"
    # The hazard ratios come from the unstratified fit: the stratified attribute keeps its
    # ratio, flagged as violating proportional hazards (an average over time).
    ratios = hazard_ratios.set_index("covariate")
    profile = [c for c in ratios.index if c.startswith("profile=")]
    assert len(profile) == 1 and set(ratios.index) == {*profile, "plan=pro"}
    assert ratios.loc[profile[0], ["ph_violated", "stratified"]].tolist() == [True, True]
    assert ratios.loc["plan=pro", ["ph_violated", "stratified"]].tolist() == [False, False]
    # The strongest attribute was stratified: recorded, and the report says so.
    assert summary["strongest_attribute"] == "profile"
    assert summary["ph_test"]["strongest_attribute_stratified"] is True
    note = ph_note(summary)
    assert "Proportional hazards do not hold for profile" in note
    assert "the attribute with the strongest effect, is among them" in note


def test_strata_are_capped_and_numeric_violations_only_warned(params):
    rng = np.random.default_rng(2)
    n = 4000
    late, later, age = rng.random(n) < 0.5, rng.random(n) < 0.5, rng.uniform(20, 70, n)
    # Three attributes whose effects change with tenure (Weibull shapes), none proportional.
    shape = 0.7 + 1.5 * late + 1.2 * later + 0.04 * (age - 45)
    days = 400 * rng.weibull(np.clip(shape, 0.3, None))
    table = pd.DataFrame(
        {
            "customer_id": np.arange(n).astype(str),
            "signup_date": pd.Timestamp("2024-01-01"),
            "profile": np.where(late, "late", "early"),
            "profile_copy": np.where(later, "late", "early"),
            "plan": rng.choice(["basic", "pro"], n),
            "age": age,
            "tenure_days": np.ceil(np.minimum(days, 700)).astype(int),
            "churned": days < 700,
        }
    )
    snapshots = table[["customer_id"]].assign(
        snapshot_date=pd.Timestamp("2024-06-01"), tenure_days=100
    )
    capped = params | {"cox": params["cox"] | {"max_strata": 1}}
    summary, ratios, risk = nodes.fit_cox_model(table, snapshots, run_plan(), 90, capped)[:3]
    ph = summary["ph_test"]
    assert len(ph["stratified_attributes"]) == 1  # capped
    assert set(ph["violating_attributes"]) > set(ph["stratified_attributes"])
    assert "age" not in ph["stratified_attributes"]  # numeric: never a stratum
    # Every attribute keeps a hazard ratio; held-out customers in unseen strata are counted.
    assert {c.split("=")[0] for c in ratios["covariate"]} == {
        "profile",
        "plan",
        "profile_copy",
        "age",
    }
    assert summary["c_index_split"]["test_customers_in_unseen_strata"] == 0
    assert risk["churn_probability"].between(0, 1).all()


def test_landmark_curves_are_valid_and_beat_kaplan_meier(clean_demo, params):
    snapshots = compute_snapshots(clean_demo, load_parameters("feature_engineering"))
    summary, curves, check = nodes.fit_landmark_model(
        snapshots, run_plan(), attribute_profile(clean_demo["customers"]), params
    )
    observed = check[check["kind"] == "observed"]["survival"].to_numpy()
    predicted = check[check["kind"] == "predicted"]["survival"].to_numpy()
    assert observed[0] == 1.0 and (np.diff(observed) <= 0).all()
    assert (
        len(predicted) == len(summary["brier_grid_days"])
        and ((predicted > 0) & (predicted < 1)).all()
    )
    # The check on the chart is the one the metrics judge: predictions close to what happened.
    assert (
        np.abs(
            predicted
            - np.interp(
                check[check["kind"] == "predicted"]["months"],
                check[check["kind"] == "observed"]["months"],
                observed,
            )
        ).max()
        < 0.05
    )
    survival = curves.filter(like="survival_month_").to_numpy()
    assert survival.shape[1] == params["landmark"]["horizon_months"]
    assert ((survival >= 0) & (survival <= 1)).all()
    assert (np.diff(survival, axis=1) <= 1e-12).all()
    as_of = snapshots[snapshots["is_as_of_snapshot"]]
    assert sorted(curves["customer_id"]) == sorted(as_of["customer_id"])
    assert (
        curves["expected_remaining_lifetime_months"] <= params["landmark"]["horizon_months"]
    ).all()
    assert (
        summary["integrated_brier_score_test"]
        < summary["integrated_brier_score_kaplan_meier_reference"]
    )
    assert summary["c_index_test"] > 0.6
    # Tenure at the snapshot is an input, not overwritten by the outcome (days to churn).
    hazard_ratios = summary["scoring_model"]["hazard_ratios"]
    assert "tenure_days" in hazard_ratios and np.isfinite(hazard_ratios["tenure_days"])
    assert not {"days_to_churn", "churned_after_snapshot"} & set(hazard_ratios)


def test_cox_risk_scores_follow_the_planted_multiplier(default_size_demo, params):
    table = nodes.build_survival_table(
        default_size_demo["customers"], default_size_demo["timeline"]
    )
    snapshots = table[["customer_id"]].assign(
        snapshot_date=pd.Timestamp("2025-06-01"), tenure_days=60
    )
    _, _, risk = nodes.fit_cox_model(table, snapshots, run_plan(), 90, params)[:3]
    truth = pd.DataFrame(default_size_demo["truth"]["customers"]).astype({"customer_id": str})
    joined = risk.merge(truth, on="customer_id")
    assert joined["churn_probability"].between(0, 1).all()
    # Same tenure for everyone: the ranking follows the planted multiplier ...
    assert (
        joined[["churn_probability", "true_hazard_multiplier"]].corr(method="spearman").iloc[0, 1]
        > 0.3
    )
    # ... and on average the probability matches the truth (calibration in the large).
    oracle = true_churn_probability(
        default_size_demo["truth"], joined["customer_id"].astype(int), 60, 90
    )
    assert joined["churn_probability"].mean() == pytest.approx(oracle.mean(), abs=0.01)


def test_cox_fits_and_tests_on_samples_but_scores_every_customer(params):
    table, snapshots = _crossing_hazards_table(6000)
    sampled = params | {
        "max_customers": 4000,
        "cox": params["cox"] | {"ph_test_max_customers": 2500},
    }
    summary, _, risk = nodes.fit_cox_model(table, snapshots, run_plan(), 90, sampled)[:3]
    assert (summary["customers"], summary["customers_available"]) == (4000, 6000)
    assert summary["ph_test_customers"] == 2500
    assert summary["ph_test"]["violating_attributes"] == ["profile"]  # still found on the sample
    assert len(risk) == len(snapshots) and risk["churn_probability"].between(0, 1).all()


def test_design_matrix_is_one_hot_without_the_reference_level():
    frame = pd.DataFrame(
        {
            "plan": pd.Categorical(["pro", "basic", "pro", None, "enterprise"]),
            "region": ["eu", "us", "us", "us", "eu"],
            "usage": [1.5, np.nan, 3.0, 0.0, 2.0],
        }
    )
    design = nodes.design_matrix(frame, ["plan", "region", "usage"], {"plan": "basic"})
    expected = pd.concat(
        [
            pd.get_dummies(
                frame["plan"].astype(str), prefix="plan", prefix_sep="=", dtype=float
            ).drop(columns="plan=basic"),
            pd.get_dummies(frame["region"], prefix="region", prefix_sep="=", dtype=float).drop(
                columns="region=us"
            ),  # most frequent level is the reference
            frame[["usage"]],
        ],
        axis=1,
    )
    pd.testing.assert_frame_equal(design, expected)


def test_cox_risk_scores_equal_lifelines_row_by_row(params):
    """Scoring each distinct (covariates, tenure) once gives every row lifelines' own value,
    with and without strata."""
    table, _ = _crossing_hazards_table(3000)
    rng = np.random.default_rng(5)
    snapshots = pd.DataFrame(
        {
            "customer_id": rng.choice(table["customer_id"].to_numpy(), 2000).astype(object),
            "snapshot_date": pd.Timestamp("2024-06-01"),
            "tenure_days": rng.integers(0, 400, 2000),
        }
    )
    snapshots.loc[0, "customer_id"] = "not a customer"
    design = nodes.static_design(table, params)
    covariates = design.drop(columns=["tenure_days", "churned"])
    for strata in (None, ["profile"]):
        data = design
        if strata:
            dummies = [c for c in design if c.startswith("profile=")]
            data = pd.concat([design.drop(columns=dummies), table[strata]], axis=1)
            covariates = data.drop(columns=["tenure_days", "churned"])
        model = CoxPHFitter(penalizer=0.001).fit(data, "tenure_days", "churned", strata=strata)
        risk = nodes.cox_churn_probability(model, covariates, table, snapshots, 90)
        assert np.isnan(risk["churn_probability"].iloc[0])
        X = covariates.set_index(table["customer_id"]).loc[snapshots["customer_id"].iloc[1:]]
        direct = model.predict_survival_function(
            X.reset_index(drop=True),
            times=[90],
            conditional_after=snapshots["tenure_days"].iloc[1:].to_numpy(),
        )
        expected = 1 - direct.reindex(columns=range(len(X))).to_numpy()[0]
        np.testing.assert_allclose(risk["churn_probability"].iloc[1:], expected, rtol=0, atol=0)


def test_expected_lifetimes_in_blocks_equal_lifelines_in_one_call(params, monkeypatch):
    """The held-out C-index of a stratified fit ranks by E[T | x]; computed a few rows at a
    time (memory), every value is lifelines' own, in the rows' order."""
    table, _ = _crossing_hazards_table(3000)
    design = nodes.static_design(table, params)
    dummies = [c for c in design if c.startswith("profile=")]
    data = pd.concat([design.drop(columns=dummies), table[["profile"]]], axis=1)
    model = CoxPHFitter(penalizer=0.001).fit(data, "tenure_days", "churned", strata=["profile"])
    rows = data.sample(frac=1, random_state=3).iloc[:1000]  # shuffled index
    times = len(model.baseline_cumulative_hazard_.index)
    monkeypatch.setattr(cox, "EXPECTATION_CELLS", 37 * times)  # blocks of 37 rows
    blocks = cox.expected_lifetime(model, rows)
    whole = model.predict_expectation(rows)
    assert blocks.index.equals(rows.index)
    np.testing.assert_array_equal(blocks.to_numpy(), whole.to_numpy())


def test_km_curves_start_at_one_never_rise_and_stop_before_the_noisy_tail():
    rng = np.random.default_rng(1)
    n = 400
    table = pd.DataFrame(
        {
            "customer_id": [str(i) for i in range(n)],
            "plan": np.where(np.arange(n) < 300, "basic", "pro"),
            "tenure_days": rng.integers(1, 900, n),
            "churned": rng.random(n) < 0.6,
        }
    )
    snapshots = pd.DataFrame(
        {
            "customer_id": ["1", "2"],
            "snapshot_date": pd.to_datetime(["2025-01-01"] * 2),
            "churned_within_horizon": [0.0, 1.0],
            "days_observed": [100, 20],
            "churn_observed": [False, True],
        }
    )
    params = load_parameters("survival_analysis") | {
        "km_segments": ["plan", "region"],  # region is absent: skipped
        "landmark_km_segments": ["nps_class"],  # absent from the snapshots: skipped
    }
    plan = run_plan(segments=("plan", "contract_type", "acquisition_channel", "region"))
    curves = nodes.estimate_km_curves(table, snapshots, plan, params, min_at_risk=20)
    assert set(curves["segment"]) == {"plan"}
    assert list(dict.fromkeys(curves["group"])) == ["basic", "pro"]
    for group, curve in curves.groupby("group"):
        assert curve["survival"].iat[0] == pytest.approx(1.0)
        assert (np.diff(curve["survival"]) <= 1e-12).all()
        members = table[table["plan"] == group]
        last_month = curve["months"].max()
        still_observed = (members["tenure_days"] / DAYS_PER_MONTH >= last_month).sum()
        assert still_observed >= 20  # never drawn where fewer than 20 remain at risk


def test_stage_charts_are_drawn_by_the_shared_chart_module(monkeypatch):
    """One chart layer: the survival stage's versioned charts come from customer_retention.core
    .charts, the functions the report uses."""
    from customer_retention.core import charts

    drawn = []
    for name in ("kaplan_meier_grid", "hazard_forest", "landmark_check"):
        monkeypatch.setattr(charts, name, lambda *a, _n=name, **k: drawn.append(_n) or _n)
    curves = pd.DataFrame(
        {"segment": "plan", "group": ["a", "b"], "origin": "signup", "months": 0.0, "survival": 1.0}
    )
    logrank = pd.DataFrame(
        [{"segment": "plan", "comparison": "all groups", "test_statistic": 1.0, "p_value": 0.3}]
    )
    assert nodes.plot_kaplan_meier(curves, logrank) == "kaplan_meier_grid"
    ratios = pd.DataFrame(
        {
            "covariate": ["plan=b"],
            "hazard_ratio": [1.2],
            "ci_lower_95": [1.0],
            "ci_upper_95": [1.4],
            "p_value": [0.04],
            "ph_p_value": [0.5],
            "ph_violated": [False],
            "stratified": [False],
        }
    )
    assert nodes.plot_hazard_ratios(ratios, {"reference_levels": {}}, {}) == "hazard_forest"
    check = pd.DataFrame(
        {"kind": ["observed", "predicted"], "months": [0.0, 1.0], "survival": [1.0, 0.9]}
    )
    assert nodes.plot_landmark_check(check, {"test_snapshot": "2025-01-01"}) == "landmark_check"
    assert drawn == ["kaplan_meier_grid", "hazard_forest", "landmark_check"]


def test_a_failing_optional_model_costs_its_section_not_the_run(params, monkeypatch, caplog):
    """Cox raising (here: out of memory) gives 'failed' outputs with the reason; the curves
    for CLV then come from Kaplan-Meier, and the error is logged with its traceback."""
    table, snapshots = _crossing_hazards_table(500)
    snapshots = snapshots.assign(is_as_of_snapshot=True)

    def out_of_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 69.7 GiB")

    monkeypatch.setattr(cox_nodes.cox, "fit_cox", out_of_memory)
    plan = run_plan(landmark=False)
    summary, ratios, risk, curves = nodes.fit_cox_model(table, snapshots, plan, 90, params)
    assert summary == {
        "status": "failed",
        "reason": "failed (MemoryError: Unable to allocate 69.7 GiB)",
    }
    assert ratios.empty and risk["churn_probability"].isna().all() and curves.empty
    assert any(r.levelname == "ERROR" and r.exc_info for r in caplog.records)
    chosen, source = nodes.select_survival_curves(
        pd.DataFrame(), pd.DataFrame(), curves, table, snapshots, {}, {}, params
    )
    assert source["source"].startswith("Kaplan-Meier") and len(chosen) == len(snapshots)
    monkeypatch.setattr(lifelines, "WeibullAFTFitter", out_of_memory)  # imported when fitted
    assert nodes.fit_weibull_aft(table, plan, params)["status"] == "failed"


def test_a_stratum_the_sampled_fit_never_saw_gets_no_score_instead_of_failing(params):
    table, snapshots = _crossing_hazards_table(3000)
    sampled = params | {"max_customers": 2000}
    in_sample = sample_rows(table, 2000, sampled["seed"], "test").index
    unseen = table.index.difference(in_sample)[:5]
    table.loc[unseen, "profile"] = "rare"  # a level only customers outside the sample have
    summary, _, risk, _ = nodes.fit_cox_model(table, snapshots, run_plan(), 90, sampled)
    assert summary["status"] == "fitted" and summary["customers"] == 2000
    assert "profile" in summary["ph_test"]["stratified_attributes"]
    scored = risk.set_index("customer_id")["churn_probability"]
    rare = table.loc[unseen, "customer_id"]
    assert scored[rare].isna().all() and scored.drop(rare).notna().all()
