"""The report's charts that #21 added or corrected: churn by health-score band with intervals,
the health-score weights as applied, drivers with their direction and what they stand for, the
sBG check, tick labels that are their values, the drift chart's colours, the model's age, and
chart text in Japanese (no empty boxes, no flood of missing-glyph warnings)."""

from __future__ import annotations

import io
import logging
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.ticker import FixedFormatter

from customer_retention.core import chart_data, charts
from customer_retention.core.charts import style
from customer_retention.models.evaluation import proportion_interval
from customer_retention.pipelines.reporting import nodes, takeaways

from ...conftest import load_parameters

PARAMS = load_parameters("reporting")
AS_OF = pd.Timestamp("2026-01-01")


def _health(rows: list[tuple[float, float]], snapshot: pd.Timestamp) -> pd.DataFrame:
    scores, labels = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "customer_id": [str(i) for i in range(len(rows))],
            "snapshot_date": snapshot,
            "churned_within_horizon": labels,
            "health_score": scores,
        }
    )


@pytest.fixture
def customer_health() -> pd.DataFrame:
    """A labelled snapshot (200 low scores, 30% churn; 300 middle, 10%; 20 high, 0%) and the
    unlabelled as-of snapshot; usage, feedback and support components."""
    labelled = (
        [(20.0, 1.0)] * 60
        + [(30.0, 0.0)] * 140
        + [(55.0, 1.0)] * 30
        + [(60.0, 0.0)] * 270
        + [(90.0, 0.0)] * 20
    )
    past = _health(labelled, AS_OF - pd.DateOffset(months=3))
    now = _health([(s, np.nan) for s in (25.0, 50.0, 80.0)], AS_OF)
    frame = pd.concat([past, now], ignore_index=True)
    return frame.assign(component_usage=50.0, component_feedback=50.0, component_support=50.0)


HEALTH_SUMMARY = {
    "status": "computed",
    "weights": {"usage": 0.6, "feedback": 0.4},
    "roc_auc_next_horizon_churn": 0.7,
    "mean_score_churned": 30.0,
    "mean_score_retained": 55.0,
}


def _retention(customer_health: pd.DataFrame | None, summary: dict | None = None):
    return nodes.build_retention_section(
        pd.DataFrame(),
        None,
        pd.DataFrame(),
        pd.DataFrame(),
        customer_health,
        {"health_score": HEALTH_SUMMARY if summary is None else summary},
        90,
        PARAMS,
    )


# ----------------------------------------------------------------------------- health bands
def test_churn_by_health_band_counts_labelled_rows_with_wilson_intervals(customer_health):
    table = chart_data.health_band_churn(customer_health, 40, 70)
    assert list(table["band"]) == ["below 40", "40–70", "70 and above"]
    assert list(table["customers"]) == [200, 300, 20]  # the unlabelled as-of rows left out
    assert list(table["churned"]) == [60, 30, 0]
    assert table["churn_rate_pct"].tolist() == pytest.approx([30.0, 10.0, 0.0])
    low, high = proportion_interval([60, 30, 0], [200, 300, 20])
    assert table["churn_rate_ci_low_pct"].to_numpy() == pytest.approx(low * 100)
    assert table["churn_rate_ci_high_pct"].to_numpy() == pytest.approx(high * 100)
    unlabelled = customer_health.drop(columns="churned_within_horizon")
    assert chart_data.health_band_churn(unlabelled, 40, 70).empty


def test_health_band_takeaway_leaves_small_bands_out_and_says_when_not_significant():
    bands = pd.DataFrame(
        {
            "band": ["below 40", "40–70", "70 and above"],
            "customers": [200, 300, 20],
            "churned": [60, 30, 0],
            "churn_rate_pct": [30.0, 10.0, 0.0],
            "churn_rate_ci_low_pct": [24.1, 7.1, 0.0],
            "churn_rate_ci_high_pct": [36.6, 13.9, 16.1],
        }
    )
    sentence = takeaways.health_bands(bands, 90, min_customers=50)
    assert sentence == (
        "Customers scoring below 40 churned within 90 days at 30.0% (95% CI 24.1%–36.6%), "
        "against 10.0% (7.1%–13.9%) for those scoring 40–70 (3.0 times as often). Too few to "
        "compare (under 50): scores 70 and above."
    )
    close = bands.assign(churned=[12, 10, 0], churn_rate_pct=[6.0, 10 / 3, 0.0])
    assert "not significant" in takeaways.health_bands(close, 90, min_customers=50)
    assert takeaways.health_bands(bands, 90, min_customers=250).startswith("Too few")


