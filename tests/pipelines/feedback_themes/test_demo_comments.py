"""The demo data's comments: planted themes from their own random stream, so every other table
(and the feedback table apart from its comment column) is what it was without them."""

from __future__ import annotations

import pandas as pd
import pytest

from customer_retention.core.contract import RAW_TABLES
from customer_retention.pipelines.demo_data import comments as demo_comments
from customer_retention.pipelines.demo_data import nodes as demo_nodes

from ...conftest import load_parameters


@pytest.fixture(scope="module")
def generated() -> tuple[tuple, tuple]:
    """The demo data (2,000 customers) with its themed comments, and without them."""
    params = load_parameters("demo_data") | {"n_customers": 2000}
    with_comments = demo_nodes.generate_demo_data(params)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo_nodes, "plant_comments", lambda feedback, seed: (feedback, {}))
        without = demo_nodes.generate_demo_data(
            load_parameters("demo_data") | {"n_customers": 2000}
        )
    return with_comments, without


def test_other_tables_and_columns_do_not_change(generated):
    with_comments, without = generated
    for table, new, old in zip(RAW_TABLES, with_comments[:-1], without[:-1], strict=True):
        if table == "feedback":
            new, old = new.drop(columns="comment"), old.drop(columns="comment")
        pd.testing.assert_frame_equal(new, old, check_exact=True, obj=table)
    truth, old_truth = dict(with_comments[-1]), dict(without[-1])
    assert truth.pop("comments")["rows"] and old_truth.pop("comments") == {}
    assert truth == old_truth


def test_every_comment_has_its_planted_theme(generated):
    feedback, truth = generated[0][5], generated[0][-1]["comments"]
    rows = pd.DataFrame(truth["rows"])
    written = feedback[feedback["comment"].notna()].drop_duplicates(
        ["customer_id", "response_date", "survey"]
    )
    assert len(rows) == len(written)
    assert set(rows["theme"]) == set(demo_comments.THEMES)
    # Every exit answer has a comment; NPS answers some.
    exits = feedback[feedback["survey"] == "exit"]
    assert exits["comment"].notna().all()
    assert 0.2 < feedback.loc[feedback["survey"] == "nps", "comment"].notna().mean() < 0.6


def test_planted_mismatches_follow_the_settings(generated):
    truth = generated[0][-1]["comments"]
    rows = pd.DataFrame(truth["rows"])
    exits = rows[rows["survey"] == "exit"]
    uncoded = (exits["theme"] == "reliability").mean()
    other = (~exits["matches_reason"] & (exits["theme"] != "reliability")).mean()
    assert uncoded == pytest.approx(demo_comments.UNCODED_SHARE, abs=0.04)
    assert other == pytest.approx(demo_comments.OTHER_THEME_SHARE, abs=0.04)
    planted = truth["planted"]
    assert planted["exit_uncoded"] + planted["exit_other_theme"] == (~exits["matches_reason"]).sum()
    # Reliability has no exit code: every exit comment about it disagrees with its code.
    assert not exits.loc[exits["theme"] == "reliability", "matches_reason"].any()
