"""Takeaway sentences on tiny hand-made tables: the numbers in them are the data's."""

from __future__ import annotations

import pandas as pd
import pytest

from customer_retention.core.formatting import (
    fmt_money,
    fmt_p_value,
    fmt_pct,
    fmt_signed,
    humanize,
    months_from_days,
)
from customer_retention.pipelines.reporting import takeaways


def _monthly(churn_counts: list[int], start: int = 100, first: str = "2025-01") -> pd.DataFrame:
    months = pd.period_range(first, periods=len(churn_counts), freq="M").astype(str)
    frame = pd.DataFrame(
        {"month": months, "customers_start": start, "churned_from_start": churn_counts}
    )
    frame["churn_rate"] = frame["churned_from_start"] / frame["customers_start"] * 100
    return frame


def test_churn_trend_pools_the_last_window_against_the_one_before():
    # 12 months of 100 customers: first six lose 4 each (4.0%), last six lose 2 or 3 (2.5%).
    monthly = _monthly([4, 4, 4, 4, 4, 4, 2, 3, 2, 3, 2, 3])
    sentence = takeaways.churn_trend(monthly, window=6)
    assert sentence == (
        "Monthly churn averaged 2.5% over Jul–Dec 2025, down from 4.0% over Jan–Jun 2025."
    )


def test_churn_trend_weights_months_by_their_customers():
    monthly = _monthly([1] * 4, first="2024-11")
    monthly["customers_start"] = [10, 10, 90, 90]
    monthly["churned_from_start"] = [5, 5, 9, 9]  # 50% twice, then 10% twice
    monthly["churn_rate"] = monthly["churned_from_start"] / monthly["customers_start"] * 100
    # pooled: 18 / 180 = 10% for the last two; 10 / 20 = 50% before; years differ.
    assert takeaways.churn_trend(monthly, window=2) == (
        "Monthly churn averaged 10.0% over Jan–Feb 2025, down from 50.0% over Nov–Dec 2024."
    )


def test_churn_trend_leaves_out_small_months_and_says_unchanged():
    monthly = _monthly([1, 3, 3], first="2025-01")
    monthly.loc[0, "customers_start"] = 5  # too small: left out
    assert takeaways.churn_trend(monthly, window=6, min_customers=50) == (
        "Monthly churn was 3.0% in Mar 2025, unchanged from 3.0% in Feb 2025."
    )
    assert takeaways.churn_trend(monthly.iloc[:0], window=6) is None


def test_revenue_retention_counts_months_with_net_expansion():
    monthly = _monthly([1] * 3)
    monthly["net_revenue_retention"] = [101.0, 99.0, 100.4]
    monthly["gross_revenue_retention"] = [97.0, 96.0, 95.54]
    assert takeaways.revenue_retention(monthly) == (
        "In Mar 2025 net revenue retention was 100.4% and gross revenue retention 95.5%; "
        "expansion made up for the losses (NRR ≥ 100%) in 2 of the last 3 months."
    )
    monthly["net_revenue_retention"] = 99.0
    assert "never made up for the losses in the last 3 months" in takeaways.revenue_retention(
        monthly
    )


def test_cohort_retention_weights_by_cohort_size_and_names_best_and_worst():
    cohorts = pd.DataFrame(
        {
            "signup_month": ["2024-01", "2024-02", "2024-03", "2025-06"],
            "cohort_size": [100, 300, 100, 50],
            "0": [0.95, 0.9, 0.97, 0.9],
            "11": [0.70, 0.50, 0.40, None],  # the newest cohort is not 12 months old
        }
    )
    # (100 x 0.7 + 300 x 0.5 + 100 x 0.4) / 500 = 0.52
    assert takeaways.cohort_retention(cohorts, months=12) == (
        "On average 52% of customers were still active 12 months after their signup month "
        "(3 cohorts; best Jan 2024 at 70%, worst Mar 2024 at 40%)."
    )


def test_cohort_retention_falls_back_to_the_longest_horizon_observed():
    cohorts = pd.DataFrame(
        {"signup_month": ["2025-10"], "cohort_size": [40], "0": [0.9], "1": [0.8]}
    )
    assert takeaways.cohort_retention(cohorts, months=12) == (
        "On average 80% of customers were still active 2 months after their signup month "
        "(1 cohort)."
    )


def test_exit_reasons_share_of_the_top_reasons():
    reasons = pd.DataFrame(
        {"reason": ["too_expensive", "poor_support", "moved", "other"], "responses": [5, 3, 1, 1]}
    )
    assert takeaways.exit_reasons(reasons, top=2) == (
        "The top 2 exit reasons (too expensive and poor support) account for 80% of 10 "
        "exit-survey answers."
    )
    assert takeaways.exit_reasons(reasons.iloc[:0]) is None


