"""The ThemeModel the stage's parameters describe (used by the themes and by latest_theme)."""

from __future__ import annotations

from typing import Any

from customer_retention.models.themes import ThemeModel


def theme_model(params: dict[str, Any]) -> ThemeModel:
    """``models.themes.ThemeModel`` with the ``feedback_themes`` parameters."""
    ngrams = params.get("ngram_range", "auto")
    return ThemeModel(
        params.get("n_themes", "auto"),
        min_themes=int(params["min_themes"]),
        max_themes=int(params["max_themes"]),
        analyzer=params["analyzer"],
        ngram_range=None if ngrams == "auto" else tuple(ngrams),
        min_df=int(params["min_df"]),
        max_df=float(params["max_df"]),
        max_features=params.get("max_features"),
        stop_words=params.get("stop_words"),
        max_selection_comments=int(params["max_selection_comments"]),
        min_theme_comments=int(params["min_theme_comments"]),
        top_terms=int(params["top_terms"]),
        random_state=int(params["seed"]),
    )
