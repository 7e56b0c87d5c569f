"""What each extra column of the customers table is, decided once, at cleaning.

Real customer tables carry every kind of column: numeric charges and scores, Yes/No flags,
segments such as plan or country, identifiers that look like numbers (a row number), names with
thousands of distinct values, free-text notes. Each stage needs to know which is which: Cox,
Weibull AFT and Kaplan-Meier can only use numbers and categoricals with few levels; XGBoost
handles many levels natively; an identifier or a free-text note must never become a covariate.

:func:`profile_attributes` parses every attribute and gives it one **kind**:

=================  ==========================================================================
numeric            numbers (typed in Parquet, or text of which at least 98% of the non-blank
                   values are numbers: the others are counted as unparseable and become missing)
categorical        text with 2 to ``max_levels`` distinct values
high_cardinality   text with more than ``max_levels`` values: XGBoost only (native categories)
identifier         a distinct value in every row (text, or whole numbers): never a feature
free_text          many distinct values of several words (comments, notes): never a feature
constant           one value or none at all: nothing to learn
ignored            declared ``ignore`` in parameters
=================  ==========================================================================

A kind can be declared per column (``data_cleaning.attributes.types``); undeclared columns
are inferred by the rules above. The profile (a JSON-able dict) is written by cleaning and read
by the stages that need it; :func:`covariates`, :func:`segments` and :func:`model_inputs` are
the only ways they select columns.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

DECLARABLE = {"numeric", "categorical", "identifier", "free_text", "ignore"}
MIN_ROWS_FOR_IDENTIFIER = 50  # below this, distinct values in every row prove nothing
FREE_TEXT_MIN_WORDS = 3.0  # mean words per value from which many distinct values are prose
NUMERIC_MIN_SHARE = 0.98  # share of non-blank values that are numbers for a numeric column


def _blank(values: pd.Series) -> pd.Series:
    """Missing, or text that is empty after stripping spaces."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values.isna()
    text = values.astype("string").str.strip()
    return text.isna() | (text == "")


