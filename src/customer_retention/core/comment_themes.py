"""Comments and their themes, shared by the stages that read them (the ``feedback_themes``
stage fits the themes; the churn model, scoring and monitoring read ``latest_theme``).

* ``select_comments``: the readable comments of the chosen surveys (parameters
  ``feedback_themes.surveys``, ``min_comment_chars``, ``placeholders``).
* ``latest_theme_at``: per (customer, snapshot date t), the theme of the customer's latest
  comment dated **strictly before t** (the point-in-time rule of every snapshot feature), from
  a fitted ``models.themes.ThemeModel``; a comment's theme depends only on its own text and
  the fitted themes, so nothing dated on or after t moves a value at t.
* ``attach_latest_theme``: the ``latest_theme`` column added to rows with the theme model
  stored with the promoted churn model (``metadata["theme_model"]``): scoring and drift
  monitoring use the themes the model was trained with, never a refit whose numbering or
  labels could differ.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from customer_retention.models.themes import ThemeModel

logger = logging.getLogger(__name__)

COMMENT_COLUMNS = ["customer_id", "response_date", "survey", "score", "reason", "comment"]


def empty_comments(columns: list[str] = COMMENT_COLUMNS) -> pd.DataFrame:
    dtypes = {"response_date": "datetime64[ns]", "score": "float64", "theme": "Int64"}
    dtypes |= {"theme_weight": "float64"}
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, "string")) for c in columns})


def _skipped(reason: str, counts: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    return empty_comments(), {"status": "skipped", "reason": reason, "comments": counts}


def select_comments(
    feedback: pd.DataFrame | None, params: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(the comments read, the counts and the status: ``selected`` or ``skipped`` + reason)."""
    if feedback is None or feedback.empty:
        return _skipped("no feedback table (or no rows) in data/01_raw", {})
    if "comment" not in feedback:
        return _skipped(
            "the feedback table has no comment column", {"feedback_rows": len(feedback)}
        )
    rows = feedback[feedback["survey"].astype("string").isin(params["surveys"])]
    text = rows["comment"].astype("string").str.strip()
    non_blank = text.notna() & (text != "")
    readable = non_blank & (text.str.len() >= int(params["min_comment_chars"]))
    readable &= text.str.contains(r"\w", regex=True).fillna(False)
    placeholders = {str(p).casefold() for p in params.get("placeholders") or []}
    bare = text.str.casefold().str.strip(" .!?。、-_*/")
    readable &= ~(bare.isin(placeholders) | text.str.casefold().isin(placeholders)).fillna(False)
    comments = rows.loc[readable].assign(comment=text[readable])
    for column in COMMENT_COLUMNS:
        if column not in comments:
            comments[column] = pd.NA
    comments = comments[COMMENT_COLUMNS].astype(
        {"customer_id": "string", "survey": "string", "reason": "string", "comment": "string"}
    )
    comments = comments.sort_values(
        ["response_date", "customer_id", "survey"], kind="stable", ignore_index=True
    )
    counts = {
        "feedback_rows": len(feedback),
        "in_surveys": len(rows),
        "non_blank": int(non_blank.sum()),
        "not_read": int((non_blank & ~readable).sum()),  # too short, no letter, placeholder
        "read": len(comments),
        "distinct": int(comments["comment"].str.lower().nunique()),
        "by_survey": comments["survey"].value_counts().to_dict(),
    }
    minimum = int(params["min_comments"])
    if len(comments) < minimum:
        return _skipped(
            f"{len(comments)} readable comment(s), fewer than min_comments ({minimum})", counts
        )
    logger.info(
        "Comments read: %s (%s distinct) from %s feedback rows",
        f"{len(comments):,}",
        f"{counts['distinct']:,}",
        f"{len(feedback):,}",
    )
    return comments, {"status": "selected", "comments": counts}


SELECTION_KEYS = ("surveys", "min_comment_chars", "placeholders")
"""The ``feedback_themes`` parameters that decide which comments are read (stored with the
theme model so that scoring reads the comments the themes were fitted on)."""

LATEST_THEME_COLUMNS = {
    "latest_theme": "string",
    "latest_theme_id": "Int64",
    "latest_theme_weight": "float64",
    "latest_theme_survey": "string",
    "days_since_latest_comment": "float64",
}


def theme_labels(model: ThemeModel) -> list[str]:
    """A theme's name in tables and as the ``latest_theme`` value: its first three terms."""
    return [", ".join(terms[:3]) for terms in model.theme_terms_]


