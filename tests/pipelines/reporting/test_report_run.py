"""End-to-end: the HTML report of a fresh project (600 demo customers), checked against the
data it summarises; and the report of runs that lack the feedback table or the scoring outputs.
"""

from __future__ import annotations

import base64
import html as html_lib
import io
import json
import re
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from PIL import Image

from customer_retention.core.contract import RAW_TABLES
from customer_retention.datasets import RawTableDataset
from customer_retention.pipelines.demo_data.nodes import generate_demo_data

from ...conftest import fresh_project, load_parameters

pytestmark = pytest.mark.slow

SMALL_DEMO = {"demo_data": {"n_customers": 600}, "data_cleaning": {"reference_date": "2026-01-31"}}
SECTIONS = [
    "summary",
    "value",
    "campaigns",
    "model",
    "feedback",
    "survival",
    "retention",
    "run",
    "model_card",
]
CHARTS = [
    "monthly_churn",
    "cohort_retention",
    "exit_reasons",
    "nps_trend",
    "support_bands",
    "health_scores",
    "health_bands",
    "kaplan_meier",
    "hazard_ratios",
    "landmark_check",
    "roc",
    "precision_recall",
    "calibration",
    "gains",
    "drivers",
    "backtest",
    "campaign_survival",
    "clv_distribution",
    "value_at_risk",
    "budget_plan",
]
DATA_URI = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


