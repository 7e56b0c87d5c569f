"""``latest_theme``: per customer and snapshot, the theme of the customer's latest comment dated
strictly before the snapshot date t (the point-in-time rule of every snapshot feature).

Dating the comment is not enough: themes fitted on every comment would learn from comments
written after t (exit comments of customers who later churned among them), and a comment's
theme could change when later comments change. The themes of this table are therefore fitted
only on the comments dated before the first snapshot date, with the stage's parameters (the
number of themes chosen again on those comments); a comment's weights are then computed on
their own (``models.themes``), so nothing dated on or after t moves a feature at t. The
table is aligned with ``snapshot_spine`` row for row, like the feature groups that
``feature_engineering`` assembles.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from customer_retention.core.comment_themes import (
    LATEST_THEME_COLUMNS,
    SELECTION_KEYS,
    latest_theme_at,
    theme_labels,
)
from customer_retention.core.serialization import jsonable

from .model import theme_model

logger = logging.getLogger(__name__)

FEATURE_COLUMNS = LATEST_THEME_COLUMNS


def _empty(spine: pd.DataFrame, reason: str) -> tuple[pd.DataFrame, dict[str, Any], dict[str, Any]]:
    logger.info("latest_theme feature table empty: %s", reason)
    table = spine[["customer_id", "snapshot_date"]].reset_index(drop=True)
    for column, dtype in FEATURE_COLUMNS.items():
        table[column] = pd.Series(index=table.index, dtype=dtype)
    summary = {"status": "skipped", "reason": reason, "rows": len(table)}
    return table, summary, {"status": "skipped", "reason": reason}


def build_latest_theme(
    comments: pd.DataFrame,
    selection: dict[str, Any],
    snapshot_spine: pd.DataFrame,
    params: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, Any]]:
    """(the feature table, one row per snapshot_spine row; its summary; the theme model as
    JSON, ``models.themes.ThemeModel.to_dict`` plus the comment selection, stored with the
    churn model trained on the table, or ``{"status": "skipped", "reason": ...}``)."""
    if not params.get("latest_theme", {}).get("enabled", True):
        return _empty(snapshot_spine, "latest_theme.enabled is false")
    if selection["status"] == "skipped":
        return _empty(snapshot_spine, selection["reason"])
    if snapshot_spine.empty:
        return _empty(snapshot_spine, "no snapshots")
    first = pd.Timestamp(snapshot_spine["snapshot_date"].min())
    before = comments[pd.to_datetime(comments["response_date"]) < first]
    minimum = int(params["min_comments"])
    if len(before) < minimum:
        return _empty(
            snapshot_spine,
            f"{len(before)} comment(s) dated before the first snapshot {first.date()}, fewer "
            f"than min_comments ({minimum})",
        )
    try:
        model = theme_model(params).fit(before["comment"])
    except ValueError as error:
        return _empty(
            snapshot_spine, f"the comments before {first.date()} do not support themes: {error}"
        )
    spine = snapshot_spine[["customer_id", "snapshot_date"]].reset_index(drop=True)
    table = pd.concat([spine, latest_theme_at(comments, spine, model)], axis=1)
    has_theme = table["latest_theme_id"].notna()
    labels = theme_labels(model)
    summary = {
        "status": "built",
        "themes_fitted_on": f"{len(before):,} comments dated before the first snapshot "
        f"{first.date()}",
        "n_themes": model.n_themes_,
        "themes": [{"theme": j + 1, "label": labels[j]} for j in range(model.n_themes_)],
        "rows": len(table),
        "rows_with_theme": int(has_theme.sum()),
        "columns": list(FEATURE_COLUMNS),
        "rule": "the customer's latest comment dated strictly before the snapshot date; themes "
        "fitted only on comments before the first snapshot date",
    }
    logger.info(
        "latest_theme: %s of %s snapshot rows have a comment before their date (%s themes)",
        f"{summary['rows_with_theme']:,}",
        f"{len(table):,}",
        model.n_themes_,
    )
    stored = {
        "status": "fitted",
        **model.to_dict(),
        "fitted_before": str(first.date()),
        "selection": {key: params.get(key) for key in SELECTION_KEYS},
    }
    return table[["customer_id", "snapshot_date", *FEATURE_COLUMNS]], jsonable(summary), stored