def test_nps_trend_compares_with_six_months_earlier_among_months_with_enough_answers():
    monthly = pd.DataFrame(
        {
            "month": pd.period_range("2025-01", periods=8, freq="M").astype(str),
            "nps": [10.0, 12.0, 5.0, 6.0, 7.0, 8.0, 9.0, 15.5],
            "nps_responses": [40, 40, 40, 40, 40, 40, 10, 50],  # Jul has too few answers
        }
    )
    # Eligible months: Jan-Jun and Aug; the latest is Aug; six eligible months back is Jan.
    assert takeaways.nps_trend(monthly, min_responses=30) == (
        "NPS was 15.5 in Aug 2025 (50 answers), up from 10.0 in Jan 2025."
    )
    assert takeaways.nps_trend(monthly.assign(nps=None), min_responses=30) is None


def test_support_bands_slowest_against_fastest_band_with_enough_customers():
    bands = pd.DataFrame(
        {
            "support_response_band": ["under 4 h", "4-24 h", "over 72 h", "no tickets"],
            "customers": [1000, 500, 10, 800],
            "churn_rate_pct": [5.0, 8.0, 30.0, 9.0],
        }
    )
    assert takeaways.support_bands(bands, 90, min_customers=50) == (
        "Customers whose median first support response took 4-24 h churned within 90 days at "
        "8.0%, against 5.0% for under 4 h (1.6 times as often)."
    )


def test_health_scores_counts_customers_under_the_threshold():
    scores = pd.Series([10.0, 39.9, 40.0, 80.0, None])
    summary = {"mean_score_churned": 35.25, "mean_score_retained": 61.0}
    assert takeaways.health_scores(scores, summary, low=40, horizon_days=90) == (
        "2 of 4 active customers (50.0%) have a health score below 40; in past snapshots, "
        "customers who churned within 90 days had scored 35.2 on average, those who stayed 61.0."
    )


def test_strongest_segment_uses_the_largest_log_rank_statistic():
    logrank = pd.DataFrame(
        {
            "segment": ["plan", "plan", "contract_type"],
            "comparison": ["all groups", "basic vs pro", "all groups"],
            "test_statistic": [10.0, 99.0, 50.0],  # the pairwise 99 must not count
            "p_value": [0.01, 1e-9, 1e-6],
        }
    )
    segments = {
        "plan": {"time_origin": "signup", "groups": {}},
        "contract_type": {
            "time_origin": "signup",
            "groups": {
                "annual": {"survival_6m": 0.9, "survival_12m": 0.8},
                "monthly": {"survival_6m": 0.7, "survival_12m": 0.55},
            },
        },
    }
    assert takeaways.strongest_segment(logrank, segments) == (
        f"Contract type separates customers most (log-rank {fmt_p_value(1e-6)}): 12 months after "
        "signup, 80% of annual customers were still active against 55% of monthly customers."
    )


def test_strongest_segment_uses_the_longest_time_every_group_reached():
    logrank = pd.DataFrame(
        {
            "segment": ["nps_class"],
            "comparison": ["all groups"],
            "test_statistic": [9.0],
            "p_value": [0.002],
        }
    )
    segments = {
        "nps_class": {
            "time_origin": "2025-02-01",
            "groups": {
                "promoter": {"survival_6m": 0.92, "survival_12m": None},
                "detractor": {"survival_6m": 0.81, "survival_12m": None},
            },
        }
    }
    assert takeaways.strongest_segment(logrank, segments).endswith(
        "6 months after 2025-02-01, 92% of promoter customers were still active against 81% of "
        "detractor customers."
    )


def test_hazard_ratios_names_the_largest_significant_effects_each_way():
    ratios = pd.DataFrame(
        {
            "covariate": ["channel=paid", "channel=partner", "contract=annual", "region=x"],
            "hazard_ratio": [1.5, 3.0, 0.6, 0.2],
            "ci_lower_95": [1.2, 0.8, 0.5, 0.01],
            "ci_upper_95": [1.9, 9.0, 0.7, 4.0],
            "p_value": [0.001, 0.2, 0.0001, 0.5],  # partner and region: not significant
        }
    )
    sentence = takeaways.hazard_ratios(ratios, {"channel": "organic", "contract": "monthly"})
    assert sentence == (
        "Customers with channel paid churn 1.50 times as fast as those with channel organic "
        "(95% CI 1.20–1.90) and customers with contract annual churn 40% slower than those "
        "with contract monthly (hazard ratio 0.60)."
    )