# ----------------------------------------------------------------------------- helpers
def run(project: Path, pipeline: str | None = None) -> str:
    """Run a pipeline of the project; return its report."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        bootstrap_project(project)
        with KedroSession.create(project_path=project, runtime_params=SMALL_DEMO) as session:
            session.run(pipeline_names=[pipeline] if pipeline else None)
    return (project / "data" / "08_reporting" / "report.html").read_text(encoding="utf-8")


def card(report: str, label: str) -> str:
    found = re.search(
        rf'<div class="label">{re.escape(label)}</div><div class="value">([^<]*)</div>', report
    )
    assert found, f"no card {label!r}"
    return html_lib.unescape(found.group(1))


def takeaways(report: str) -> list[str]:
    return [html_lib.unescape(t) for t in re.findall(r'<p class="takeaway">(.*?)</p>', report)]


def chart_images(report: str) -> dict[str, bytes]:
    """{chart key: PNG bytes} of every image, keyed by the heading just before it."""
    images = {}
    for key, uri in re.findall(
        r'<h3 id="(\w+)">(?:(?!<h3).)*?<img src="(data:image/png;base64,[^"]+)"', report, re.S
    ):
        images[key] = base64.b64decode(DATA_URI.match(uri).group(1), validate=True)
    assert len(images) == report.count("<img "), "an image outside a chart block"
    return images


def absent_messages(report: str) -> list[str]:
    return [
        html_lib.unescape(re.sub(r"<.*?>", "", m)).strip()
        for m in re.findall(r'<div class="absent">(.*?)</div>', report, re.S)
    ]


def money(value: float) -> str:
    return f"${value / 1e6:,.2f}M" if value >= 1e6 else f"${value:,.0f}"


def assert_self_contained(report: str) -> None:
    """Nothing to fetch: no scripts, stylesheets, fonts, frames or addresses outside the file."""
    text = DATA_URI.sub("data:", report)  # base64 may contain '//'
    for forbidden in ("http:", "https:", "//", "<script", "<link", "<iframe", "@import", "url("):
        assert forbidden not in text, forbidden
    sources = re.findall(r'\b(?:src|href)="([^"]*)"', report)
    assert sources and all(s.startswith(("data:image/png;base64,", "#")) for s in sources)


def assert_images_decode(images: dict[str, bytes]) -> None:
    for key, png in images.items():
        assert png[:8] == b"\x89PNG\r\n\x1a\n", key
        with Image.open(io.BytesIO(png)) as image:
            image.verify()
        pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
        assert pixels.shape[0] >= 300 and pixels.shape[1] >= 600, key
        assert pixels.std() > 0.01, f"{key} is blank"


# ----------------------------------------------------------------------------- default run
@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> Path:
    project = fresh_project(tmp_path_factory.mktemp("default"))
    run(project)
    return project


def test_report_is_one_self_contained_file_with_every_section(default_run):
    report = (default_run / "data/08_reporting/report.html").read_text(encoding="utf-8")
    assert re.findall(r'<section id="(\w+)">', report) == SECTIONS
    images = chart_images(report)
    drift = default_run / "data/08_reporting/drift_report.json"
    sbg = pd.read_csv(default_run / "data/08_reporting/sbg_fit.csv")  # cohorts large enough?
    themes = json.loads((default_run / "data/08_reporting/comment_themes.json").read_text())
    expected = (
        CHARTS
        + (["drift"] if drift.exists() else [])
        + (["sbg_fit"] if len(sbg) else [])
        + (["theme_churn"] if themes["status"] == "analysed" else [])
    )
    assert sorted(images) == sorted(expected)
    assert_images_decode(images)
    assert_self_contained(report)
    assert "First run" in " ".join(absent_messages(report))
    for heading in ("median_survival", "metrics", "top_customers", "quality", "models", "code"):
        assert f'<h3 id="{heading}">' in report
    assert all(re.search(r"\d", t) for t in takeaways(report)), "a takeaway without a number"
    assert len(takeaways(report)) >= len(CHARTS)


def test_headline_numbers_and_takeaways_match_the_data(default_run):
    data = default_run / "data"
    report = (data / "08_reporting/report.html").read_text(encoding="utf-8")
    snapshots = pd.read_parquet(data / "04_feature/customer_snapshots.parquet")
    as_of_rows = snapshots[snapshots["is_as_of_snapshot"]]
    as_of = pd.Timestamp(as_of_rows["snapshot_date"].iat[0]).strftime("%Y-%m-%d")
    assert f"Data as of <strong>{as_of}</strong>" in report
    assert card(report, "Active customers") == f"{len(as_of_rows):,}"

    monthly = pd.read_csv(data / "08_reporting/monthly_retention.csv").iloc[-1]
    churn = monthly["churned_from_start"] / monthly["customers_start"] * 100
    assert card(report, "Monthly churn rate") == f"{churn:.1f}%"

    at_risk = pd.read_csv(data / "07_model_output/at_risk_customers.csv")
    p = at_risk["churn_probability"]
    assert card(report, "Customers at high risk") == f"{int((p >= 2 * p.mean()).sum()):,}"
    assert card(report, "Total value at risk") == money((p * at_risk["clv"]).sum())

    feedback = pd.read_parquet(data / "02_intermediate/feedback.parquet")
    answers = feedback[(feedback["survey"] == "nps") & feedback["score"].notna()]
    answers = answers.assign(month=answers["response_date"].dt.to_period("M"))
    answers = answers[answers["month"] < pd.Period(as_of, "M")]
    by_month = answers.groupby("month")["score"]
    counts = by_month.size()
    month = counts[counts >= load_parameters("reporting")["min_nps_responses"]].index.max()
    scores = answers.loc[answers["month"] == month, "score"]
    nps = ((scores >= 9).mean() - (scores <= 6).mean()) * 100
    assert card(report, "Net Promoter Score") == f"{nps:.1f}"

    exits = feedback.loc[feedback["survey"] == "exit", "reason"].fillna("not given")
    top3 = exits.value_counts().head(3)
    expected = f"account for {top3.sum() / len(exits) * 100:.0f}% of {len(exits):,} exit-survey"
    assert any(expected in t for t in takeaways(report)), expected

    quarantined = sum(
        len(pd.read_parquet(f)) for f in (data / "02_intermediate/quarantine").glob("*.parquet")
    )
    total_row = re.search(r"<td><strong>total</strong></td>.*?</tr>", report, re.S).group(0)
    assert f">{quarantined:,}<" in total_row
    # The summary says how many rows were quarantined and which business model was analysed.
    summary_html = report.split('<section id="summary">')[1].split("</section>")[0]
    assert f"<strong>Quarantined:</strong> {quarantined:,} of" in summary_html
    quality = json.loads((data / "08_reporting/data_quality.json").read_text())
    assert f"business model {quality['contract']} ({quality['contract_reason']})" in summary_html

    drift = data / "08_reporting/drift_report.json"
    if drift.exists():
        features = json.loads(drift.read_text())["features"]
        drifted = sum(bool(f["drifted"]) for f in features)
        assert any(
            t.startswith(f"{drifted} of {len(features)} features drifted")
            for t in takeaways(report)
        )
    summary = json.loads((data / "08_reporting/report_summary.json").read_text())
    assert summary["active_customers"] == len(as_of_rows) and summary["as_of_date"] == as_of


def test_each_chart_is_also_a_versioned_png(default_run):
    report = (default_run / "data/08_reporting/report.html").read_text(encoding="utf-8")
    versions = list((default_run / "data/08_reporting/report_charts").iterdir())
    assert len(versions) == 1
    files = {p.stem: p.read_bytes() for p in (versions[0] / "report_charts").glob("*.png")}
    images = chart_images(report)
    assert set(files) == set(images)
    for name, png in files.items():
        assert png == images[name], name  # the file is the embedded image, drawn once
        with Image.open(io.BytesIO(png)) as saved:
            assert saved.format == "PNG", name


def test_the_next_run_reports_what_changed(default_run):
    data = default_run / "data"
    first = json.loads((data / "08_reporting/report_summary.json").read_text())
    report = run(default_run, "reporting")
    assert "First run" not in " ".join(absent_messages(report))
    table = re.search(r"What changed since the previous run</h3>(.*?)</table>", report, re.S)
    rows = re.findall(r"<tr><td>(.*?)</td><td class=\"num\">(.*?)</td>", table.group(1))
    previous = dict(rows)
    assert previous["Active customers"] == f"{first['active_customers']:,}"
    assert previous["Monthly churn rate"] == f"{first['churn_rate_pct']:.1f}%"
    assert len(list((data / "08_reporting/report_charts").iterdir())) == 2


# ----------------------------------------------------------------------------- partial data
@pytest.fixture(scope="module")
def demo_tables() -> dict[str, pd.DataFrame]:
    params = load_parameters("demo_data") | {"n_customers": 600}
    return dict(zip(RAW_TABLES, generate_demo_data(params)[:-1], strict=True))


def test_report_without_the_feedback_table_says_what_is_missing(tmp_path, demo_tables):
    project = fresh_project(tmp_path)
    for table in RAW_TABLES:
        if table != "feedback":
            RawTableDataset(path=str(project / "data/01_raw" / table), table=table).save(
                demo_tables[table]
            )
    report = run(project)
    messages = " ".join(absent_messages(report))
    assert "No exit-survey answers" in messages and "No NPS answers" in messages
    assert card(report, "Net Promoter Score") == "n/a"
    images = chart_images(report)
    assert "nps_trend" not in images and "exit_reasons" not in images
    assert {"monthly_churn", "kaplan_meier", "roc", "budget_plan"} <= set(images)
    assert_images_decode(images)
    assert_self_contained(report)


def test_report_after_retraining_only_says_nothing_is_scored_yet(tmp_path):
    project = fresh_project(tmp_path)
    report = run(project, "retrain")
    data = project / "data"
    assert not (data / "07_model_output/at_risk_customers.csv").exists()
    messages = " ".join(absent_messages(report))
    assert messages.count("No scoring outputs yet") >= 2  # budget plan and the top customers
    assert "No drift check has been run" in messages
    assert card(report, "Customers at high risk") == "not scored"
    value = pd.read_parquet(data / "07_model_output/customer_value.parquet")["value_at_risk"]
    assert card(report, "Total value at risk") == money(np.nansum(value))
    assert "from the survival model" in report
    images = chart_images(report)
    assert "budget_plan" not in images and "clv_distribution" in images
    assert_images_decode(images)


def test_the_feedback_section_shows_the_themes_and_what_the_codes_miss(default_run):
    report = (default_run / "data/08_reporting/report.html").read_text(encoding="utf-8")
    section = report.split('<section id="feedback">')[1].split("</section>")[0]
    themes = json.loads((default_run / "data/08_reporting/comment_themes.json").read_text())
    assert themes["status"] == "analysed", themes.get("reason")
    for theme in themes["themes"]:
        assert f"<td>{html_lib.escape(theme['label'])}</td>" in section
        assert html_lib.escape(theme["examples"][0]) in section
    baseline = themes["churn_by_theme"]["baseline"]
    assert f"Of {baseline['customers']:,} customers with an NPS comment" in section
    for missing in themes["exit_reasons"]["not_in_code_list"]:
        assert html_lib.escape(missing["label"]) in section.split('id="exit_codes"')[1]
