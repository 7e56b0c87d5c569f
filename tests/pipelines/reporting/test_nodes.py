"""Report nodes on small hand-made inputs: absent inputs, headline changes, charts as PNG."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from customer_retention.core import chart_data, charts
from customer_retention.pipelines.reporting import nodes

from ...conftest import load_parameters

PARAMS = load_parameters("reporting")
AS_OF = pd.Timestamp("2026-01-01")


@pytest.fixture
def health() -> pd.DataFrame:
    """Health scores of 4 customers at an older snapshot and 5 at the as-of date."""
    return pd.DataFrame(
        {
            "customer_id": ["1", "2", "3", "4", "1", "2", "3", "4", "5"],
            "snapshot_date": [AS_OF - pd.DateOffset(months=1)] * 4 + [AS_OF] * 5,
            "health_score": [50.0, 60, 70, 80, 20, 45, 65, 75, 90],
        }
    )


@pytest.fixture
def survival_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["1", "2", "3", "4", "5"],
            "plan": ["basic", "basic", "pro", "pro", "enterprise"],
            "contract_type": ["monthly", "annual", "monthly", "annual", "annual"],
        }
    )


@pytest.fixture
def customer_value() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["1", "2", "3", "4", "5"],
            "clv": [1000.0, 2000.0, 3000.0, 4000.0, 10000.0],
            "churn_probability": [0.5, 0.1, 0.1, 0.05, 0.01],
            "value_at_risk": [500.0, 200.0, 300.0, 200.0, 100.0],
        }
    )


def _at_risk(as_of: str = "2026-01-01") -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "customer_id": ["1", "2", "3", "4", "5"],
            "as_of_date": as_of,
            "churn_probability": [0.40, 0.05, 0.20, 0.02, 0.03],
            "reason_1": ["usage down 60%", "no NPS answer", "slow support", None, "new customer"],
            "reason_2": ["new customer", None, None, None, None],
            "reason_3": [None] * 5,
            "recommended_action": ["Onboarding", "Account review", "Support", "Review", "Review"],
            "model_id": "m1",
            "clv": [1000.0, 2000.0, 3000.0, 4000.0, 10000.0],
        }
    )
    frame["value_at_risk"] = frame["churn_probability"] * frame["clv"]
    return frame


PLAN_SUMMARY = {
    "plan": {
        "contacts": 2,
        "cost": 100.0,
        "expected_saved_value": 400.0,
        "expected_net_return": 300.0,
        "return_on_spend": 3.0,
    },
    "top_n_by_churn_probability": {
        "contacts": 2,
        "cost": 100.0,
        "expected_saved_value": 250.0,
        "expected_net_return": 150.0,
        "return_on_spend": 1.5,
    },
    "contacts_by_action": {"Support": 1, "Onboarding": 1},
}


def _value_section(at_risk, customer_value, survival_table, health, plan=None, summary=None):
    return nodes.build_value_section(
        customer_value,
        at_risk,
        plan,
        summary,
        survival_table,
        health,
        ["plan", "contract_type"],
        90,
        PARAMS,
    )


def test_value_section_without_scoring_says_so_and_falls_back_to_clv(
    customer_value, survival_table, health
):
    section, figures = _value_section(None, customer_value, survival_table, health)
    assert section["scoring_absent"].startswith("No scoring outputs yet")
    assert section["top_customers"] == [] and section["plan_table"] == []
    budget = next(b for b in section["charts"] if b["key"] == "budget_plan")
    assert budget["absent"] == section["scoring_absent"]
    assert set(figures) == {"clv_distribution", "value_at_risk"}
    headline = section["headline"]
    assert headline["value_at_risk"] == customer_value["value_at_risk"].sum()
    assert headline["value_at_risk_source"] == "survival model"
    assert headline["high_risk_customers"] is None


def test_value_section_ignores_a_stale_at_risk_list(customer_value, survival_table, health):
    section, _ = _value_section(
        _at_risk("2025-12-01"), customer_value, survival_table, health, summary=PLAN_SUMMARY
    )
    assert "2025-12-01" in section["scoring_absent"] and "2026-01-01" in section["scoring_absent"]
    assert section["headline"]["value_at_risk_source"] == "survival model"
    assert section["plan_table"] == []


def test_value_section_with_scoring_ranks_by_value_at_risk(customer_value, survival_table, health):
    at_risk = _at_risk()
    plan = pd.DataFrame({"customer_id": ["3", "1", "2"], "contact": [True, False, True]})
    section, figures = _value_section(
        at_risk, customer_value, survival_table, health, plan, PLAN_SUMMARY
    )
    assert section["scoring_absent"] is None
    assert set(figures) == {"clv_distribution", "value_at_risk", "budget_plan"}
    top = section["top_customers"]
    expected_order = at_risk.sort_values("value_at_risk", ascending=False)["customer_id"]
    assert [row["customer_id"] for row in top] == list(expected_order)
    assert top[0] == {
        "customer_id": "3",
        "probability": "20.0%",
        "clv": "$3,000",
        "value_at_risk": "$600",
        "reasons": ["slow support"],
        "action": "Support",
        "in_plan": "yes",
    }
    assert {row["customer_id"]: row["in_plan"] for row in top}["1"] == "no"
    mean = at_risk["churn_probability"].mean()  # 0.14: high risk = at least 0.28
    headline = section["headline"]
    assert headline["high_risk_customers"] == int((at_risk["churn_probability"] >= 2 * mean).sum())
    assert headline["value_at_risk"] == pytest.approx(at_risk["value_at_risk"].sum())
    assert headline["scoring_model_id"] == "m1"
    assert [row["net"] for row in section["plan_table"]] == ["$300", "$150"]


def test_value_at_risk_by_segment_sums_per_level(customer_value, survival_table):
    table = chart_data.segment_values(
        customer_value, survival_table, ["plan", "contract_type", "x"]
    )
    plan = table[table["segment"] == "plan"].set_index("level")
    assert plan.loc["basic", "value_at_risk"] == 700.0 and plan.loc["basic", "customers"] == 2
    assert set(table["segment"]) == {"plan", "contract_type"}
    assert table.groupby("segment")["value_at_risk"].sum().eq(1300.0).all()


def _sections(churn: float, customers: int, value_at_risk: float | None, high_risk: int | None):
    retention = {
        "headline": {
            "latest_month": "2025-12",
            "churn_rate_pct": churn,
            "retention_rate_pct": 100 - churn,
            "customers_start": 1000,
            "churned_from_start": churn * 10,
            "new_customers": 50,
            "customers_end": 1010,
            "net_revenue_retention_pct": None,
            "gross_revenue_retention_pct": None,
            "nps": None,
            "nps_month": None,
            "nps_responses": None,
        }
    }
    value = {
        "scoring_absent": None if high_risk is not None else "No scoring outputs yet",
        "headline": {
            "high_risk_customers": high_risk,
            "high_risk_threshold": 0.2,
            "value_at_risk": value_at_risk,
            "value_at_risk_source": "churn model",
        },
    }
    run = {
        "headline": {
            "as_of_date": "2026-01-01",
            "active_customers": customers,
            "promoted_model_id": "m1",
        }
    }
    model = {"headline": {"roc_auc": np.float64(0.7)}}
    return retention, model, value, run


def test_headlines_first_run_then_changes_against_the_previous_run():
    numbers, section = nodes.summarise_report_headlines(
        *_sections(4.4, 1000, 12_000.0, 30), None, 90, PARAMS
    )
    assert section["previous"] is None
    assert numbers["active_customers"] == 1000 and numbers["churn_model_roc_auc"] == 0.7
    assert type(numbers["churn_model_roc_auc"]) is float  # JSON-safe
    assert section["cards"]["churn_rate"] == "4.4%"
    assert section["cards"]["nps"] == "n/a" and not section["cards"]["has_revenue"]

    _, section = nodes.summarise_report_headlines(
        *_sections(3.9, 1012, 10_500.0, None), numbers, 90, PARAMS
    )
    changes = {row["metric"]: row for row in section["changes"]}
    assert changes["Monthly churn rate"] == {
        "metric": "Monthly churn rate",
        "previous": "4.4%",
        "now": "3.9%",
        "change": "-0.5 pts",
    }
    assert changes["Active customers"]["change"] == "+12"
    assert changes["Total value at risk"]["change"] == "-$1,500"
    assert changes["Customers at high risk"]["now"] == "n/a"
    assert changes["Customers at high risk"]["change"] == "n/a"
    assert section["cards"]["high_risk"] == "not scored"
    assert section["previous"]["as_of"] == "2026-01-01"


def test_encoded_charts_are_png_and_keep_their_names():
    figure = charts.health_histogram(pd.Series([10.0, 45, 50, 80, 95]), 40, 70)
    files, images = nodes.encode_report_charts({"health_scores": figure}, {}, {}, {}, {})
    assert list(files) == ["health_scores.png"]
    prefix = "data:image/png;base64,"
    assert images["health_scores"].startswith(prefix)
    embedded = base64.b64decode(images["health_scores"][len(prefix) :])
    assert embedded == files["health_scores.png"]  # the file is the embedded image
    png = Image.open(io.BytesIO(embedded))
    assert png.format == "PNG" and png.size == (800, 400)  # 8 x 4 inches at 100 dpi
    again = io.BytesIO()
    figure.savefig(again, format="png", dpi=100)  # what MatplotlibDataset used to write
    assert np.array_equal(np.asarray(Image.open(again)), np.asarray(png))  # same pixels


def test_run_section_lists_drift_by_psi_and_reconciles_quality():
    drift = {
        "reference_window": {"start": "2025-02-01", "end": "2025-10-01"},
        "scoring_snapshot": "2026-01-01",
        "features": [
            {
                "feature": "plan",
                "psi": 0.01,
                "ks_statistic": 0.02,
                "ks_pvalue": 0.9,
                "drifted": False,
            },
            {
                "feature": "usage_trend_ratio",
                "psi": 0.4,
                "ks_statistic": 0.3,
                "ks_pvalue": 1e-9,
                "drifted": True,
            },
        ],
        "score_shift": {
            "psi": 0.05,
            "ks_statistic": 0.1,
            "mean_reference": 0.08,
            "mean_scoring": 0.1,
        },
        "model_age_days": 120,
        "retraining_recommended": True,
        "reasons": ["usage trend drifted"],
    }
    quality = {
        "tables": {
            "customers": {
                "status": "present",
                "rows_in": 10,
                "rows_clean": 9,
                "rows_quarantined": 1,
            },
            "events": {"status": "present", "rows_in": 10, "rows_clean": 9, "rows_quarantined": 0},
            "feedback": {"status": "absent"},
        },
        "contract": "contractual",
    }
    section, figures = nodes.build_run_section(
        quality, {}, {}, pd.DataFrame({"month": ["2025-11", "2025-12"]}), None, drift, {}
    )
    assert list(figures) == ["drift"]
    assert [row["feature"] for row in section["drift"]["rows"]] == ["usage trend", "plan"]
    assert section["drift"]["recommended"] and section["drift"]["model_age_days"] == "120"
    assert section["drift"]["score_mean"] == "8.0% → 10.0%"
    assert [row["reconciled"] for row in section["quality_table"]] == [True, False, True]
    assert section["window"]["first_month"] == "Nov 2025"

    section, figures = nodes.build_run_section(quality, {}, {}, None, None, None, {})
    assert section["drift"] is None and figures == {}


def test_report_renders_without_any_chart_and_links_nothing_outside():
    """Every section empty: the template still renders, with an absent message per chart."""
    retention, _ = nodes.build_retention_section(
        pd.DataFrame(), None, pd.DataFrame(), pd.DataFrame(), None, {}, 90, PARAMS
    )
    survival, _ = nodes.build_survival_section({}, pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    model, _ = nodes.build_model_section({}, pd.DataFrame(), pd.DataFrame(), None, None, 90)
    value, _ = nodes.build_value_section(None, None, None, None, None, None, [], 90, PARAMS)
    run, _ = nodes.build_run_section({}, {}, {}, None, None, None, {})
    numbers, summary = nodes.summarise_report_headlines(
        retention, model, value, run, None, 90, PARAMS
    )
    html = nodes.render_report(summary, retention, survival, model, value, run, {}, 90, PARAMS)
    blocks = [*retention["charts"], *survival["charts"], *model["charts"], *value["charts"]]
    assert html.count('class="absent"') >= len(blocks)
    assert "<img" not in html and "http" not in html
    assert "No drift check has been run" in html


def test_a_run_on_demo_data_says_so_first():
    run, _ = nodes.build_run_section({}, {}, {}, None, None, None, {}, None, {"seed": 42})
    assert run["plan"]["demo"] is True
    real, _ = nodes.build_run_section({}, {}, {}, None, None, None, {}, None, None)
    assert real["plan"]["demo"] is False


def test_model_section_shows_the_backtest_and_the_model_card_of_the_deployed_model():
    from ..churn_model.helpers import trained_model

    trained = trained_model()
    card, result = trained["model_card"], trained["churn_backtest"]
    section, figures = nodes.build_model_section(
        trained["churn_model_metrics"],
        trained["churn_test_scores"],
        trained["churn_feature_importance"],
        result,
        card,
        90,
    )
    chosen = result["selection"]["chosen"]
    deployed = {"xgboost": "xgboost_calibrated", "logistic": "logistic_baseline"}[chosen]
    highlighted = [row["name"] for row in section["metrics_table"] if row["is_model"]]
    assert highlighted == [chart_data.SCORER_NAMES[deployed]]
    rows = section["backtest_table"]
    assert len(rows) == 2 * len(result["cutoffs"]) + 2
    assert all(
        row["is_model"]
        == (
            row["model"].startswith(chosen[:3].upper())
            or (chosen == "logistic" and row["model"] == "logistic regression")
        )
        for row in rows
    )
    assert " ± " in rows[-1]["roc_auc"]
    assert "backtest" in figures
    assert section["card"]["model_id"] == card["model_id"]
    assert section["card"]["limitations"] == card["known_limitations"]
    retention, _ = nodes.build_retention_section(
        pd.DataFrame(), None, pd.DataFrame(), pd.DataFrame(), None, {}, 90, PARAMS
    )
    survival, _ = nodes.build_survival_section({}, pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    value, _ = nodes.build_value_section(None, None, None, None, None, None, [], 90, PARAMS)
    run, _ = nodes.build_run_section({}, {}, {}, None, None, None, {})
    _, summary = nodes.summarise_report_headlines(retention, section, value, run, None, 90, PARAMS)
    html = nodes.render_report(summary, retention, survival, section, value, run, {}, 90, PARAMS)
    assert "Appendix: model card" in html and card["model_id"] in html


def test_the_summary_opens_with_the_decision():
    from customer_retention.pipelines.reporting.section_summary import _decision

    value = {
        "expected_churners": {"expected": 240.4, "low": 215.0, "high": 266.0},
        "expected_value_lost": {"expected": 1.2e6, "low": 1.0e6, "high": 1.4e6},
        "top_value_segments": [
            {"segment": "contract_type", "level": "monthly", "value_at_risk": 9e5}
        ],
        "value_at_risk": 1.2e6,
        "plan": {
            "basis": "assumed: ...",
            "plan": {"contacts": 500, "cost": 25000.0, "expected_saved_value": 80000.0},
            "plan_range": {
                "low": {"expected_saved_value": 40000.0},
                "high": {"expected_saved_value": 120000.0},
            },
            "control_group": {"control": 50},
        },
    }
    model = {"drivers": [{"feature": "active days", "direction": "lower raises risk"}]}
    lines = _decision(value, model, 90, "$", 3000)
    assert lines[0].startswith("Over the next 90 days we expect 240 of the 3,000 active")
    assert "(90% interval 215–266)" in lines[0]
    assert "contract_type = monthly" in lines[1] and "75% of the value at risk" in lines[1]
    assert lines[2] == "What drives the risk: lower active days."
    assert "contact 500 customers" in lines[3] and "assumed save rates" in lines[3]
    assert "50 of them held back" in lines[3]
    one_snapshot = _decision(value, model, 90, "$", 3000, single_snapshot=True)
    assert one_snapshot[0].startswith("As the export's churn flag defines churn")
    assert "90 days" not in one_snapshot[0]


def test_uplift_plan_values_are_money_only_when_the_customers_had_values():
    """Without customer values the uplift plans weigh each customer 1: the report counts
    customers kept instead of showing them as money."""
    from customer_retention.pipelines.reporting.section_campaigns import (
        _uplift_rows,
        _uplift_takeaway,
    )

    result = {
        "status": "fitted",
        "held_out_customers": 400,
        "qini_coefficient": 0.01,
        "qini_coefficient_of_risk_ranking": 0.0,
        "plans": {
            "target_share": 0.3,
            "by_uplift_x_value": {"incremental_value": 46.54},
            "by_risk_x_value": {"incremental_value": 40.0},
        },
    }
    counted = {"value_basis": "one_per_customer", "campaigns": {"call": result}}
    valued = {"value_basis": "customer_value", "campaigns": {"call": result}}
    assert _uplift_rows(counted, "$")[0]["by_uplift"] == "46.5 customers"
    assert _uplift_rows(valued, "$")[0]["by_uplift"] == "$47"
    assert "kept 46.5 customers, more than" in _uplift_takeaway(counted, "$")
    assert "kept $47 of value, more than" in _uplift_takeaway(valued, "$")