def test_retention_section_draws_churn_by_health_band_with_pale_small_bands(customer_health):
    section, figures = _retention(customer_health)
    block = next(b for b in section["charts"] if b["key"] == "health_bands")
    assert block["absent"] is None
    assert block["takeaway"].startswith("Customers scoring below 40 churned within 90 days")
    assert "70 and above" in block["takeaway"].split(".")[-2]  # left out: too small
    ax = figures["health_bands"].axes[0]
    bars = [p for p in ax.patches if p.get_height() > 0 or p.get_alpha() is not None]
    assert [p.get_alpha() for p in ax.patches] == [None, None, 0.3]  # 20 < 50 customers
    assert len(bars) == 3 and len(ax.collections) == 1  # one set of error bars
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["score below 40", "score 40–70", "score 70 and above"]


def test_health_band_chart_says_why_it_is_absent(customer_health):
    section, figures = _retention(customer_health.drop(columns="churned_within_horizon"))
    block = next(b for b in section["charts"] if b["key"] == "health_bands")
    assert "rerun the retention-metrics stage" in block["absent"] and "health_bands" not in figures
    section, _ = _retention(None)
    block = next(b for b in section["charts"] if b["key"] == "health_bands")
    assert block["absent"] == "The retention-metrics stage has not run."


def test_health_weights_are_shown_as_applied_not_as_configured(customer_health):
    section, _ = _retention(customer_health)
    rows = {r["component"]: r["weight"] for r in section["health_weights"]}
    # The summary's renormalised weights; support was computed but carries no weight.
    assert rows == {"usage": "60%", "feedback": "40%", "support": "0%"}
    html = nodes.render_report(
        *_empty_sections(retention=section), {}, 90, PARAMS
    )  # the table sits under the health-score chart
    table = html[html.index('<table id="health_weights">') :]
    assert "<td>usage</td>" in table and '<td class="num">60%</td>' in table