def test_model_ranking_calibration_and_gains_quote_the_metrics():
    scorers = {
        "xgboost_calibrated": {
            "roc_auc": 0.7234,
            "mean_predicted": 0.081,
            "observed_rate": 0.09,
            "ece": 0.0123,
            "top_decile_capture_rate": 0.31,
            "top_decile_lift": 3.1,
        },
        "health_score": {"roc_auc": 0.61},
        "cox_risk": {"status": "not available"},
    }
    assert takeaways.model_ranking(scorers) == (
        "Given one customer who churned and one who stayed, the churn model ranks the churner "
        "as riskier 72% of the time (ROC-AUC 0.723), against 0.610 for the health score."
    )
    assert takeaways.calibration(scorers["xgboost_calibrated"], 90) == (
        "On the test snapshot the model predicted 8.1% churn within 90 days on average and 9.0% "
        "churned; across risk bands predictions were off by 1.2 percentage points on average."
    )
    assert takeaways.gains(scorers["xgboost_calibrated"], 0.1) == (
        "Contacting the 10% of customers the model ranks riskiest would reach 31% of the "
        "churners, 3.1 times as many as a random 10%."
    )


def test_drivers_names_the_top_features_and_their_share():
    importance = pd.DataFrame(
        {"feature": ["a_b", "tenure_days", "c", "d"], "mean_abs_shap": [0.1, 0.5, 0.3, 0.1]}
    )
    assert takeaways.drivers(importance, {"tenure_days": "tenure"}, top=2) == (
        "The strongest drivers of predicted churn are tenure and c, with 80% of the total "
        "contribution of all features."
    )


def test_clv_concentration_in_the_top_tenth():
    clv = pd.Series([100.0] * 9 + [2100.0])  # total 3,000; the top customer holds 70%
    assert takeaways.clv_concentration(clv, "$") == (
        "The median active customer is worth $100; the top 10% of customers hold 70% of the "
        "total lifetime value of $3,000."
    )


def test_value_at_risk_by_segment_finds_the_most_over_represented_level():
    by_segment = pd.DataFrame(
        {
            "segment": ["plan", "plan", "contract", "contract"],
            "level": ["basic", "enterprise", "monthly", "annual"],
            "customers": [90, 10, 50, 50],
            "value_at_risk": [400.0, 600.0, 550.0, 450.0],
        }
    )
    # enterprise: 60% of value at risk vs 10% of customers (+50 pts, the largest gap)
    assert takeaways.value_at_risk_by_segment(by_segment, "€") == (
        "Customers with plan enterprise hold 60% of the value at risk (€600) while being 10% "
        "of active customers."
    )


def test_budget_plan_against_the_churn_probability_ranking():
    summary = {
        "plan": {
            "contacts": 500,
            "cost": 25000.0,
            "expected_saved_value": 137276.05,
            "expected_net_return": 112276.05,
        },
        "top_n_by_churn_probability": {"contacts": 500, "expected_net_return": 31635.24},
    }
    assert takeaways.budget_plan(summary, "$") == (
        "Spending $25,000 on 500 contacts is expected to save $137,276 of customer value, a net "
        "return of $112,276, against $31,635 when contacting the 500 customers most likely to "
        "churn."
    )
    assert takeaways.budget_plan(None, "$") is None


def test_top_at_risk_share_of_total():
    top = pd.DataFrame({"value_at_risk": [300.0, 200.0]})
    assert takeaways.top_at_risk(top, 2000.0, "$") == (
        "These 2 customers hold $500 of value at risk, 25.0% of the $2,000 total."
    )


def test_drift_sentence_with_and_without_a_retraining_recommendation():
    report = {
        "features": [
            {"feature": "usage_trend_ratio", "psi": 0.31, "drifted": True},
            {"feature": "plan", "psi": 0.02, "drifted": False},
        ],
        "score_shift": {"psi": 0.084},
        "retraining_recommended": True,
        "reasons": ["1 feature drifted", "model older than 90 days"],
    }
    labels = {"usage_trend_ratio": "usage trend"}
    assert takeaways.drift(report, labels) == (
        "1 of 2 features drifted (largest shift: usage trend, PSI 0.31) and the churn-score "
        "distribution moved by PSI 0.08. Retraining is recommended: 1 feature drifted; model "
        "older than 90 days."
    )
    calm = report | {"retraining_recommended": False, "features": report["features"][1:]}
    assert takeaways.drift(calm, labels).endswith("No retraining is needed.")
    assert takeaways.drift(None, labels) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "n/a"),
        (float("nan"), "n/a"),
        (1234.5, "$1,234"),
        (2_345_678, "$2.35M"),
        (-12, "-$12"),
    ],
)
def test_money_format(value, expected):
    assert fmt_money(value, "$") == expected


def test_small_formatters():
    assert fmt_pct(3.8698) == "3.9%"
    assert fmt_signed(-0.04, 1, " pts") == "0.0 pts"
    assert fmt_signed(1.26, 1) == "+1.3"
    assert months_from_days(None) == "not reached"
    assert months_from_days(365.25) == "12.0 months"
    assert fmt_p_value(0.0004) == "p < 0.001"
    assert fmt_p_value(0.0123) == "p = 0.012"
    assert humanize("nps_class") == "NPS class"
