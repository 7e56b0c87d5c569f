"""Shared by the feedback_themes tests: the default demo data (5,000 customers, the size
``make run`` generates) through cleaning, the timeline and the spine, and the stage's nodes."""

from __future__ import annotations

import functools
from typing import Any

import ibis
import pandas as pd

from customer_retention.pipelines.feature_engineering.nodes import (
    build_customer_timeline,
    build_snapshot_spine,
)
from customer_retention.pipelines.feedback_themes import nodes

from ...conftest import load_parameters
from ..churn_model.helpers import demo_clean_tables, demo_data

N_DEFAULT = load_parameters("demo_data")["n_customers"]


def params(**overrides: Any) -> dict[str, Any]:
    return load_parameters("feedback_themes") | overrides


def timeline_and_spine(tables: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    features = load_parameters("feature_engineering")
    timeline = build_customer_timeline(
        tables["customers"],
        ibis.memtable(tables["subscriptions"]),
        ibis.memtable(tables["transactions"]),
        features,
    )
    return timeline, build_snapshot_spine(tables["customers"], timeline, features)


@functools.cache
def _demo() -> dict[str, Any]:
    tables = demo_clean_tables(N_DEFAULT)
    truth = demo_data(N_DEFAULT)[2]
    timeline, spine = timeline_and_spine(tables)
    p = params()
    comments, selection = nodes.select_comments(tables["feedback"], p)
    themed, summary = nodes.find_themes(comments, selection, p)
    return {
        "feedback": tables["feedback"],
        "truth": truth,
        "timeline": timeline,
        "spine": spine,
        "comments": comments,
        "selection": selection,
        "themed": themed,
        "summary": summary,
    }


def demo() -> dict[str, Any]:
    """The stage's inputs and first outputs on the default demo data (computed once)."""
    return dict(_demo())


def planted(themed: pd.DataFrame, truth: dict[str, Any]) -> pd.DataFrame:
    """The comments with their planted theme and whether it matches the coded reason."""
    rows = pd.DataFrame(truth["comments"]["rows"]).astype({"customer_id": str})
    keyed = themed.assign(
        customer_id=themed["customer_id"].astype(str),
        response_date=themed["response_date"].dt.strftime("%Y-%m-%dT%H:%M:%S"),
        survey=themed["survey"].astype(str),
    )
    return keyed.merge(
        rows.rename(columns={"theme": "planted_theme"}),
        on=["customer_id", "response_date", "survey"],
        how="inner",
        validate="one_to_one",
    )