def _empty_sections(**given):
    retention = given.get("retention") or _retention(None)[0]
    survival, _ = nodes.build_survival_section({}, pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    model, _ = nodes.build_model_section({}, pd.DataFrame(), pd.DataFrame(), None, None, 90)
    value, _ = nodes.build_value_section(None, None, None, None, None, None, [], 90, PARAMS)
    run = given.get("run") or nodes.build_run_section({}, {}, {}, None, None, None, {})[0]
    _, summary = nodes.summarise_report_headlines(retention, model, value, run, None, 90, PARAMS)
    return summary, retention, survival, model, value, run


# ----------------------------------------------------------------------------- drivers
IMPORTANCE = pd.DataFrame(
    {
        "feature": ["active_days_recent", "contract_type", "mean_amount_lookback", "region"],
        "mean_abs_shap": [0.4, 0.3, 0.2, 0.1],
        "mean_shap": [0.0, 0.0, 0.0, 0.0],
        "direction": ["lower raises risk", "monthly raises risk", "higher raises risk", "mixed"],
    }
)


def test_driver_chart_draws_each_driver_on_the_side_it_pushes():
    figure = charts.driver_bars(IMPORTANCE, {"active_days_recent": "active days"})
    ax = figure.axes[0]
    widths = [p.get_width() for p in ax.patches]  # drawn weakest first
    assert widths == pytest.approx([0.1, 0.2, 0.3, -0.4])
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert names[-1] == "active days\nlower → more churn"
    assert names[-2].endswith("monthly → more churn")
    assert names[0].endswith("no single direction")
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    assert legend == [
        "+: higher value → more churn",
        "−: lower value → more churn",
        "+: this level → more churn",
        "no single direction (drawn +)",
    ]
    figure.draw_without_rendering()
    assert not isinstance(ax.xaxis.get_major_formatter(), FixedFormatter)  # signed values


def test_driver_names_say_what_a_proxy_stands_for():
    section, figures = nodes.build_model_section(
        {}, pd.DataFrame(), IMPORTANCE, None, None, 90, {"contract": "contractual"}
    )
    drivers = section["headline"]["drivers"]
    assert drivers[2] == {
        "feature": "average purchase amount (proxy for plan size)",
        "direction": "higher raises risk",
    }
    block = next(b for b in section["charts"] if b["key"] == "drivers")
    assert block["takeaway"].startswith(
        "The strongest drivers of predicted churn are active days, last 30 days (lower → more "
        "churn), contract type (monthly → more churn) and average purchase amount (proxy for "
        "plan size; higher → more churn)"
    )
    ticks = [t.get_text() for t in figures["drivers"].axes[0].get_yticklabels()]
    assert any("proxy for plan size" in " ".join(t.split()) for t in ticks)
    # Without subscriptions a purchase amount is what it says.
    section, _ = nodes.build_model_section(
        {}, pd.DataFrame(), IMPORTANCE, None, None, 90, {"contract": "non_contractual"}
    )
    assert section["headline"]["drivers"][2]["feature"] == "average purchase amount"


# ----------------------------------------------------------------------------- sBG check
SBG_FIT = pd.DataFrame(
    {
        "level": ["basic"] * 4 + ["pro"] * 4,
        "month": [0, 1, 2, 3] * 2,
        "observed": [1.0, 0.90, 0.83, 0.78, 1.0, 0.95, 0.91, 0.88],
        "fitted": [1.0, 0.91, 0.84, 0.78, 1.0, 0.94, 0.90, 0.87],
    }
)
SBG_CHECK = {
    "segment": "plan",
    "observed_months": 3,
    "by_level": {
        "basic": {"mean_clv_sbg": 2200.0, "mean_clv_landmark": 2000.0},
        "pro": {"mean_clv_sbg": 7600.0, "mean_clv_landmark": 8000.0},
    },
}


def _value(fit, check):
    return nodes.build_value_section(
        None, None, None, None, None, None, [], 90, PARAMS, None, None, None, fit, check
    )


def test_value_section_draws_the_sbg_fit_against_observed_retention():
    section, figures = _value(SBG_FIT, SBG_CHECK)
    block = next(b for b in section["charts"] if b["key"] == "sbg_fit")
    assert block["absent"] is None and "sbg_fit" in figures
    assert block["takeaway"] == (
        "Over the first 3 months after signup, an sBG curve for each plan (2) stays within 1.0 "
        "points of the share observed still active (largest gap: basic, month 1). Its mean CLV "
        "of the active customers is within 10% of the landmark model's (the report's) for every "
        "plan (largest difference: basic, $2,200 against $2,000)."
    )
    lines = figures["sbg_fit"].axes[0].get_lines()
    assert len(lines) == 4  # observed points and sBG line per level


def test_value_section_says_why_there_is_no_sbg_check():
    section, figures = _value(
        pd.DataFrame(columns=["level", "month", "observed", "fitted"]),
        {"status": "skipped", "reason": "no subscriptions: not a contractual business"},
    )
    block = next(b for b in section["charts"] if b["key"] == "sbg_fit")
    assert block["absent"] == "No sBG check: no subscriptions: not a contractual business."
    assert "sbg_fit" not in figures
    block = next(b for b in _value(None, None)[0]["charts"] if b["key"] == "sbg_fit")
    assert block["absent"] == "No sBG check: the CLV stage has not run."


# ----------------------------------------------------------------------------- misleading charts
def test_cohort_heatmap_tick_labels_are_the_tick_values():
    cohorts = pd.DataFrame(
        {
            "signup_month": ["2025-01", "2025-02", "2025-03"],
            "cohort_size": [10, 10, 10],
            "0": [0.9, 0.8, 0.85],
            "1": [0.8, 0.7, np.nan],
            "3": [0.6, np.nan, np.nan],  # month 2 missing from the table: not a shifted column
        }
    )
    figure = charts.cohort_heatmap(cohorts)
    figure.draw_without_rendering()
    ax = figure.axes[0]
    assert not isinstance(ax.xaxis.get_major_formatter(), FixedFormatter)
    for tick, text in zip(ax.get_xticks(), ax.get_xticklabels(), strict=True):
        if ax.get_xlim()[0] <= tick <= ax.get_xlim()[1]:
            assert text.get_text() == f"{tick:g}"
    image = ax.get_images()[0]
    assert image.get_array().shape == (3, 4)  # columns 0..3: month 4 is column 3
    assert image.get_extent()[:2] == [0.5, 4.5]  # column k drawn at k + 1 months


def test_hazard_ratio_ticks_are_formatted_from_their_values():
    ratios = pd.DataFrame(
        {
            "covariate": ["plan=pro", "plan=enterprise"],
            "hazard_ratio": [0.8, 0.57],
            "ci_lower_95": [0.7, 0.48],
            "ci_upper_95": [0.9, 0.68],
            "p_value": [0.001, 0.001],
        }
    )
    figure = charts.hazard_forest(ratios, ["plan: pro vs basic", "plan: enterprise vs basic"])
    figure.draw_without_rendering()
    ax = figure.axes[0]
    assert not isinstance(ax.xaxis.get_major_formatter(), FixedFormatter)
    for tick, text in zip(ax.get_xticks(), ax.get_xticklabels(), strict=True):
        assert text.get_text() == f"{tick:g}×"


@pytest.mark.parametrize("drifted", [[False, False], [True, False]])
def test_drift_chart_title_names_no_colour_and_its_legend_only_the_colours_drawn(drifted):
    features = pd.DataFrame({"feature": ["tenure_days", "plan"], "psi": [0.3, 0.05]})
    figure = charts.drift_bars(features.assign(drifted=drifted), {})
    ax = figure.axes[0]
    assert ax.get_title() == "Feature drift since training"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    expected = ["drifted (monitoring threshold)"] if any(drifted) else []
    assert legend == [*expected, "not drifted"]
    colours = {tuple(np.round(p.get_facecolor()[:3], 3)) for p in ax.patches}
    assert len(colours) == len(legend)


def test_model_age_is_measured_from_the_end_of_the_training_data():
    drift = {
        "reference_window": {"start": "2025-02-01", "end": "2025-10-01"},
        "scoring_snapshot": "2026-01-01",
        "features": [],
        "score_shift": {"psi": 0.01, "mean_reference": 0.09, "mean_scoring": 0.08},
        "model_age_days": 0,
        "training_data_end": "2025-10-01",
        "data_age_days": 92,
        "retraining_recommended": False,
        "reasons": [],
    }
    run, _ = nodes.build_run_section({}, {}, {}, None, None, drift, {})
    html = nodes.render_report(*_empty_sections(run=run), {}, 90, PARAMS)
    age = html[html.index("<dt>model age</dt>") :].split("</dd>")[0]
    assert "<strong>92 days</strong>, from the end of its training data" in age
    assert "(2026-01-01)" in age and "written 0 days before" in age


def test_qini_and_gains_name_what_they_draw():
    curve = pd.DataFrame({"share_targeted": [0, 0.5, 1.0], "incremental_kept": [0, 0.02, 0.01]})
    legend = charts.qini_curves({"retention_discount": curve}).axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        "retention discount",
        "dotted: random targeting",
    ]
    gains = pd.DataFrame({"population_share": [0, 1.0], "captured_share": [0, 1.0]})
    legend = charts.gains_chart({"model": gains}, 0.1).axes[0].get_legend()
    assert "top 10% contacted" in [t.get_text() for t in legend.get_texts()]


