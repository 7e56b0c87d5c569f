"""Parameter block of the feedback_themes stage (themes in comments, churn by theme). Each key's
description is its documentation (README's "Parameter reference" is generated from it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field

from .parameter_blocks import Horizon
from .parameter_types import (
    Block,
    Count,
    Name,
    NonNegativeInt,
    OpenShare,
    Problem,
    RowCap,
    Seed,
    Shown,
)

ThemeCount = Annotated[int, Field(ge=2), Shown("integer", "integer ≥ 2")]
NgramRange = Annotated[
    Literal["auto"]
    | Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=2, max_length=2)],
    Shown("auto or list", "auto, or [low, high] with 1 ≤ low ≤ high"),
]


class LatestTheme(Block):
    enabled: bool = Field(description="false: the latest_theme table is written empty")


class FeedbackThemes(Block):
    seed: Seed = Field(description="Random seed (globals.yml `seed`)")
    horizon_days: Horizon = Field(
        description="Churn within this many days after an NPS comment (globals.yml `horizon_days`)"
    )
    surveys: Annotated[
        list[Name], Field(min_length=1), Shown("list", "survey names, at least one")
    ] = Field(description="The surveys whose comments are read (nps, exit, csat, ...)")
    min_comments: Count = Field(
        description="Fewer readable comments than this: the stage is skipped (status skipped)"
    )
    min_comment_chars: NonNegativeInt = Field(
        description='Shorter comments ("ok", "-") are not read'
    )
    placeholders: Annotated[list[Name], Shown("list", "list of texts (may be empty)")] = Field(
        description='Answers that say nothing ("n/a", "none", "特になし"), compared without case '
        "and end punctuation, are not read"
    )
    analyzer: Literal["char_wb", "word", "auto"] = Field(
        description="char_wb: character n-grams inside words (any language, no tokenizer); "
        "word: words; auto: char_wb for scripts written without spaces, else word"
    )
    ngram_range: NgramRange = Field(
        description="N-gram lengths; auto: (3, 5) characters, (2, 2) in scripts without "
        "spaces, (1, 1) words"
    )
    stop_words: Literal["english"] | None = Field(
        description="Words dropped by the word analyzer and from theme labels"
    )
    min_df: Count = Field(description="A term must occur in at least this many distinct comments")
    max_df: Annotated[float, Field(gt=0, le=1), Shown("number", "number in (0, 1]")] = Field(
        description="Terms in more than this share of the distinct comments are dropped"
    )
    max_features: RowCap = Field(description="Vocabulary cap (the most frequent terms)")
    n_themes: Annotated[
        Literal["auto"] | Annotated[int, Field(ge=2)],
        Shown("auto or integer", "auto, or an integer ≥ 2"),
    ] = Field(
        description="auto: chosen in [min_themes, max_themes] by the highest mean silhouette "
        "(cosine, TF-IDF); or a number"
    )
    min_themes: ThemeCount = Field(description="Smallest number of themes tried")
    max_themes: ThemeCount = Field(description="Largest number of themes tried")
    min_theme_comments: Count = Field(
        description="A number of themes with a theme of fewer distinct comments is not chosen"
    )
    max_selection_comments: Annotated[int, Field(ge=10), Shown("integer", "integer ≥ 10")] = Field(
        description="Distinct comments used to choose the number (a random sample above)"
    )
    top_terms: Count = Field(description="Terms in each theme's label")
    examples: Count = Field(description="Representative comments shown per theme")
    alpha: OpenShare = Field(
        description="1 - alpha Wilson intervals (churn by theme, monthly shares)"
    )
    min_followed_up: Count = Field(
        description="Themes with fewer followed-up customers get no comparison with the others"
    )
    min_exit_comments: Count = Field(
        description="Themes with fewer coded exit comments are not judged against the code list"
    )
    code_gap_share: OpenShare = Field(
        description='A theme whose most common exit reason covers less than this share is "not '
        'in the code list"'
    )
    latest_theme: LatestTheme = Field(
        description="Per customer and snapshot, the theme of the latest comment before it"
    )

    RULES = ("min_themes ≤ max_themes", "ngram_range: low ≤ high")

    def problems(self) -> Iterator[Problem]:
        if self.min_themes > self.max_themes:
            yield Problem(
                "min_themes", f"must be ≤ max_themes ({self.max_themes})", ("max_themes",)
            )
        if isinstance(self.ngram_range, list) and self.ngram_range[0] > self.ngram_range[1]:
            yield Problem("ngram_range", "low must be ≤ high")
