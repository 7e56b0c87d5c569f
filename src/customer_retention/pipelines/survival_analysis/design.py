"""The survival models' view of the customers: durations, covariates and design matrices."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from customer_retention.core import attributes as attribute_kinds

logger = logging.getLogger(__name__)
DURATION, EVENT = "tenure_days", "churned"


@contextmanager
def progress(message: str) -> Iterator[None]:
    """Log ``message`` before a step that can take a while on wide or large data, and how long
    it took after it."""
    logger.info("%s ...", message)
    started = time.perf_counter()
    yield
    logger.info("%s: %.1f s", message, time.perf_counter() - started)


def attribute_columns(survival_table: pd.DataFrame) -> list[str]:
    return [
        c
        for c in survival_table.columns
        if c not in ("customer_id", "signup_date", DURATION, EVENT)
    ]


def is_categorical(values: pd.Series) -> bool:
    """Whether ``design_matrix`` one-hot encodes the column (text, categories) rather than
    taking it as a number."""
    return (
        isinstance(values.dtype, pd.CategoricalDtype)
        or values.dtype == object
        or pd.api.types.is_string_dtype(values)
    )


def design_matrix(
    frame: pd.DataFrame, columns: list[str], reference_levels: dict[str, str]
) -> pd.DataFrame:
    """One-hot encode categorical columns, dropping the reference level of each (given in
    parameters, else the most frequent level), so every hazard ratio reads 'vs reference'.

    Levels are the distinct string values present, in sorted order (``pd.get_dummies``'s
    columns); the matrix is assembled once in numpy instead of concatenating a frame per
    column."""
    names: list[str] = []
    blocks: list[np.ndarray] = []
    for column in columns:
        values = frame[column]
        if is_categorical(values):
            values = values.astype(str)
            if column in reference_levels:
                reference = reference_levels[column]
            else:
                reference = values.value_counts().idxmax()
            codes, levels = pd.factorize(values, sort=True)
            keep = [i for i, level in enumerate(levels) if level != reference]
            blocks.append(codes[:, None] == np.asarray(keep)[None, :])
            names.extend(f"{column}={levels[i]}" for i in keep)
        else:
            blocks.append(values.to_numpy(dtype=float, na_value=np.nan)[:, None])
            names.append(column)
    matrix = np.empty((len(frame), len(names)), order="F")
    at = 0
    for block in blocks:
        matrix[:, at : at + block.shape[1]] = block
        at += block.shape[1]
    return pd.DataFrame(matrix, columns=names, index=frame.index)


def static_design(survival_table: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """One-hot static attributes plus duration and event: the Cox and AFT model frame.

    A numeric attribute's blanks are filled with its median, with a ``<name>_missing`` flag
    beside it, so that no customer is dropped for one blank value (a categorical attribute's
    blanks are a level of their own)."""
    design = design_matrix(
        survival_table, attribute_columns(survival_table), params["reference_levels"]
    )
    for column in [c for c in design if design[c].isna().any()]:
        missing = design[column].isna()
        logger.info(
            "Survival models: %s blank value(s) of %s filled with its median, flagged in %s_missing",
            f"{missing.sum():,}",
            column,
            column,
        )
        design[column] = design[column].fillna(design[column].median())
        design[f"{column}_missing"] = missing.astype(float)
    return pd.concat([design, survival_table[[DURATION, EVENT]]], axis=1)


def sample_rows(
    frame: pd.DataFrame,
    max_rows: int | None,
    seed: int,
    purpose: str,
    rows: pd.Series | None = None,
) -> pd.DataFrame:
    """The ``rows`` of ``frame`` (all by default); above ``max_rows`` a seeded random sample of
    them, index kept (the rows ``frame[rows].sample(max_rows, random_state=seed)`` would draw,
    without copying all of them first). ``None``: no limit.

    Hazard ratios estimated from 200,000 customers already have standard errors far below any
    effect worth acting on; the sample bounds the fit time on millions of customers.
    """
    positions = np.arange(len(frame)) if rows is None else np.flatnonzero(rows.to_numpy())
    if max_rows is not None and len(positions) > int(max_rows):
        logger.info(
            "%s on a random sample of %s of %s rows",
            purpose,
            f"{int(max_rows):,}",
            f"{len(positions):,}",
        )
        chosen = np.random.RandomState(seed).choice(len(positions), int(max_rows), replace=False)
        positions = positions[chosen]
    return frame.iloc[positions]


def split_customers(
    table: pd.DataFrame, test_share: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    test = np.random.default_rng(seed).random(len(table)) < test_share
    return table[~test], table[test]


def with_unusable_excluded(params: dict[str, Any], customer_attributes: dict[str, Any]) -> dict:
    """``params`` with ``landmark_exclude`` extended by the static attributes the survival
    models cannot use (identifiers, free text, too many levels, constants): the snapshot
    models' (landmark and boosted) inputs are the snapshot features minus these."""
    unusable = [
        c
        for c in customer_attributes.get("columns", {})
        if c not in attribute_kinds.covariates(customer_attributes)
    ]
    return params | {"landmark_exclude": [*params["landmark_exclude"], *unusable]}