# ----------------------------------------------------------------------------- fonts (#27)
def _png_warnings(figure) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure.savefig(io.BytesIO(), format="png", dpi=100)
    return [str(w.message) for w in caught]


def test_japanese_chart_labels_draw_without_missing_glyph_warnings():
    assert style.FONT_FAMILIES == ["DejaVu Sans", "IPAexGothic"]
    reasons = pd.DataFrame(
        {"reason": ["価格が高い", "サポートが遅い", "機能不足"], "responses": [9, 5, 2]}
    )
    bands = pd.DataFrame(
        {
            "support_response_band": ["4時間未満", "４〜２４時間"],
            "customers": [100, 80],
            "churn_rate_pct": [5.0, 8.0],
        }
    )
    by_segment = pd.DataFrame(
        {"segment": ["地域"] * 2, "level": ["東京", "大阪"], "value_at_risk": [1e5, 5e4]}
    )
    figures = [
        charts.exit_reasons_pareto(reasons),
        charts.support_bands(bands, 90, 50),
        charts.value_at_risk_bars(by_segment, "¥"),
        charts.driver_bars(IMPORTANCE, {"active_days_recent": "アクティブ日数"}),
    ]
    for figure in figures:
        messages = _png_warnings(figure)
        assert not [m for m in messages if "missing from font" in m], messages
    ticks = [t.get_text() for t in figures[0].axes[0].get_xticklabels()]
    assert ticks == ["価格が高い", "サポートが遅\nい", "機能不足"]  # kept; CJK wraps at half width


def test_emoji_no_font_draws_are_left_out_with_one_warning(caplog):
    reasons = pd.DataFrame({"reason": ["too pricey 🦩", "slow 🦩🦩"], "responses": [3, 2]})
    with caplog.at_level(logging.WARNING, logger=style.logger.name):
        first = charts.exit_reasons_pareto(reasons)
        second = charts.exit_reasons_pareto(reasons)
    for figure in (first, second):
        assert not [m for m in _png_warnings(figure) if "missing from font" in m]
    ticks = [t.get_text() for t in first.axes[0].get_xticklabels()]
    assert ticks == ["too pricey", "slow"]
    reports = [r.getMessage() for r in caplog.records if "U+1F9A9" in r.getMessage()]
    assert len(reports) == 1 and "FLAMINGO" in reports[0]
