"""The feature stage with its data kept in the engine (Spark, ``kedro run --env spark``).

The nodes of :mod:`.nodes` call these when their clean tables live in an engine that keeps
its data (``core.engines.keeps_data_in_engine``): each feature group is handed on as an Ibis
table (the spine keys and the filled features), which the catalog writes from the engine, and
the assembly joins the groups onto the spine, fills, derives and adds the customer attributes
as Ibis expressions: the snapshot table is written by the engine, never collected.

Every step mirrors the pandas assembly of :mod:`.nodes` and gives the same values (compared
row by row in ``tests/spark``); what differs is the storage type: counts stay integers where
pandas upcasts to floats, and text columns are text (the catalog's ``EngineTableDataset``
turns them back into categoricals when the model stages load the table).

What the driver still holds: the spine (one row per customer and snapshot, built in pandas
from the customer timeline), uploaded to the engine for each feature group, and the customers'
attributes (one row per customer).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from customer_retention.core import attributes as attribute_kinds
from customer_retention.core.features import FEATURES, Feature

from .aggregations import KEYS

logger = logging.getLogger(__name__)
NPS_CLASSES = ("promoter", "passive", "detractor", "no_answer")
"""``core.segments.nps_class`` levels: 9-10, 7-8, 0-6, no answer."""


def fill_no_record(value: ir.Value, feature: Feature | None, windows: dict[str, int]) -> ir.Value:
    """What 'no record before t' means for this feature: 0, its lookback window, or missing
    (``nodes._fill_no_record`` on an Ibis column)."""
    rule = feature.when_no_record if feature is not None else "missing"
    if rule == "zero":
        return value.fill_null(0)
    if rule == "lookback":
        return value.fill_null(windows[feature.lookback_window])
    return value


def aligned_features(
    name: str,
    builder: Callable[[ir.Table, ir.Table, dict[str, int]], ir.Table],
    keys: pd.DataFrame,
    table: ir.Table,
    windows: dict[str, int],
) -> ir.Table:
    """One feature group as an Ibis table in the engine: every spine row's keys and its filled
    features (an empty source table gives the keys only, with no rows: no features)."""
    rows = ibis.memtable(keys)
    if table.count().execute() == 0:
        logger.info("No %s data: its features are skipped", name)
        return rows.limit(0)
    features = builder(rows, table, windows)
    columns = [c for c in features.columns if c not in KEYS]
    aligned = rows.left_join(features, KEYS)
    filled = {c: fill_no_record(aligned[c], FEATURES.get(c), windows) for c in columns}
    logger.info("%s features: left in the engine (%s spine rows)", name.capitalize(), len(keys))
    return aligned.select(*KEYS, **filled)


def _nps_class(score: ir.NumericValue) -> ir.StringValue:
    """``core.segments.nps_class`` as an expression (a missing score is ``no_answer``)."""
    promoter, passive, detractor, no_answer = NPS_CLASSES
    return (
        ibis.cases(
            (score >= 9, promoter), (score >= 7, passive), (score >= 0, detractor), else_=no_answer
        )
        .fill_null(no_answer)
        .cast("string")
    )


def _attributes(
    customers: pd.DataFrame, customer_attributes: dict[str, Any]
) -> tuple[ir.Table, list[str]] | None:
    """The customers' attributes models can use, as a memtable keyed by customer_id (numeric as
    floats, the others as text); None when there are none."""
    inputs = attribute_kinds.model_inputs(customer_attributes)
    if not inputs:
        return None
    numeric = set(attribute_kinds.numeric(customer_attributes))
    static = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].astype(object),
            **{
                c: customers[c].astype("float64" if c in numeric else object).to_numpy()
                for c in inputs
            },
        }
    )
    renamed = {c: f"_attribute_{i}" for i, c in enumerate(inputs)}
    return ibis.memtable(
        static.rename(columns={"customer_id": "_attribute_customer", **renamed})
    ), inputs


def assemble(
    spine: pd.DataFrame,
    customers: pd.DataFrame,
    customer_attributes: dict[str, Any],
    params: dict[str, Any],
    feature_tables: tuple[ir.Table | pd.DataFrame, ...],
    ratios: dict[str, tuple[str, str]],
) -> tuple[ir.Table, ir.Table]:
    """``nodes.assemble_customer_snapshots`` in the engine: the snapshot table and the as-of
    rows as Ibis tables in spine order (same columns, same order, same values)."""
    windows = params["windows"]
    groups = [f for f in feature_tables if isinstance(f, ir.Table) and set(f.columns) - set(KEYS)]
    rows = ibis.memtable(spine.reset_index(drop=True).assign(_spine_row=np.arange(len(spine))))
    joined = rows
    for group in groups:
        joined = joined.left_join(group, KEYS)
    columns: dict[str, ir.Value] = {c: joined[c] for c in spine.columns}
    for group in groups:
        columns |= {c: joined[c] for c in group.columns if c not in KEYS}
    for name, feature in FEATURES.items():
        if name in columns and name not in spine.columns:
            columns[name] = fill_no_record(columns[name], feature, windows)
    scale = ibis.literal(windows["recent_days"] / windows["previous_days"], type="float64")
    for ratio, (recent, previous) in ratios.items():
        if recent in columns:
            # As pandas computes it: float64 throughout (a decimal literal would not be).
            numerator = columns[recent].cast("float64") + 1
            columns[ratio] = numerator / (columns[previous].cast("float64") * scale + 1)
    if "nps_latest" in columns:
        columns["nps_class"] = _nps_class(columns["nps_latest"])
        columns["nps_trend"] = columns["nps_latest"] - columns.pop("nps_previous")
        columns["exit_survey_started"] = (columns.pop("exit_survey_recent") > 0).fill_null(False)
    order = joined["_spine_row"]
    snapshots = joined.select(_spine_row=order, **columns)
    attributes = _attributes(customers, customer_attributes)
    if attributes is not None:
        static, inputs = attributes
        with_static = snapshots.left_join(
            static, snapshots.customer_id == static._attribute_customer
        )
        snapshots = with_static.select(
            *snapshots.columns, **{c: with_static[f"_attribute_{i}"] for i, c in enumerate(inputs)}
        )
    as_of = snapshots.filter(snapshots.is_as_of_snapshot).order_by("_spine_row").drop("_spine_row")
    snapshots = snapshots.order_by("_spine_row").drop("_spine_row")
    logger.info(
        "Customer snapshots: assembled in the engine (%s spine rows, %s columns)",
        f"{len(spine):,}",
        len(snapshots.columns),
    )
    return snapshots, as_of
