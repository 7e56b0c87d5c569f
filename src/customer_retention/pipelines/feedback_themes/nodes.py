"""What customers say: themes in the comments of the feedback table, and churn by theme.

1. ``select_comments``: the non-blank comments of the chosen surveys, and why the stage is
   skipped when there are fewer than ``min_comments`` (no feedback table, no comment column,
   blanks only).
2. ``find_themes``: TF-IDF + NMF themes (``models.themes.ThemeModel``, the method and the
   criterion for the number of themes in its docstring): each comment's theme and weight, each
   theme's label terms, size and representative comments.
3. ``analysis.theme_trend``, ``analysis.churn_by_theme``, ``analysis.themes_against_reasons``:
   theme shares per month, churn within the horizon after an NPS comment by theme (Wilson
   intervals), exit comments' themes against their coded reasons.
4. ``features.build_latest_theme``: per customer and snapshot, the theme of the latest comment
   dated strictly before the snapshot (point in time), for the churn model.
5. ``summarise_themes``: everything the report needs, in ``comment_themes.json``.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from customer_retention.core.comment_themes import COMMENT_COLUMNS, empty_comments
from customer_retention.core.comment_themes import select_comments as read_comments
from customer_retention.core.serialization import jsonable
from customer_retention.models.themes import ThemeModel, agreement

from .analysis import churn_by_theme, theme_trend, themes_against_reasons
from .features import build_latest_theme
from .model import theme_model

__all__ = [
    "build_latest_theme",
    "churn_by_theme",
    "find_themes",
    "select_comments",
    "summarise_themes",
    "theme_trend",
    "themes_against_reasons",
]

logger = logging.getLogger(__name__)

THEME_COLUMNS = [*COMMENT_COLUMNS, "theme", "theme_label", "theme_weight"]


def select_comments(
    feedback: pd.DataFrame | None, params: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(the comments read, the counts and the status: ``selected`` or ``skipped`` + reason);
    ``core.comment_themes.select_comments``, with a log line when the stage is skipped."""
    comments, selection = read_comments(feedback, params)
    if selection["status"] == "skipped":
        logger.info("Feedback themes skipped: %s", selection["reason"])
    return comments, selection


def _label(terms: list[str]) -> str:
    return ", ".join(terms[:3])


