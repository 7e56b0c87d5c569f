"""Scale guards of the survival stage: the attribute screen keeps the informative attributes
within the covariate cap, the PH test and the strata stay bounded, Kaplan-Meier compares a
bounded number of automatic segments; under the caps nothing changes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.statistics import multivariate_logrank_test

from customer_retention.pipelines.survival_analysis import cox, landmark, nodes, screening

from ...conftest import load_parameters, run_plan

LEVELS = np.array(["a", "b", "c", "d"])
SIGNALS = ["signal_0", "signal_1", "signal_2", "signal_3"]


@pytest.fixture(scope="module")
def params() -> dict:
    return load_parameters("survival_analysis")


def wide_table(n: int = 2500, noise: int = 50, seed: int = 3) -> pd.DataFrame:
    """Customers with four four-level attributes and one numeric attribute that change the
    hazard (planted), and ``noise`` four-level attributes that do not."""
    rng = np.random.default_rng(seed)
    codes = {name: rng.integers(0, 4, n) for name in SIGNALS}
    usage = rng.normal(0, 1, n)
    log_hazard = sum(0.3 * c for c in codes.values()) - 0.4 * usage
    days = rng.exponential(365 * np.exp(-log_hazard))
    follow_up = rng.uniform(200, 900, n)
    table = pd.DataFrame(
        {"customer_id": np.arange(n).astype(str), "signup_date": pd.Timestamp("2023-01-01")}
    )
    for name, c in codes.items():
        table[name] = LEVELS[c]
    table["usage"] = usage
    for i in range(noise):
        table[f"noise_{i:03d}"] = LEVELS[rng.integers(0, 4, n)]
    table["tenure_days"] = np.ceil(np.minimum(days, follow_up)).astype(int)
    table["churned"] = days < follow_up
    return table


def test_the_score_test_of_a_categorical_attribute_is_the_log_rank_test():
    table = wide_table(n=1500, noise=3)
    tests = screening.score_tests(table, ["signal_0", "noise_000", "usage"]).set_index("attribute")
    for attribute in ("signal_0", "noise_000"):
        logrank = multivariate_logrank_test(
            table["tenure_days"], table[attribute], table["churned"]
        )
        assert tests.loc[attribute, "chi_square"] == pytest.approx(logrank.test_statistic)
        assert tests.loc[attribute, "df"] == 3
        assert tests.loc[attribute, "p_value"] == pytest.approx(logrank.p_value)
    # A numeric attribute: the Cox score test, close to the Wald test of its univariate fit.
    fitted = CoxPHFitter().fit(table[["usage", "tenure_days", "churned"]], "tenure_days", "churned")
    assert tests.loc["usage", "chi_square"] == pytest.approx(
        fitted.summary.loc["usage", "z"] ** 2, rel=0.05
    )


def test_the_screen_keeps_the_planted_attributes_among_many_noise_attributes(params):
    table = wide_table()  # 4 x 3 + 1 + 50 x 3 = 163 design columns
    capped = params | {"max_covariates": 30}
    screened, record = screening.screen_attributes(table, capped, "Cox PH")
    assert record["applied"] and record["covariates_available"] == 163
    assert {*SIGNALS, "usage"} <= set(record["kept"])
    assert record["covariates_kept"] <= 30
    assert sorted(record["kept"] + record["dropped"]) == sorted(record["attributes"])
    ranks = {a: record["attributes"][a]["rank"] for a in (*SIGNALS, "usage")}
    assert max(ranks.values()) == 5  # the planted five come first
    assert all(record["attributes"][a]["why"].endswith("covariates") for a in record["dropped"])
    assert list(screened.columns) == [
        c for c in table.columns if c not in record["dropped"]
    ]  # the table's order
    # The Cox model takes the screened attributes only, and says so.
    snapshots = table[["customer_id"]].assign(
        snapshot_date=pd.Timestamp("2024-01-01"), tenure_days=30
    )
    summary, ratios, risk = nodes.fit_cox_model(table, snapshots, run_plan(), 90, capped)[:3]
    assert summary["attribute_screen"]["kept"] == summary["attributes"] == record["kept"]
    assert len(summary["covariates"]) <= 30
    assert {c.split("=")[0] for c in ratios["covariate"]} == set(record["kept"])
    assert risk["churn_probability"].between(0, 1).all()


def test_listed_attributes_are_always_kept_and_count_against_the_cap(params):
    table = wide_table(n=1500, noise=20)
    listed = params | {"max_covariates": 20, "keep_attributes": ["noise_007"]}
    _, record = screening.screen_attributes(table, listed, "Cox PH")
    assert "noise_007" in record["kept"] and record["always_kept"] == ["noise_007"]
    assert record["attributes"]["noise_007"]["why"].startswith("always kept")
    assert record["covariates_kept"] <= 20
    # A configured segment list and a configured reference level are the user's choice too.
    named = screening.always_kept(
        params | {"km_segments": ["noise_001"], "reference_levels": {"noise_002": "a"}},
        list(table.columns),
    )
    assert set(named) == {"noise_001", "noise_002"}


def test_under_the_cap_the_screen_changes_nothing(params):
    table = wide_table(n=800, noise=2)
    screened, record = screening.screen_attributes(table, params, "Cox PH")
    assert screened is table
    assert record == {
        "max_covariates": params["max_covariates"],
        "covariates_available": 4 * 3 + 1 + 2 * 3,
        "attributes_available": 7,
        "applied": False,
        "kept": [c for c in table.columns if c.startswith(("signal", "usage", "noise"))],
        "dropped": [],
    }


def test_the_weibull_aft_and_landmark_models_leave_out_what_the_screen_drops(params, monkeypatch):
    table = wide_table(n=1500, noise=20)
    capped = params | {"max_covariates": 20}
    aft = nodes.fit_weibull_aft(table, run_plan(), capped)
    _, record = screening.screen_attributes(table, capped, "Cox PH")
    assert aft["attribute_screen"]["attributes_left_out"] == record["dropped"]
    assert {k.split(":")[1].split("=")[0] for k in aft["coefficients"]} - {"Intercept"} <= set(
        record["kept"]
    )
    seen = {}

    def evaluate(snapshots, landmark_params):
        seen["exclude"] = landmark_params["landmark_exclude"]
        raise RuntimeError("stop here")

    monkeypatch.setattr(landmark, "_evaluate_landmark_model", evaluate)
    summary = nodes.fit_landmark_model(pd.DataFrame(), run_plan(), {}, capped, table)[0]
    assert summary["status"] == "failed"  # stopped on purpose, after the screen
    assert set(record["dropped"]) <= set(seen["exclude"])
    assert not set(record["kept"]) & set(seen["exclude"])


def test_an_attribute_that_would_make_too_many_strata_is_not_stratified():
    rng = np.random.default_rng(0)
    n = 400
    table = pd.DataFrame(
        {
            "many": rng.integers(0, 10, n).astype(str),
            "two": rng.choice(["x", "y"], n),
            "three": rng.choice(["p", "q", "r"], n),
        }
    )
    p_values = pd.Series({"many=1": 1e-9, "two=y": 1e-6, "three=q": 1e-4})
    assert cox.choose_strata(p_values, table, 0.01, 2) == (["many", "two"], ["three"])
    strata, others = cox.choose_strata(p_values, table, 0.01, 2, max_groups=6)
    assert strata == ["three", "two"] and others == ["many"]  # 2 x 3 strata fit, 10 do not


def test_the_ph_test_sample_shrinks_with_the_number_of_covariates():
    limits = {"ph_test_max_customers": 30000, "ph_test_max_values": 1_000_000}
    assert cox.ph_test_rows(10, limits) == 30000  # the demo's width: as before
    assert cox.ph_test_rows(100, limits) == 10000
    assert cox.ph_test_rows(100, limits | {"ph_test_max_values": None}) == 30000
    assert cox.ph_test_rows(100, {"ph_test_max_customers": None}) is None


def test_automatic_kaplan_meier_segments_are_capped_to_the_strongest(params):
    table = wide_table(n=1500, noise=6)
    segments = ["noise_000", "signal_1", "noise_001", "signal_2", "noise_002"]
    auto = params | {"km_segments": "auto", "km_max_segments": 2}
    chosen, record = screening.compared_segments(table, segments, auto)
    assert chosen == ["signal_1", "signal_2"]
    assert record["left_out"] and set(record["left_out"]) == set(segments) - set(chosen)
    assert screening.compared_segments(table, segments, auto | {"km_max_segments": 5}) == (
        segments,
        None,
    )
    listed = params | {"km_segments": segments, "km_max_segments": 2}
    assert screening.compared_segments(table, segments, listed) == (segments, None)
    plan = run_plan(segments=tuple(segments))
    no_snapshots = pd.DataFrame(
        {"snapshot_date": pd.Series(dtype="datetime64[ns]"), "churned_within_horizon": []}
    )
    summary, tests = nodes.fit_kaplan_meier_by_segment(table, no_snapshots, plan, auto)
    assert set(summary["segments"]) == {"signal_1", "signal_2"}
    assert summary["segments_compared"]["compared"] == chosen
    assert set(tests["segment"]) == {"signal_1", "signal_2"}
