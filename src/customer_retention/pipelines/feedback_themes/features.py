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

import numpy as np
import pandas as pd

from customer_retention.core.serialization import jsonable

from .model import theme_model

logger = logging.getLogger(__name__)

FEATURE_COLUMNS = {
    "latest_theme": "string",
    "latest_theme_id": "Int64",
    "latest_theme_weight": "float64",
    "latest_theme_survey": "string",
    "days_since_latest_comment": "float64",
}


def _empty(spine: pd.DataFrame, reason: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    logger.info("latest_theme feature table empty: %s", reason)
    table = spine[["customer_id", "snapshot_date"]].reset_index(drop=True)
    for column, dtype in FEATURE_COLUMNS.items():
        table[column] = pd.Series(index=table.index, dtype=dtype)
    return table, {"status": "skipped", "reason": reason, "rows": len(table)}


def build_latest_theme(
    comments: pd.DataFrame,
    selection: dict[str, Any],
    snapshot_spine: pd.DataFrame,
    params: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(the feature table, one row per snapshot_spine row; its summary)."""
    if not params.get("latest_theme", {}).get("enabled", True):
        return _empty(snapshot_spine, "latest_theme.enabled is false")
    if selection["status"] == "skipped":
        return _empty(snapshot_spine, selection["reason"])
    if snapshot_spine.empty:
        return _empty(snapshot_spine, "no snapshots")
    first = pd.Timestamp(snapshot_spine["snapshot_date"].min())
    dates = pd.to_datetime(comments["response_date"])
    before = comments[dates < first]
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
    assigned = model.assign(comments["comment"])
    labels = [", ".join(terms[:3]) for terms in model.theme_terms_]
    dated = pd.DataFrame(
        {
            "customer_id": comments["customer_id"].astype(str).to_numpy(),
            "comment_date": dates.astype("datetime64[ns]").to_numpy(),
            "latest_theme_id": np.where(assigned["theme"] >= 0, assigned["theme"] + 1, 0),
            "latest_theme_weight": assigned["weight"].to_numpy(),
            "latest_theme_survey": comments["survey"].astype(str).to_numpy(),
        }
    ).sort_values(["comment_date", "latest_theme_survey"], kind="stable")
    spine = snapshot_spine[["customer_id", "snapshot_date"]].reset_index(drop=True)
    keys = spine.assign(
        customer_id=spine["customer_id"].astype(str),
        snapshot_date=pd.to_datetime(spine["snapshot_date"]).astype("datetime64[ns]"),
        position=np.arange(len(spine)),
    ).sort_values("snapshot_date", kind="stable")
    joined = pd.merge_asof(
        keys,
        dated,
        left_on="snapshot_date",
        right_on="comment_date",
        by="customer_id",
        direction="backward",
        allow_exact_matches=False,  # strictly before t
    ).sort_values("position")
    table = spine.copy()
    theme_id = joined["latest_theme_id"].to_numpy(dtype=float)
    has_theme = np.nan_to_num(theme_id) > 0
    table["latest_theme_id"] = pd.array(np.where(has_theme, theme_id, np.nan)).astype("Int64")
    table["latest_theme"] = pd.array(
        [labels[int(t) - 1] if ok else pd.NA for t, ok in zip(theme_id, has_theme, strict=True)],
        dtype="string",
    )
    table["latest_theme_weight"] = np.where(has_theme, joined["latest_theme_weight"], np.nan)
    table["latest_theme_survey"] = pd.array(joined["latest_theme_survey"], dtype="string")
    table["days_since_latest_comment"] = (
        (joined["snapshot_date"] - joined["comment_date"]).dt.days.astype(float).to_numpy()
    )
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
    return table[["customer_id", "snapshot_date", *FEATURE_COLUMNS]], jsonable(summary)