def latest_theme_at(comments: pd.DataFrame, keys: pd.DataFrame, model: ThemeModel) -> pd.DataFrame:
    """``LATEST_THEME_COLUMNS`` for each row of ``keys`` (``customer_id``, ``snapshot_date``),
    in the order of ``keys``: the customer's latest comment dated strictly before the date."""
    labels = theme_labels(model)
    assigned = model.assign(comments["comment"])
    dated = pd.DataFrame(
        {
            "customer_id": comments["customer_id"].astype(str).to_numpy(),
            "comment_date": pd.to_datetime(comments["response_date"])
            .astype("datetime64[ns]")
            .to_numpy(),
            "latest_theme_id": np.where(assigned["theme"] >= 0, assigned["theme"] + 1, 0),
            "latest_theme_weight": assigned["weight"].to_numpy(),
            "latest_theme_survey": comments["survey"].astype(str).to_numpy(),
        }
    ).sort_values(["comment_date", "latest_theme_survey"], kind="stable")
    spine = keys[["customer_id", "snapshot_date"]].reset_index(drop=True)
    ordered = spine.assign(
        customer_id=spine["customer_id"].astype(str),
        snapshot_date=pd.to_datetime(spine["snapshot_date"]).astype("datetime64[ns]"),
        position=np.arange(len(spine)),
    ).sort_values("snapshot_date", kind="stable")
    joined = pd.merge_asof(
        ordered,
        dated,
        left_on="snapshot_date",
        right_on="comment_date",
        by="customer_id",
        direction="backward",
        allow_exact_matches=False,  # strictly before t
    ).sort_values("position")
    table = pd.DataFrame(index=spine.index)
    theme_id = joined["latest_theme_id"].to_numpy(dtype=float)
    has_theme = np.nan_to_num(theme_id) > 0
    label_of = np.array([*labels, None], dtype=object)  # the last: no theme
    which = np.where(has_theme, np.nan_to_num(theme_id).astype(np.int64) - 1, len(labels))
    table["latest_theme"] = pd.array(label_of[which], dtype="string")
    table["latest_theme_id"] = pd.array(np.where(has_theme, theme_id, np.nan)).astype("Int64")
    table["latest_theme_weight"] = np.where(has_theme, joined["latest_theme_weight"], np.nan)
    table["latest_theme_survey"] = pd.array(joined["latest_theme_survey"], dtype="string")
    table["days_since_latest_comment"] = (
        (joined["snapshot_date"] - joined["comment_date"]).dt.days.astype(float).to_numpy()
    )
    return table


def attach_latest_theme(
    rows: pd.DataFrame, feedback: pd.DataFrame | None, promoted_churn_model: dict[str, Any]
) -> pd.DataFrame:
    """``rows`` with ``latest_theme`` computed at each row's snapshot date with the theme model
    stored with the promoted churn model. Rows are returned unchanged when that model does not
    use ``latest_theme``; without a readable comment column every value is missing and a
    warning says that the model was trained with comments."""
    return attach_latest_themes([rows], feedback, promoted_churn_model)[0]


def attach_latest_themes(
    frames: list[pd.DataFrame], feedback: pd.DataFrame | None, promoted_churn_model: dict[str, Any]
) -> list[pd.DataFrame]:
    """``attach_latest_theme`` for several frames at once: the comments are read and their
    themes computed once."""
    metadata = promoted_churn_model["metadata"]
    stored = metadata.get("theme_model")
    if "latest_theme" not in metadata["feature_spec"]["features"] or not stored:
        return list(frames)
    model = ThemeModel.from_dict(stored)
    comments, selection = select_comments(feedback, {**stored["selection"], "min_comments": 0})
    if selection["status"] == "skipped":
        # Not a crash, but every customer would look like one who never commented: say so.
        logger.warning(
            "The churn model %s was trained with latest_theme (comment themes), but no comments "
            "can be read now (%s): every customer is scored as without a comment. Restore the "
            "feedback table's comment column, or retrain without it.",
            metadata.get("model_id"),
            selection["reason"],
        )
    keys = pd.concat([f[["customer_id", "snapshot_date"]] for f in frames], ignore_index=True)
    themes = latest_theme_at(comments, keys, model)["latest_theme"].to_numpy()
    out, start = [], 0
    for frame in frames:
        attached = frame.drop(columns=["latest_theme"], errors="ignore").copy(deep=False)
        attached["latest_theme"] = themes[start : start + len(frame)]
        start += len(frame)
        out.append(attached)
    logger.info(
        "latest_theme: %s of %s rows have a comment before their snapshot date (themes of "
        "model %s)",
        f"{int((~pd.isna(themes)).sum()):,}",
        f"{len(themes):,}",
        metadata.get("model_id"),
    )
    return out


def join_latest_theme(
    snapshots: pd.DataFrame, latest_theme_features: pd.DataFrame | None
) -> pd.DataFrame:
    """``snapshots`` with the ``latest_theme`` of ``latest_theme_features`` (keyed by
    customer and snapshot date). Unchanged when the table holds no theme at all (the stage
    was skipped): the model is then trained exactly as without comments."""
    if latest_theme_features is None or not latest_theme_features["latest_theme"].notna().any():
        return snapshots
    keys = ["customer_id", "snapshot_date"]
    themes = latest_theme_features[[*keys, "latest_theme"]]
    themes = themes.assign(
        customer_id=themes["customer_id"].astype(str),
        snapshot_date=pd.to_datetime(themes["snapshot_date"]).astype("datetime64[ns]"),
    )
    lookup = pd.MultiIndex.from_frame(themes[keys])
    if not lookup.is_unique:
        raise ValueError("latest_theme_features holds more than one row per customer and date")
    wanted = pd.MultiIndex.from_arrays(
        [
            snapshots["customer_id"].astype(str),
            pd.to_datetime(snapshots["snapshot_date"]).astype("datetime64[ns]"),
        ]
    )
    position = lookup.get_indexer(wanted)
    values = themes["latest_theme"].to_numpy(dtype=object)
    out = snapshots.drop(columns=["latest_theme"], errors="ignore").copy(deep=False)
    out["latest_theme"] = pd.array(
        np.where(position >= 0, values[np.maximum(position, 0)], pd.NA), dtype="string"
    )
    logger.info(
        "latest_theme joined: %s of %s snapshot rows have a comment theme",
        f"{int(out['latest_theme'].notna().sum()):,}",
        f"{len(out):,}",
    )
    return out
