"""Point-in-time customer snapshots: one row per (snapshot date t, customer active at t).

Features use only data strictly before t; the label ``churned_within_horizon`` is churn in
(t, t + horizon]. Rows whose horizon is not over at the as-of date carry no label (NaN); the
newest snapshot (t = as-of date) is what scoring scores.

The clean tables arrive as Ibis tables. On the embedded DuckDB (the default environment) each
feature group comes back as pandas, aligned with the spine; on Spark (``--env spark``) the same
nodes hand Ibis tables on and the snapshot table is assembled and written by Spark
(:mod:`.in_engine`): the engine the data live in decides (``core.engines``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from customer_retention.core import attributes as attribute_kinds
from customer_retention.core.contract import business_model
from customer_retention.core.engines import drop_memtable, keeps_data_in_engine
from customer_retention.core.features import FEATURES, Feature
from customer_retention.core.segments import nps_class

from . import aggregations, in_engine

logger = logging.getLogger(__name__)


def _as_pandas(table: ir.Table) -> pd.DataFrame:
    """An Ibis table as a pandas frame, through Arrow: several times faster than Ibis's own
    ``to_pandas`` conversion, with the same dtypes for the columns used here (timestamps, held
    in microseconds by both engines, as ``datetime64[ns]``)."""
    return table.to_pyarrow().to_pandas(coerce_temporal_nanoseconds=True)


def _max_date(table: ir.Table, columns: list[str]) -> pd.Timestamp | None:
    if table.count().execute() == 0:
        return None
    values = _as_pandas(table.aggregate([table[c].max().name(c) for c in columns])).iloc[0]
    return pd.to_datetime(values).max()


def resolve_as_of_date(
    customers: pd.DataFrame, subscriptions: ir.Table, transactions: ir.Table, params: dict[str, Any]
) -> pd.Timestamp:
    """The newest snapshot date: the parameter, or the day after the last recorded date."""
    if params.get("as_of_date"):
        return pd.Timestamp(params["as_of_date"]).normalize()
    candidates = [
        customers["signup_date"].max(),
        _max_date(subscriptions, ["start_date", "end_date"]),
        _max_date(transactions, ["transaction_date"]),
    ]
    last = max(c for c in candidates if c is not None and not pd.isna(c))
    return last.normalize() + pd.Timedelta(days=1)


def build_customer_timeline(
    customers: pd.DataFrame, subscriptions: ir.Table, transactions: ir.Table, params: dict[str, Any]
) -> pd.DataFrame:
    """Activity episodes per customer: [episode_start, episode_end), end NaT = still active.

    The business model comes from ``params["contract"]`` (``core.contract.business_model``).
    Contractual: consecutive subscriptions with gaps of at most
    ``grace_days`` form one episode, which ends when the last of them ends. Non-contractual:
    transactions with gaps of at most ``inactivity_days`` form one episode, which ends
    ``inactivity_days`` after its last transaction.
    """
    as_of = resolve_as_of_date(customers, subscriptions, transactions, params)
    contract, why = business_model(
        params.get("contract", "auto"),
        int(subscriptions.count().execute()),
        int(transactions.count().execute()),
    )
    contractual = contract == "contractual"
    if contractual:
        spans = subscriptions.select("customer_id", start="start_date", end="end_date")
        gap = params["grace_days"]
    else:
        spans = transactions.select(
            "customer_id", start=transactions.transaction_date.truncate("D")
        ).distinct()
        gap = 0
    spans = _as_pandas(spans)
    if not contractual:
        spans["end"] = spans["start"] + pd.Timedelta(days=params["inactivity_days"])
    # Customer ids as sorted categories: the sorts and groupings below compare integer codes
    # instead of Python strings, in the same (text) order.
    ids = spans["customer_id"]
    spans["customer_id"] = ids.astype(pd.CategoricalDtype(np.sort(ids.dropna().unique())))
    spans = spans.sort_values(["customer_id", "start"], ignore_index=True)
    open_end = spans["end"].fillna(pd.Timestamp.max)
    reach = open_end.groupby(spans["customer_id"], observed=True).cummax()
    previous_reach = reach.groupby(spans["customer_id"], observed=True).shift()
    new_episode = previous_reach.isna() | (spans["start"] > previous_reach + pd.Timedelta(days=gap))
    spans["episode"] = new_episode.groupby(spans["customer_id"], observed=True).cumsum()
    spans["open_end"] = open_end
    timeline = spans.groupby(["customer_id", "episode"], as_index=False, observed=True).agg(
        episode_start=("start", "min"), episode_end=("open_end", "max")
    )
    timeline["customer_id"] = timeline["customer_id"].astype(ids.dtype)
    # An end at or after the as-of date has not happened yet: still active.
    timeline["episode_end"] = timeline["episode_end"].where(timeline["episode_end"] < as_of)
    timeline["as_of_date"] = as_of
    timeline["contract"] = contract
    timeline["contract_reason"] = why
    timeline["history"] = history_shape(timeline, params)
    logger.info(
        "Customer timeline: %s episodes of %s customers, as-of date %s (%s)",
        f"{len(timeline):,}",
        f"{timeline['customer_id'].nunique():,}",
        as_of.date(),
        timeline["contract"].iat[0] if len(timeline) else "no activity",
    )
    return timeline


HISTORY_SHAPES = ("auto", "full", "single_snapshot")


def history_shape(timeline: pd.DataFrame, params: dict[str, Any]) -> str:
    """``full`` (a history of starts and ends) or ``single_snapshot``: one snapshot with a churn
    flag converted to the contract, i.e. every churn happens after every signup (no customer
    joined after anyone left), so the months before the snapshot are a history rebuilt from
    tenure, with no churn in them. ``feature_engineering.history`` forces either."""
    setting = params.get("history", "auto")
    if setting not in HISTORY_SHAPES:
        raise ValueError(
            f"feature_engineering.history is {setting!r}; expected one of {HISTORY_SHAPES}"
        )
    if setting != "auto":
        return setting
    ends = timeline["episode_end"].dropna()
    if ends.empty or timeline["episode_start"].max() >= ends.min():
        return "full"
    logger.warning(
        "Single-snapshot data: every churn (first %s) is after every signup (last %s), so the "
        "history before the snapshot is rebuilt from tenure. One labelled snapshot is used; "
        "KPIs that need history are not computed (set feature_engineering.history: full to "
        "override).",
        ends.min().date(),
        timeline["episode_start"].max().date(),
    )
    return "single_snapshot"


def single_snapshot_date(timeline: pd.DataFrame, params: dict[str, Any]) -> pd.Timestamp:
    """The labelled snapshot of single-snapshot data: ``single_snapshot_date``, else the day
    before the first churn (everybody who churned is still active then)."""
    if params.get("single_snapshot_date"):
        return pd.Timestamp(params["single_snapshot_date"]).normalize()
    return timeline["episode_end"].min().normalize() - pd.Timedelta(days=1)


def snapshot_dates(as_of: pd.Timestamp, params: dict[str, Any]) -> list[pd.Timestamp]:
    """``n_snapshots`` dates ending at the as-of date, ``snapshot_every_months`` apart."""
    step = int(params["snapshot_every_months"])
    return sorted(as_of - pd.DateOffset(months=step * k) for k in range(int(params["n_snapshots"])))


def timeline_snapshot_dates(
    customer_timeline: pd.DataFrame, params: dict[str, Any]
) -> list[pd.Timestamp]:
    """The snapshot dates of this timeline: monthly ones ending at the as-of date (a full
    history), or the labelled snapshot and the as-of date (single-snapshot data)."""
    as_of = customer_timeline["as_of_date"].iat[0]
    if _is_single_snapshot(customer_timeline):
        return [single_snapshot_date(customer_timeline, params), as_of]
    return snapshot_dates(as_of, params)


def _is_single_snapshot(customer_timeline: pd.DataFrame) -> bool:
    return (
        "history" in customer_timeline
        and len(customer_timeline) > 0
        and customer_timeline["history"].iat[0] == "single_snapshot"
    )


def build_snapshot_spine(
    customers: pd.DataFrame, customer_timeline: pd.DataFrame, params: dict[str, Any]
) -> pd.DataFrame:
    """One row per (snapshot date t, customer active at t) with tenure and the churn label.

    Active at t: an episode started before t and had not ended by t. Label: the episode ends
    in (t, t + horizon]; NaN when t + horizon is not before the as-of date (not yet known).
    Single-snapshot data have one labelled snapshot, whose label is the export's churn flag
    (known, although its horizon may reach past the as-of date: no later data will come).
    ``days_observed`` / ``churn_observed`` give time from t to churn or to the as-of date
    (censored), for survival models.
    """
    as_of = customer_timeline["as_of_date"].iat[0]
    horizon = pd.Timedelta(days=int(params["horizon_days"]))
    # Sorted by customer, each snapshot's rows come out in (snapshot_date, customer_id) order.
    timeline = customer_timeline
    if not timeline["customer_id"].is_monotonic_increasing:
        timeline = timeline.sort_values("customer_id", kind="stable")
    timeline = timeline.merge(
        customers[["customer_id", "signup_date"]], on="customer_id", how="left"
    )
    frames = []
    dates = timeline_snapshot_dates(customer_timeline, params)
    for t in dates:
        active = timeline[
            (timeline["episode_start"] < t)
            & (timeline["episode_end"].isna() | (timeline["episode_end"] > t))
        ]
        frames.append(active[["customer_id", "episode_end", "signup_date"]].assign(snapshot_date=t))
    spine = pd.concat(frames, ignore_index=True)
    spine["tenure_days"] = (spine["snapshot_date"] - spine["signup_date"]).dt.days.clip(lower=0)
    churned = spine["episode_end"].notna()
    label_known = spine["snapshot_date"] + horizon < as_of
    if _is_single_snapshot(customer_timeline):
        label_known = spine["snapshot_date"] == dates[0]
    spine["churned_within_horizon"] = np.where(
        label_known,
        (churned & (spine["episode_end"] <= spine["snapshot_date"] + horizon)).astype(float),
        np.nan,
    )
    spine["churn_observed"] = churned
    spine["days_observed"] = (spine["episode_end"].fillna(as_of) - spine["snapshot_date"]).dt.days
    spine["is_as_of_snapshot"] = spine["snapshot_date"] == as_of
    return spine.drop(columns=["episode_end", "signup_date"])


def _fill_no_record(
    values: pd.Series, feature: Feature | None, windows: dict[str, int]
) -> pd.Series:
    """What 'no record before t' means for this feature (``Feature.when_no_record``): 0, the
    length of its lookback window, or missing. A column with nothing to fill comes back
    sharing its memory (pandas Copy-on-Write), not copied."""
    rule = feature.when_no_record if feature is not None else "missing"
    if rule == "zero":
        if not pd.api.types.is_numeric_dtype(values):
            values = pd.to_numeric(values)
        return values.fillna(0)
    if rule == "lookback":
        return values.fillna(windows[feature.lookback_window])
    return values


def _unregister_memtable(backend: Any, memtable: ir.Table) -> None:
    """Drop an ``ibis.memtable`` from the engine it was registered in (DuckDB or Spark).

    Ibis 12 keeps every memtable it has registered (its Arrow copy of the data) until the
    process exits, so each feature node left its copy of the spine keys behind: measured at
    1M customers, 315 MB of Arrow memory still held after the purchase features and 423 MB
    after the usage features too (206 MB, the spine itself, with the memtables dropped).
    """
    drop_memtable(backend, memtable)


def _in_spine_order(found: pa.Table, n_rows: int, columns: list[str]) -> pa.Table:
    """The ``columns`` of ``found`` (at most one row per spine row, numbered ``spine_row``) row
    for row in spine order, null where a spine row has no record: what a left join of the
    spine with ``found`` ordered by spine row gives, without the join and the sort (Arrow's
    ``take`` with a null position for each spine row not found)."""
    position = np.full(n_rows, -1, dtype=np.int64)
    position[found[aggregations.ROW].to_numpy()] = np.arange(found.num_rows)
    return found.select(columns).take(pa.array(position, mask=position < 0))


def _compute(
    name: str,
    builder: Callable[[ir.Table, ir.Table, dict[str, int]], ir.Table],
    spine: pd.DataFrame,
    table: ir.Table,
    windows: dict[str, int],
) -> pd.DataFrame | ir.Table:
    """Run one Ibis aggregation, aligned with the spine: row for row in spine order, the
    features (where the customer has no record before t: filled as the feature's
    ``when_no_record`` says, see ``_fill_no_record``), without the keys. An empty
    (absent) table gives no columns and a log line.

    On an engine that keeps its data (Spark) the result is the Ibis table of the keys and
    the filled features, for the catalog to write from the engine (``in_engine``).

    The builder groups by the spine's row numbers (``aggregations.group_keys``); the rows it
    finds come back as Arrow (several times faster than Ibis's ``to_pandas``) and are placed in
    spine order by ``_in_spine_order``, so the assembly only places columns side by side.
    Leaving the keys out matters at scale: at 6 million snapshot rows each copy of the
    customer ids took about 400 MB, and five feature tables carried one each.
    """
    keys = spine[KEYS].reset_index(drop=True)
    if keeps_data_in_engine(table):
        return in_engine.aligned_features(name, builder, keys, table, windows)
    if table.count().execute() == 0:
        logger.info("No %s data: its features are skipped", name)
        return pd.DataFrame(index=keys.index)
    started = time.perf_counter()
    rows = ibis.memtable(keys.assign(**{aggregations.ROW: np.arange(len(keys))}))
    features = builder(rows, table, windows)
    columns = [c for c in features.columns if c not in aggregations.group_keys(rows)]
    try:
        found = features.to_pyarrow()
    finally:
        _unregister_memtable(table.get_backend(), rows)
    # One block per column, so that filling a column below frees the unfilled one.
    result = _in_spine_order(found, len(keys), columns).to_pandas(
        split_blocks=True, coerce_temporal_nanoseconds=True
    )
    logger.info(
        "%s features: %s rows with records in %.1f s",
        name.capitalize(),
        f"{result[columns[0]].notna().sum():,}",
        time.perf_counter() - started,
    )
    # Filled here rather than in the assembly, where each filled column would be a second
    # copy beside the unfilled one (about 1 GB at 1M customers) while every group is held.
    filled = {c: _fill_no_record(result[c], FEATURES.get(c), windows) for c in columns}
    return pd.DataFrame(filled, copy=False)


def build_usage_features(
    spine: pd.DataFrame, events: ir.Table, params: dict[str, Any]
) -> pd.DataFrame | ir.Table:
    """Usage features in one pass with bit masks for the distinct counts; straight from the
    events (COUNT(DISTINCT)) when a mask could not hold them: a recent window of more than
    ``MAX_BITS_PER_MASK`` - 1 days, or more event types than one mask holds."""
    windows = params["windows"]
    builder = aggregations.usage_features
    if windows["recent_days"] >= aggregations.MAX_BITS_PER_MASK:
        logger.info(
            "Usage features per event: a recent window of %s days (bit masks hold up to %s)",
            windows["recent_days"],
            aggregations.MAX_BITS_PER_MASK - 1,
        )
        builder = aggregations.usage_features_per_event
    elif (n_types := events.event_type.nunique().execute()) > aggregations.MAX_EVENT_TYPES_PER_MASK:
        logger.info(
            "Usage features per event: %s event types (bit masks hold up to %s)",
            n_types,
            aggregations.MAX_EVENT_TYPES_PER_MASK,
        )
        builder = aggregations.usage_features_per_event
    return _compute("usage", builder, spine, events, windows)


def build_purchase_features(
    spine: pd.DataFrame, transactions: ir.Table, params: dict[str, Any]
) -> pd.DataFrame | ir.Table:
    return _compute(
        "purchase", aggregations.purchase_features, spine, transactions, params["windows"]
    )


def build_subscription_features(
    spine: pd.DataFrame, subscriptions: ir.Table, params: dict[str, Any]
) -> pd.DataFrame | ir.Table:
    return _compute(
        "subscription", aggregations.subscription_features, spine, subscriptions, params["windows"]
    )


def build_support_features(
    spine: pd.DataFrame, tickets: ir.Table, params: dict[str, Any]
) -> pd.DataFrame | ir.Table:
    return _compute("support", aggregations.support_features, spine, tickets, params["windows"])


def build_feedback_features(
    spine: pd.DataFrame, feedback: ir.Table, params: dict[str, Any]
) -> pd.DataFrame | ir.Table:
    return _compute("feedback", aggregations.feedback_features, spine, feedback, params["windows"])


KEYS = aggregations.KEYS


def _positions(ids: pd.Series, id_set: pd.Series) -> np.ndarray:
    """Position of each id in ``id_set`` (unique ids), -1 where absent. Text ids are hashed by
    Arrow: much faster than pandas on Python-object strings."""
    try:
        found = pc.index_in(
            pa.array(ids, pa.string(), from_pandas=True),
            value_set=pa.array(id_set, pa.string(), from_pandas=True),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # ids that are not text
        return pd.Index(id_set).get_indexer(ids)
    return found.fill_null(-1).to_numpy(zero_copy_only=False)


def _joined_columns(
    spine: pd.DataFrame, feature_tables: list[pd.DataFrame]
) -> dict[str, pd.Series]:
    """The columns of ``spine`` left-joined with each feature table on (customer_id,
    snapshot_date), by name.

    A table without the keys is aligned with the spine (row for row, as the feature nodes
    return them) and a table with the spine's keys in the spine's order is too: their columns
    are placed as they are. Other tables go through successive ``merge(how="left")`` calls
    (one row per key in each table; spine rows without one get missing values, upcast as merge
    does).
    """
    spine = spine.reset_index(drop=True)
    columns = dict(spine.items())
    keyed = []
    for features in feature_tables:
        has_keys = set(KEYS) <= set(features.columns)
        if has_keys and not features[KEYS].equals(spine[KEYS]):
            keyed.append(features)
            continue
        if len(features) != len(spine):
            raise ValueError(
                f"A feature table without the keys {KEYS} has {len(features):,} rows; the "
                f"spine has {len(spine):,}: it must be aligned with the spine row for row"
            )
        features = features.reset_index(drop=True)
        columns |= {name: features[name] for name in features.columns if name not in KEYS}
    if not keyed:
        return columns
    snapshots = pd.DataFrame(columns)
    for features in keyed:
        if features.duplicated(KEYS).any():
            raise ValueError("A feature table has more than one row per customer and snapshot")
        features = features.astype({"snapshot_date": spine["snapshot_date"].dtype})
        snapshots = snapshots.merge(features, on=KEYS, how="left")
    return dict(snapshots.items())


def _join_on_spine(spine: pd.DataFrame, feature_tables: list[pd.DataFrame]) -> pd.DataFrame:
    """``spine`` left-joined with each feature table on (customer_id, snapshot_date)."""
    return pd.DataFrame(_joined_columns(spine, feature_tables))


def _customer_attributes(
    ids: pd.Series, customers: pd.DataFrame, columns: list[str], numeric: list[str]
) -> dict[str, pd.Series] | None:
    """The static attributes ``columns`` of each customer in ``ids``, in the order of ``ids``
    (missing for unknown customers): numeric ones as floats, the others as categoricals; None
    when customer ids repeat in ``customers`` (then only a merge, which copies rows, gives the
    left join)."""
    if not customers["customer_id"].is_unique:
        return None
    rows = _positions(ids, customers["customer_id"])
    attributes = {}
    for name in columns:
        values = customers[name]
        values = values.astype("float64") if name in numeric else values.astype("category")
        attributes[name] = pd.Series(values.array.take(rows, allow_fill=True))
    return attributes


def assemble_customer_snapshots(
    spine: pd.DataFrame,
    customers: pd.DataFrame,
    customer_attributes: dict[str, Any],
    params: dict[str, Any],
    *feature_tables: pd.DataFrame | ir.Table,
) -> tuple[pd.DataFrame, pd.DataFrame] | tuple[ir.Table, ir.Table]:
    """Join every feature table onto the spine and fill what 'no record' means per feature.

    The customers' static attributes join as model inputs when the attribute profile says a
    model can use them (numeric as floats, categorical and high-cardinality as categoricals);
    identifiers, free text and constant columns stay out of the snapshots.

    Returns every snapshot row and, apart, the rows of the as-of snapshot (the customers to
    score and value today: at 1,000,000 customers a sixth of the table, which scoring and
    valuation then read without loading the history).

    Works on a dict of columns and builds the frame once at the end: no block copies per added
    or dropped column. Feature tables held by an engine (Spark) are joined there, and the two
    tables come back as Ibis tables for the catalog to write from the engine
    (``in_engine.assemble``: the same steps as Ibis expressions).
    """
    if any(isinstance(f, ir.Table) for f in feature_tables):
        return in_engine.assemble(
            spine, customers, customer_attributes, params, feature_tables, RATIOS
        )
    windows = params["windows"]
    columns = _joined_columns(spine, [f for f in feature_tables if set(f.columns) - set(KEYS)])
    for name, feature in FEATURES.items():
        if name in columns:
            columns[name] = _fill_no_record(columns[name], feature, windows)
    for ratio, (recent, previous) in RATIOS.items():
        if recent in columns:
            # Recent window vs the average window of the same length before it, smoothed by +1.
            scale = windows["recent_days"] / windows["previous_days"]
            columns[ratio] = (columns[recent] + 1) / (columns[previous] * scale + 1)
    if "nps_latest" in columns:
        columns["nps_class"] = nps_class(columns["nps_latest"])
        columns["nps_trend"] = columns["nps_latest"] - columns.pop("nps_previous")
        columns["exit_survey_started"] = columns.pop("exit_survey_recent") > 0
    if "current_plan" in columns:
        columns["current_plan"] = columns["current_plan"].astype("category")
    inputs = attribute_kinds.model_inputs(customer_attributes)
    numeric = attribute_kinds.numeric(customer_attributes)
    attributes = _customer_attributes(columns["customer_id"], customers, inputs, numeric)
    if attributes is not None:
        # copy=False: one block per column, no consolidating copy. At 6 million rows the
        # default (copy, then consolidate by dtype) took the assembly from 3.6 to 7.8 GB.
        snapshots = pd.DataFrame(columns | attributes, copy=False)
    else:
        static = customers[["customer_id", *inputs]]
        static = static.astype({c: "category" for c in inputs if c not in numeric})
        snapshots = pd.DataFrame(columns).merge(static, on="customer_id", how="left")
    logger.info(
        "Customer snapshots: %s rows x %s columns, %s labelled (churn rate %.1f%%)",
        f"{len(snapshots):,}",
        snapshots.shape[1],
        f"{snapshots['churned_within_horizon'].notna().sum():,}",
        100 * snapshots["churned_within_horizon"].mean(),
    )
    as_of_rows = snapshots[snapshots["is_as_of_snapshot"].to_numpy(dtype=bool)]
    return snapshots, as_of_rows.reset_index(drop=True)


RATIOS = {
    "usage_trend_ratio": ("events_recent", "events_previous"),
    "transaction_trend_ratio": ("transactions_recent", "transactions_previous"),
    "amount_trend_ratio": ("amount_recent", "amount_previous"),
}
