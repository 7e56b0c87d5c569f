"""The feedback_themes stage on the default demo data: the themes found agree with the planted
ones, the reason cross-table finds the planted mismatches, churn by theme shows the planted
effect, and the stage skips cleanly without comments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from sklearn.metrics import adjusted_rand_score

from customer_retention.pipelines.feedback_themes import nodes
from customer_retention.pipelines.feedback_themes.pipeline import create_pipeline

from ..churn_model.helpers import Kept
from .helpers import demo, params, planted


@pytest.fixture(scope="module")
def stage() -> dict:
    data = demo()
    p = params()
    data["trend"] = nodes.theme_trend(data["themed"], p)
    data["churn"] = nodes.churn_by_theme(data["themed"], data["timeline"], p)
    data["reasons"] = nodes.themes_against_reasons(data["themed"], p)
    data["features"], data["feature_summary"], data["theme_model"] = nodes.build_latest_theme(
        data["comments"], data["selection"], data["spine"], p
    )
    data["report"] = nodes.summarise_themes(
        data["summary"],
        data["trend"],
        data["churn"],
        data["reasons"],
        data["feature_summary"],
        data["themed"],
        data["truth"],
    )
    return data


def _found(stage: dict, planted_theme: str) -> int:
    """The found theme holding most comments of a planted theme."""
    rows = planted(stage["themed"], stage["truth"])
    return int(rows.loc[rows["planted_theme"] == planted_theme, "theme"].mode().iat[0])


def test_themes_agree_with_the_planted_themes(stage):
    rows = planted(stage["themed"], stage["truth"])
    assert len(rows) == len(stage["themed"])  # every comment read has its planted theme
    ari = adjusted_rand_score(rows["planted_theme"], rows["theme"].fillna(0))
    assert ari >= 0.6, ari
    report = stage["report"]
    assert report["status"] == "analysed"
    assert report["planted_themes"]["adjusted_rand_index"] == pytest.approx(ari)
    number = report["number_of_themes"]
    assert number["range"] == [3, 12] and len(number["values"]) == 10
    assert [v["n_themes"] for v in number["values"] if v["chosen"]] == [number["chosen"]]
    # Every theme is labelled, sized and illustrated.
    themes = report["themes"]
    assert [t["theme"] for t in themes] == list(range(1, number["chosen"] + 1))
    assert sum(t["comments"] for t in themes) + report["unassigned_comments"] == len(rows)
    for theme in themes:
        assert len(theme["terms"]) >= 2 and theme["label"]
        assert 1 <= len(theme["examples"]) <= 3
    assert stage["themed"]["theme_weight"].between(0, 1).all()


def test_the_cross_table_finds_the_planted_reason_mismatches(stage):
    reasons = stage["reasons"]
    reliability = _found(stage, "reliability")  # planted without an exit code
    flagged = {t["theme"] for t in reasons["not_in_code_list"]}
    assert flagged == {reliability}
    judged = [t for t in reasons["table"] if t["in_code_list"] is not None]
    assert {t["theme"] for t in judged if t["in_code_list"]} == {t["theme"] for t in judged} - {
        reliability
    }
    # The planted mismatches (uncoded theme or another coded theme) are the comments whose
    # theme is not their reason's main theme.
    rows = planted(stage["themed"], stage["truth"])
    exits = rows[(rows["survey"] == "exit") & rows["theme"].notna()]
    main = {r["reason"]: r["main_theme"] for r in reasons["by_reason"]}
    found_off = exits["theme"].to_numpy() != exits["reason"].map(main).to_numpy()
    planted_off = ~exits["matches_reason"].to_numpy()
    truth = stage["truth"]["comments"]["planted"]
    assert planted_off.sum() == truth["exit_uncoded"] + truth["exit_other_theme"]
    assert reasons["off_code_comments"] == found_off.sum()
    recall = (found_off & planted_off).sum() / planted_off.sum()
    precision = (found_off & planted_off).sum() / found_off.sum()
    assert recall >= 0.9 and precision >= 0.9, (recall, precision)
    # Each coded reason's main theme is the theme its comments were planted in.
    for reason, theme in main.items():
        assert theme == _found(stage, _planted_theme_of(stage, reason))


def _planted_theme_of(stage: dict, reason: str) -> str:
    themes = stage["truth"]["comments"]["themes"]
    return next(t for t, spec in themes.items() if spec["exit_reason"] == reason)


def test_churn_by_theme_shows_the_planted_effect_with_intervals(stage):
    """Praise comes from promoters and passives (lower planted hazard): customers whose NPS
    comment praises churn less than those of the other themes, beyond the interval."""
    churn = stage["churn"]
    assert churn["horizon_days"] == 90
    for theme in churn["themes"]:
        assert theme["ci_low"] <= theme["rate"] <= theme["ci_high"]
        assert theme["churned"] <= theme["customers"]
    praise = next(t for t in churn["themes"] if t["theme"] == _found(stage, "praise"))
    assert praise["vs_other_themes"]["ci_high"] < 0
    baseline = churn["baseline"]
    assert baseline["ci_low"] <= baseline["rate"] <= baseline["ci_high"]
    assert praise["rate"] < baseline["rate"]


def test_monthly_shares_sum_to_one(stage):
    trend = pd.DataFrame(stage["trend"]["rows"])
    totals = trend.groupby("month")["share"].sum()
    np.testing.assert_allclose(totals, 1.0)
    assert (trend["ci_low"] <= trend["share"]).all() and (trend["share"] <= trend["ci_high"]).all()
    assert len(stage["trend"]["recent_vs_before"]) == stage["report"]["number_of_themes"]["chosen"]


def test_latest_theme_rows_follow_the_spine(stage):
    features, spine = stage["features"], stage["spine"]
    pd.testing.assert_frame_equal(
        features[["customer_id", "snapshot_date"]],
        spine[["customer_id", "snapshot_date"]].reset_index(drop=True),
    )
    has = features["latest_theme"].notna()
    assert 0.1 < has.mean() < 0.9
    assert (features.loc[has, "days_since_latest_comment"] > 0).all()  # strictly before t
    assert stage["feature_summary"]["status"] == "built"


# ---------------------------------------------------------------- skipped


def _run_stage(feedback: pd.DataFrame | None, timeline, spine) -> dict:
    """The stage's pipeline with in-memory inputs; the outputs that matter."""
    catalog = DataCatalog(
        {
            "feedback@pandas": MemoryDataset(feedback),
            "customer_timeline": MemoryDataset(timeline),
            "snapshot_spine": MemoryDataset(spine),
            "params:feedback_themes": MemoryDataset(params()),
            "feedback_themes_ground_truth": MemoryDataset(None),
            **{
                name: Kept()
                for name in ("comment_themes", "latest_theme_features", "comment_themes_report")
            },
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    return {
        name: catalog.load(name)
        for name in ("comment_themes", "latest_theme_features", "comment_themes_report")
    }


@pytest.mark.parametrize(
    "case, reason",
    [
        ("no table", "no feedback table"),
        ("no comment column", "has no comment column"),
        ("all blank", "0 readable comment(s), fewer than min_comments (50)"),
        ("too few", "fewer than min_comments (50)"),
    ],
)
def test_without_comments_the_stage_is_skipped_with_its_reason(case, reason, caplog):
    data = demo()
    feedback = data["feedback"]
    if case == "no table":
        feedback = None
    elif case == "no comment column":
        feedback = feedback.drop(columns="comment")
    elif case == "all blank":
        blanks = np.array(["", "  ", None, "\t"], dtype=object)
        feedback = feedback.assign(comment=blanks[np.arange(len(feedback)) % 4])
    else:
        keep = feedback["comment"].notna().cumsum() <= 20
        feedback = feedback.assign(comment=feedback["comment"].where(keep))
    with caplog.at_level("INFO"):
        out = _run_stage(feedback, data["timeline"], data["spine"])
    report = out["comment_themes_report"]
    assert report["status"] == "skipped" and reason in report["reason"], report
    assert any("Feedback themes skipped" in r.getMessage() for r in caplog.records)
    assert out["comment_themes"].empty
    assert list(out["comment_themes"].columns) == nodes.THEME_COLUMNS
    features = out["latest_theme_features"]
    assert len(features) == len(data["spine"]) and features["latest_theme"].isna().all()
    assert report["latest_theme_feature"]["status"] == "skipped"


def test_comments_that_cannot_support_themes_skip_instead_of_failing():
    """Fifty copies of two comments: too few distinct comments for three themes."""
    feedback = pd.DataFrame(
        {
            "customer_id": [str(i) for i in range(60)],
            "response_date": pd.date_range("2024-01-01", periods=60, freq="D"),
            "survey": "nps",
            "score": 5.0,
            "reason": None,
            "comment": ["too expensive", "slow support"] * 30,
        }
    )
    comments, selection = nodes.select_comments(feedback, params())
    assert selection["status"] == "selected"
    themed, summary = nodes.find_themes(comments, selection, params())
    assert summary["status"] == "skipped" and "do not support" in summary["reason"]
    assert themed.empty


def test_a_comment_without_any_known_term_gets_no_theme():
    texts = ["price too high", "too expensive price", "price cost high", "expensive again"]
    texts += ["support slow ticket", "ticket support never", "support ticket open"]
    texts += ["support again slow", "qqqq zzzz"]
    feedback = pd.DataFrame(
        {
            "customer_id": [str(i) for i in range(len(texts))],
            "response_date": pd.date_range("2024-01-01", periods=len(texts)),
            "survey": "nps",
            "score": 3.0,
            "reason": None,
            "comment": texts,
        }
    )
    p = params(min_comments=5, min_themes=2, max_themes=3, min_theme_comments=2)
    comments, selection = nodes.select_comments(feedback, p)
    themed, summary = nodes.find_themes(comments, selection, p)
    last = themed[themed["comment"] == "qqqq zzzz"]
    assert last["theme"].isna().all() and last["theme_label"].isna().all()
    assert (last["theme_weight"] == 0).all()
    assert summary["unassigned_comments"] == 1
    assert themed["theme"].dtype == "Int64" and themed["theme"].notna().sum() == 8