def find_themes(
    comments: pd.DataFrame, selection: dict[str, Any], params: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(each comment with its theme and weight, the themes and the choice of their number)."""
    if selection["status"] == "skipped":
        return empty_comments(THEME_COLUMNS), dict(selection)
    try:
        model = theme_model(params).fit(comments["comment"])
    except ValueError as error:  # e.g. too few distinct comments or terms for min_themes
        logger.warning("Feedback themes skipped: the comments do not support themes: %s", error)
        return empty_comments(THEME_COLUMNS), {
            **selection,
            "status": "skipped",
            "reason": f"the comments do not support {params['min_themes']} themes: {error}",
        }
    assigned = model.assign(comments["comment"])
    labels = [_label(terms) for terms in model.theme_terms_]
    number = (assigned["theme"] + 1).where(assigned["theme"] >= 0)
    themed = comments.assign(
        theme=number.astype("Int64").array,
        theme_label=pd.array(
            number.map(lambda t: labels[int(t) - 1], na_action="ignore"), dtype="string"
        ),
        theme_weight=assigned["weight"].to_numpy(),
    )
    examples = model.representatives(comments["comment"], assigned, int(params["examples"]))
    themes = [
        _theme_entry(themed, j + 1, labels[j], terms, examples[j])
        for j, terms in enumerate(model.theme_terms_)
    ]
    unassigned = int(themed["theme"].isna().sum())
    logger.info(
        "Feedback themes: %s themes (%s); %s comment(s) without a theme",
        model.n_themes_,
        "; ".join(f"{t['label']} {t['share']:.0%}" for t in themes),
        unassigned,
    )
    summary = {
        **selection,
        "status": "analysed",
        "method": _method(model, params),
        "number_of_themes": _number_of_themes(model, params),
        "themes": themes,
        "unassigned_comments": unassigned,
    }
    return themed[THEME_COLUMNS], jsonable(summary)


def _theme_entry(
    themed: pd.DataFrame, theme: int, label: str, terms: list[str], examples: list[str]
) -> dict[str, Any]:
    rows = themed[themed["theme"] == theme]
    return {
        "theme": theme,
        "label": label,
        "terms": terms,
        "comments": len(rows),
        "share": len(rows) / len(themed),
        "customers": int(rows["customer_id"].nunique()),
        "mean_weight": float(rows["theme_weight"].mean()) if len(rows) else None,
        "by_survey": rows["survey"].value_counts().to_dict(),
        "examples": examples,
    }


def _method(model: ThemeModel, params: dict[str, Any]) -> dict[str, Any]:
    vectorizer = model.vectorizer_
    return {
        "vectors": "TF-IDF (sublinear tf, unit-length rows) of the distinct normalised comments",
        "analyzer": model.analyzer_,
        "ngram_range": list(vectorizer.ngram_range),
        "vocabulary": len(model.terms_),
        "distinct_comments_fitted": model.n_comments_,
        "themes": "NMF, Frobenius loss, coordinate descent from NNDSVDa (Lee & Seung 2001)",
        "weights": "per comment, non-negative least squares on the fitted themes; the theme is "
        "the largest weight, theme_weight its share of the comment's weights",
        "seed": int(params["seed"]),
    }


def _number_of_themes(model: ThemeModel, params: dict[str, Any]) -> dict[str, Any]:
    if model.selection_ is None:
        return {"chosen": model.n_themes_, "criterion": "fixed (n_themes)", "values": []}
    return {
        "chosen": model.n_themes_,
        "criterion": "highest mean silhouette (Rousseeuw 1987) of the comments' themes on their "
        "TF-IDF vectors, cosine distance, among the numbers whose every theme holds at least "
        f"min_theme_comments ({params['min_theme_comments']}) distinct comments",
        "range": [int(params["min_themes"]), int(params["max_themes"])],
        "values": model.selection_.to_dict("records"),
    }


def summarise_themes(
    theme_summary: dict[str, Any],
    trend: dict[str, Any],
    churn: dict[str, Any],
    reasons: dict[str, Any],
    latest_theme: dict[str, Any],
    comment_themes: pd.DataFrame,
    ground_truth: dict[str, Any] | None,
) -> dict[str, Any]:
    """``comment_themes.json``: the themes, the trend, churn by theme, the reason cross-table,
    the latest_theme feature table's summary, and on demo data the agreement with the planted
    themes."""
    result = dict(theme_summary)
    if result["status"] == "analysed":
        result |= {
            "trend": trend,
            "churn_by_theme": churn,
            "exit_reasons": reasons,
            "latest_theme_feature": latest_theme,
            "planted_themes": _planted_agreement(comment_themes, ground_truth),
        }
    else:
        result["latest_theme_feature"] = latest_theme
    return jsonable(result)


def _planted_agreement(
    comment_themes: pd.DataFrame, ground_truth: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Demo data: the adjusted Rand index of the themes found against the planted ones."""
    planted = (ground_truth or {}).get("comments", {}).get("rows")
    if not planted:
        return None
    rows = pd.DataFrame(planted).astype({"customer_id": str})
    rows = rows.rename(columns={"theme": "planted_theme"})
    found = comment_themes.assign(
        customer_id=comment_themes["customer_id"].astype(str),
        response_date=pd.to_datetime(comment_themes["response_date"]).dt.strftime(
            "%Y-%m-%dT%H:%M:%S"
        ),
        survey=comment_themes["survey"].astype(str),
    ).merge(rows, on=["customer_id", "response_date", "survey"], how="inner")
    found = found[found["theme"].notna()]
    return agreement(found["theme"].astype(int), found["planted_theme"].astype(str))
