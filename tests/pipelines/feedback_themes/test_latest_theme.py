"""latest_theme follows the point-in-time rule: nothing dated on or after a snapshot date t
moves a feature at t (as the feature_engineering leakage test checks for every feature)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from customer_retention.core.comment_themes import (
    LATEST_THEME_COLUMNS,
    attach_latest_theme,
    join_latest_theme,
    latest_theme_at,
)
from customer_retention.models.themes import ThemeModel
from customer_retention.pipelines.feedback_themes import nodes

from .helpers import demo, params


def _perturb_from(comments: pd.DataFrame, t: pd.Timestamp, rng) -> pd.DataFrame:
    """Comments dated on or after t rewritten (texts shuffled among them, surveys flipped),
    a third of them dropped, and new comments added dated exactly t and later."""
    late = (comments["response_date"] >= t).to_numpy()
    changed = comments.copy()
    changed.loc[late, "comment"] = rng.permutation(changed.loc[late, "comment"].to_numpy())
    changed.loc[late, "survey"] = np.where(changed.loc[late, "survey"] == "nps", "exit", "nps")
    changed = changed[~(late & (rng.random(len(changed)) < 0.3))]
    extra = comments[~late].sample(300, random_state=0)
    extra = extra.assign(
        response_date=t + pd.to_timedelta(rng.integers(0, 60, len(extra)), unit="D")
    )
    return pd.concat([changed, extra], ignore_index=True).sort_values(
        ["response_date", "customer_id", "survey"], kind="stable", ignore_index=True
    )


def test_comments_on_or_after_t_do_not_move_features_at_t():
    data = demo()
    spine, comments, selection = data["spine"], data["comments"], data["selection"]
    dates = np.sort(spine["snapshot_date"].unique())
    t = pd.Timestamp(dates[len(dates) // 2])
    before, _, _ = nodes.build_latest_theme(comments, selection, spine, params())
    after, summary, _ = nodes.build_latest_theme(
        _perturb_from(comments, t, np.random.default_rng(0)), selection, spine, params()
    )
    assert summary["status"] == "built"
    up_to_t = (spine["snapshot_date"] <= t).to_numpy()
    pd.testing.assert_frame_equal(
        before[up_to_t].reset_index(drop=True), after[up_to_t].reset_index(drop=True)
    )
    # The perturbation is real: features after t do change.
    changed = (before[~up_to_t]["latest_theme"] != after[~up_to_t]["latest_theme"]).fillna(True)
    assert changed.mean() > 0.05


def test_a_comment_dated_exactly_at_t_is_not_seen_at_t():
    data = demo()
    spine = data["spine"]
    t = pd.Timestamp(np.sort(spine["snapshot_date"].unique())[-1])
    customer = spine.loc[spine["snapshot_date"] == t, "customer_id"].iat[0]
    comments = data["comments"]
    comments = comments[comments["customer_id"] != customer]
    same_day = comments.head(1).assign(customer_id=customer, response_date=t)
    table, _, _ = nodes.build_latest_theme(
        pd.concat([comments, same_day], ignore_index=True), data["selection"], spine, params()
    )
    row = table[(table["customer_id"] == customer) & (table["snapshot_date"] == t)]
    assert row["latest_theme"].isna().all() and row["days_since_latest_comment"].isna().all()


def test_the_stored_theme_model_gives_the_same_latest_theme_when_scoring():
    """The themes stored with the churn model (plain JSON) give, on the comments and the
    snapshot keys, the very table the model was trained on; a promoted model that uses
    latest_theme gets it back through ``attach_latest_theme`` with the same labels."""
    data = demo()
    spine = data["spine"]
    table, summary, stored = nodes.build_latest_theme(
        data["comments"], data["selection"], spine, params()
    )
    assert summary["status"] == "built" and stored["status"] == "fitted"
    stored = json.loads(json.dumps(stored))  # as written to and read from disk
    rebuilt = latest_theme_at(data["comments"], spine, ThemeModel.from_dict(stored))
    pd.testing.assert_frame_equal(table[list(LATEST_THEME_COLUMNS)].reset_index(drop=True), rebuilt)
    model = {"metadata": {"feature_spec": {"features": ["latest_theme"]}, "theme_model": stored}}
    rows = spine.assign(latest_theme="stale")
    attached = attach_latest_theme(rows, data["feedback"], model)
    pd.testing.assert_series_equal(
        attached["latest_theme"].reset_index(drop=True),
        table["latest_theme"].reset_index(drop=True),
        check_dtype=False,
    )
    without = {"metadata": {"feature_spec": {"features": ["tenure_days"]}, "theme_model": None}}
    assert attach_latest_theme(rows, data["feedback"], without) is rows


def test_a_model_trained_with_comments_warns_when_they_are_gone(caplog):
    data = demo()
    spine = data["spine"].head(500)
    _, _, stored = nodes.build_latest_theme(
        data["comments"], data["selection"], data["spine"], params()
    )
    model = {"metadata": {"feature_spec": {"features": ["latest_theme"]}, "theme_model": stored}}
    with caplog.at_level("WARNING"):
        attached = attach_latest_theme(spine, data["feedback"].drop(columns="comment"), model)
    assert attached["latest_theme"].isna().all()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("trained with latest_theme" in w and "no comment column" in w for w in warnings)


def test_joined_by_key_not_by_position_and_skipped_tables_change_nothing():
    data = demo()
    spine = data["spine"]
    table, _, _ = nodes.build_latest_theme(data["comments"], data["selection"], spine, params())
    snapshots = spine.sample(frac=1.0, random_state=1).reset_index(drop=True)
    joined = join_latest_theme(snapshots, table.sample(frac=1.0, random_state=2))
    expected = snapshots.merge(
        table[["customer_id", "snapshot_date", "latest_theme"]],
        on=["customer_id", "snapshot_date"],
        how="left",
    )
    assert joined["latest_theme"].notna().sum() > 100
    pd.testing.assert_series_equal(
        joined["latest_theme"], expected["latest_theme"].astype("string"), check_names=False
    )
    empty, _, stored = nodes.build_latest_theme(
        data["comments"].head(0), {"status": "skipped", "reason": "none"}, spine, params()
    )
    assert stored["status"] == "skipped"
    assert join_latest_theme(snapshots, empty) is snapshots
