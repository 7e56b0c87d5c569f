"""KPI identities on demo data and hand-computed values on a three-customer example."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from customer_retention.pipelines.feature_engineering import nodes as features
from customer_retention.pipelines.retention_metrics import nodes

from ...conftest import load_parameters, tiny_tables, tiny_timeline
from ..feature_engineering.test_nodes import compute_snapshots


@pytest.fixture(scope="module")
def tiny() -> dict:
    tables = tiny_tables()
    timeline = tiny_timeline(tables)
    monthly = nodes.build_monthly_retention(
        timeline, ibis.memtable(tables["subscriptions"]), tables["feedback"]
    )
    return {"tables": tables, "timeline": timeline, "monthly": monthly.set_index("month")}


def test_tiny_customer_movements_match_hand_computation(tiny):
    m = tiny["monthly"]
    columns = ["customers_start", "new_customers", "churned_customers", "customers_end"]
    assert m.loc["2024-01", columns].tolist() == [0, 2, 1, 1]
    assert m.loc["2024-02", columns].tolist() == [1, 1, 0, 2]
    assert m.loc["2024-03", columns].tolist() == [2, 1, 1, 2]
    assert m.loc["2024-04", columns].tolist() == [2, 0, 0, 2]
    assert m.loc["2024-02", "retention_rate"] == 100
    assert m.loc["2024-03", ["retention_rate", "churn_rate"]].tolist() == [50, 50]
    assert np.isnan(m.loc["2024-01", "retention_rate"])  # no customers at the start


def test_tiny_mrr_movements_and_nps_match_hand_computation(tiny):
    m = tiny["monthly"]
    march = m.loc["2024-03"]
    assert (march["mrr_start"], march["mrr_end"], march["new_mrr"], march["churned_mrr"]) == (
        200,
        300,
        150,
        50,
    )
    assert march["net_revenue_retention"] == 75 and march["gross_revenue_retention"] == 75
    assert m.loc["2024-01", "nps"] == 100 and m.loc["2024-02", "nps"] == -100


def test_tiny_cohort_matrix(tiny):
    cohort = nodes.build_cohort_retention(tiny["tables"]["customers"], tiny["timeline"]).set_index(
        "signup_month"
    )
    assert cohort.loc["2024-01", ["cohort_size", "0", "1", "2", "3"]].tolist() == [
        2,
        1,
        1,
        0.5,
        0.5,
    ]
    assert cohort.loc["2024-02", ["0", "1", "2"]].tolist() == [1, 1, 1]
    assert np.isnan(cohort.loc["2024-02", "3"])  # June 1st is after the as-of date


def test_cohort_shares_are_the_share_of_each_cohort_still_active_customer_by_customer():
    """The cohort counts (sorted ends per cohort) against the definition, customer by customer:
    at the start of month (signup month + k + 1) a customer is still active when their end is
    later; NaN when that instant is after the as-of date."""
    rng = np.random.default_rng(7)
    n = 400
    cohort_month = (np.datetime64("2023-01") + rng.integers(0, 9, n)).astype("datetime64[M]")
    end = np.datetime64("2023-01-01T00:00:00", "ns") + rng.integers(0, 500, n) * np.timedelta64(
        1, "D"
    )
    end[rng.random(n) < 0.3] = pd.Timestamp.max.to_datetime64()  # still active
    as_of = np.datetime64("2023-10-20", "ns")
    found = nodes._still_active_shares(cohort_month, end, 10, as_of)
    for month in np.unique(cohort_month):
        members = end[cohort_month == month]
        row = found.loc[str(month)]
        assert row["cohort_size"] == len(members)
        for k in range(10):
            instant = (month + k + 1).astype("datetime64[ns]")
            expected = np.nan if instant > as_of else np.mean(members > instant)
            assert row[str(k)] == expected or (np.isnan(expected) and np.isnan(row[str(k)]))
    # Every cohort after the as-of month (a negative horizon): sizes only, as before.
    early = nodes._still_active_shares(cohort_month, end, -3, np.datetime64("2022-06-01", "ns"))
    assert early.columns.tolist() == ["cohort_size"] and early["cohort_size"].sum() == n


@pytest.fixture(scope="module")
def demo_metrics(request) -> dict:
    clean = request.getfixturevalue("clean_demo")
    params = load_parameters("feature_engineering")
    subs = ibis.memtable(clean["subscriptions"])
    timeline = features.build_customer_timeline(
        clean["customers"], subs, ibis.memtable(clean["transactions"]), params
    )
    snapshots = compute_snapshots(clean, params)
    return {
        "clean": clean,
        "timeline": timeline,
        "snapshots": snapshots,
        "monthly": nodes.build_monthly_retention(timeline, subs, clean["feedback"]),
    }


def test_kpi_identities_hold_every_month(demo_metrics):
    m = demo_metrics["monthly"]
    assert len(m) >= 30
    np.testing.assert_array_equal(
        m["customers_start"] + m["new_customers"] - m["churned_customers"], m["customers_end"]
    )
    np.testing.assert_array_equal(
        m["customers_end"].iloc[:-1].to_numpy(), m["customers_start"].iloc[1:].to_numpy()
    )
    has_start = m["customers_start"] > 0
    expected = (m["customers_end"] - m["new_customers"]) / m["customers_start"] * 100
    np.testing.assert_allclose(m.loc[has_start, "retention_rate"], expected[has_start])
    mrr_end = (
        m["mrr_start"] + m["new_mrr"] + m["expansion_mrr"] - m["contraction_mrr"] - m["churned_mrr"]
    )
    np.testing.assert_allclose(m["mrr_end"], mrr_end, rtol=1e-9)
    assert (m["gross_revenue_retention"].dropna() <= 100 + 1e-9).all()


def test_churned_customers_match_the_demo_truth(demo_metrics, ground_truth):
    churn_dates = pd.to_datetime(pd.Series(ground_truth["customers"]["churn_date"]).dropna())
    # An end on the 1st of a month counts in the month before: churn is in (m0, m1].
    expected = (churn_dates - pd.Timedelta(days=1)).dt.to_period("M").astype(str).value_counts()
    churned = demo_metrics["monthly"].set_index("month")["churned_customers"]
    pd.testing.assert_series_equal(
        churned[churned > 0].sort_index(),
        expected.sort_index(),
        check_names=False,
        check_dtype=False,
    )


def test_cohort_retention_never_increases(demo_metrics):
    cohort = nodes.build_cohort_retention(
        demo_metrics["clean"]["customers"], demo_metrics["timeline"]
    )
    values = cohort.drop(columns=["signup_month", "cohort_size"]).to_numpy()
    diffs = np.diff(values, axis=1)
    assert (diffs[~np.isnan(diffs)] <= 1e-12).all()
    assert (
        cohort["cohort_size"].sum() == demo_metrics["clean"]["customers"]["customer_id"].nunique()
    )


def test_health_score_predicts_churn_and_follows_its_weights(demo_metrics):
    params = load_parameters("retention_metrics")["health_score"]
    health, summary = nodes.build_customer_health(demo_metrics["snapshots"], params)
    assert health["health_score"].between(0, 100).all()
    assert summary["roc_auc_next_horizon_churn"] > 0.58
    assert summary["mean_score_churned"] < summary["mean_score_retained"]
    usage_only = params | {"weights": {"usage": 1.0}}
    health_usage, _ = nodes.build_customer_health(demo_metrics["snapshots"], usage_only)
    np.testing.assert_allclose(
        health_usage["health_score"], health_usage["component_usage"], atol=0.051
    )


def test_churn_by_support_band_shows_slow_support_churns_more(demo_metrics):
    bands = nodes.compute_churn_by_support_band(
        demo_metrics["snapshots"], load_parameters("retention_metrics")
    )
    rates = bands.set_index("support_response_band")["churn_rate_pct"]
    assert rates["under 4 h"] < rates["24-72 h"]
    assert (
        bands["customers"].sum()
        == demo_metrics["snapshots"]["churned_within_horizon"].notna().sum()
    )


def test_exit_reasons_pareto(demo_metrics):
    reasons = nodes.count_exit_reasons(demo_metrics["clean"]["feedback"])
    assert reasons["responses"].is_monotonic_decreasing
    assert reasons["cumulative_pct"].iat[-1] == pytest.approx(100)


def test_health_score_falls_back_to_equal_weights_when_only_unweighted_components_exist(
    demo_metrics, caplog
):
    params = load_parameters("retention_metrics")["health_score"]
    snapshots = demo_metrics["snapshots"][
        ["customer_id", "snapshot_date", "churned_within_horizon", "days_since_last_transaction"]
    ]
    with caplog.at_level("WARNING"):
        health, summary = nodes.build_customer_health(snapshots, params)
    assert "weighting them equally" in caplog.text
    assert summary["weights"] == {"purchase_recency": 1.0}
    np.testing.assert_allclose(
        health["health_score"], health["component_purchase_recency"], atol=0.051
    )