def _as_numbers(values: pd.Series) -> tuple[pd.Series, int]:
    """Numbers parsed from ``values`` and how many non-blank values did not parse."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype("float64"), 0
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64"), 0
    blank = _blank(values)
    text = values.astype("string").str.strip()
    parsed = pd.to_numeric(text.mask(blank), errors="coerce").astype("float64")
    return parsed, int((parsed.isna() & ~blank).sum())


def _infer_kind(values: pd.Series, numbers: pd.Series, unparseable: int, max_levels: int) -> str:
    present = values[~_blank(values)]
    levels = present.astype("string").str.strip().nunique()
    if levels <= 1:
        return "constant"
    if unparseable <= (1 - NUMERIC_MIN_SHARE) * len(present):
        whole = bool(np.all(np.mod(numbers.dropna().to_numpy(), 1) == 0))
        if whole and levels == len(present) and len(present) >= MIN_ROWS_FOR_IDENTIFIER:
            return "identifier"
        return "numeric"
    if levels <= max_levels:
        return "categorical"
    words = present.astype("string").str.strip().str.count(r"\s+") + 1
    if float(words.mean()) >= FREE_TEXT_MIN_WORDS:
        return "free_text"
    if levels == len(present) and len(present) >= MIN_ROWS_FOR_IDENTIFIER:
        return "identifier"
    return "high_cardinality"


def profile_attributes(
    customers: pd.DataFrame, attributes: list[str], params: dict[str, Any]
) -> tuple[dict[str, pd.Series], dict[str, Any]]:
    """Parse and profile the customers' attribute columns.

    Args:
        customers: the raw customers rows (any dtypes).
        attributes: the columns to profile (every column beyond the contract's).
        params: ``data_cleaning.attributes``: ``types`` (column -> numeric / categorical /
            identifier / free_text / ignore), ``max_levels``, ``max_segment_levels``.

    Returns:
        The parsed columns (numbers as float64, everything else as stripped text with blanks
        missing) and the profile: per column its kind, why, distinct levels, blanks and
        unparseable values (a declared-numeric value that is not a number becomes missing).

    Raises:
        ValueError: a declared type is unknown, or names a column the table does not have.
    """
    declared = dict(params.get("types") or {})
    unknown_columns = sorted(set(declared) - set(attributes))
    if unknown_columns:
        raise ValueError(
            f"data_cleaning.attributes.types names column(s) {unknown_columns} that the "
            f"customers table does not have (its attribute columns: {attributes})"
        )
    bad = {c: t for c, t in declared.items() if t not in DECLARABLE}
    if bad:
        raise ValueError(
            f"data_cleaning.attributes.types: unknown type(s) {bad}; "
            f"expected one of {sorted(DECLARABLE)}"
        )
    max_levels = int(params.get("max_levels", 50))
    max_segment_levels = int(params.get("max_segment_levels", 10))
    parsed: dict[str, pd.Series] = {}
    profile: dict[str, Any] = {}
    for column in attributes:
        values = customers[column]
        blanks = int(_blank(values).sum())
        numbers, unparseable = _as_numbers(values)
        kind = declared.get(column)
        if kind == "ignore":
            kind, why = "ignored", "declared ignore"
        elif kind is not None:
            why = f"declared {kind}"
        else:
            kind = _infer_kind(values, numbers, unparseable, max_levels)
            why = "inferred"
        if kind != "numeric":
            unparseable = 0
            text = values.astype("string").str.strip()
            parsed[column] = text.mask(text == "").astype("string[pyarrow]")
            levels = int(parsed[column].nunique())
        else:
            if unparseable:
                why += f", {unparseable} non-numeric value(s) set missing"
            parsed[column] = numbers
            levels = int(numbers.nunique())
        if kind == "categorical" and levels > max_levels:
            kind, why = "high_cardinality", f"{why}, more than {max_levels} levels"
        profile[column] = {
            "kind": kind,
            "why": why,
            "levels": levels,
            "blanks": blanks,
            "unparseable": unparseable,
            "segment": kind == "categorical" and 2 <= levels <= max_segment_levels,
        }
    summary = {
        "max_levels": max_levels,
        "max_segment_levels": max_segment_levels,
        "columns": profile,
    }
    _log_profile(summary)
    return parsed, summary


def _log_profile(summary: dict[str, Any]) -> None:
    by_kind: dict[str, list[str]] = {}
    for column, info in summary["columns"].items():
        by_kind.setdefault(info["kind"], []).append(f"{column} ({info['levels']})")
    if by_kind:
        logger.info(
            "Customer attributes (distinct values): %s",
            "; ".join(f"{kind}: {', '.join(cols)}" for kind, cols in by_kind.items()),
        )
    for kind in ("high_cardinality", "identifier", "free_text"):
        if kind in by_kind:
            logger.warning(
                "Customer attribute(s) %s are %s: never used by Cox, AFT or Kaplan-Meier%s",
                ", ".join(by_kind[kind]),
                kind.replace("_", " "),
                " (XGBoost uses them as native categories)"
                if kind == "high_cardinality"
                else " nor by any model",
            )
    for column, info in summary["columns"].items():
        if info["unparseable"]:
            logger.warning(
                "Customer attribute %s: %s non-numeric value(s) in a numeric column became missing",
                column,
                f"{info['unparseable']:,}",
            )


def _columns(profile: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return (profile or {}).get("columns", {})


def covariates(
    profile: dict[str, Any] | None, exclude: list[str] | tuple[str, ...] = ()
) -> list[str]:
    """Attributes a Cox / AFT model can use: numeric, and categorical with few levels."""
    return [
        column
        for column, info in _columns(profile).items()
        if info["kind"] in ("numeric", "categorical") and column not in exclude
    ]


def model_inputs(profile: dict[str, Any] | None) -> list[str]:
    """Attributes a tree model can use: numeric and categorical, high-cardinality included."""
    return [
        column
        for column, info in _columns(profile).items()
        if info["kind"] in ("numeric", "categorical", "high_cardinality")
    ]


def numeric(profile: dict[str, Any] | None) -> list[str]:
    return [c for c, info in _columns(profile).items() if info["kind"] == "numeric"]


def segments(profile: dict[str, Any] | None, chosen: Any = "auto") -> list[str]:
    """Segment attributes: ``chosen`` as configured (a list; those present are kept), or with
    ``auto`` (or null) the categorical attributes with 2 to ``max_segment_levels`` levels, in
    the customers table's column order."""
    columns = _columns(profile)
    if chosen in (None, "auto"):
        return [c for c, info in columns.items() if info["segment"]]
    if isinstance(chosen, str):
        chosen = [chosen]
    absent = [c for c in chosen if c not in columns]
    if absent:
        logger.warning("Segment attribute(s) %s are not in the customers table: skipped", absent)
    return [c for c in chosen if c in columns]


def chosen_segments(setting: Any, run_plan: dict[str, Any]) -> list[str]:
    """Segments a stage breaks its results down by: ``auto`` (or null) = the run plan's
    segment attributes; otherwise the configured list (or one name)."""
    if setting in (None, "auto"):
        return list(run_plan.get("segments", []))
    return [setting] if isinstance(setting, str) else list(setting)
