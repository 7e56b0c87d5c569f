"""Point-in-time customer snapshots: one row per (snapshot date t, customer active at t).

Features use only data strictly before t; the label ``churned_within_horizon`` is churn in
(t, t + horizon]. Rows whose horizon is not over at the as-of date carry no label (NaN); the
newest snapshot (t = as-of date) is what scoring scores.
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

from . import aggregations
from .feature_definitions import FEATURES

logger = logging.getLogger(__name__)


def _max_date(table: ir.Table, columns: list[str]) -> pd.Timestamp | None:
    if table.count().execute() == 0:
        return None
    values = table.aggregate([table[c].max().name(c) for c in columns]).to_pandas().iloc[0]
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

    Contractual (subscriptions present): consecutive subscriptions with gaps of at most
    ``grace_days`` form one episode, which ends when the last of them ends. Non-contractual:
    transactions with gaps of at most ``inactivity_days`` form one episode, which ends
    ``inactivity_days`` after its last transaction.
    """
    as_of = resolve_as_of_date(customers, subscriptions, transactions, params)
    contractual = subscriptions.count().execute() > 0
    if contractual:
        spans = subscriptions.select("customer_id", start="start_date", end="end_date").to_pandas()
        gap = params["grace_days"]
    else:
        spans = (
            transactions.select("customer_id", start=transactions.transaction_date.truncate("D"))
            .distinct()
            .to_pandas()
        )
        spans["end"] = spans["start"] + pd.Timedelta(days=params["inactivity_days"])
        gap = 0
    spans = spans.sort_values(["customer_id", "start"], ignore_index=True)
    open_end = spans["end"].fillna(pd.Timestamp.max)
    reach = open_end.groupby(spans["customer_id"]).cummax()
    previous_reach = reach.groupby(spans["customer_id"]).shift()
    new_episode = previous_reach.isna() | (spans["start"] > previous_reach + pd.Timedelta(days=gap))
    spans["episode"] = new_episode.groupby(spans["customer_id"]).cumsum()
    spans["open_end"] = open_end
    timeline = spans.groupby(["customer_id", "episode"], as_index=False).agg(
        episode_start=("start", "min"), episode_end=("open_end", "max")
    )
    # An end at or after the as-of date has not happened yet: still active.
    timeline["episode_end"] = timeline["episode_end"].where(timeline["episode_end"] < as_of)
    timeline["as_of_date"] = as_of
    timeline["contract"] = "contractual" if contractual else "non-contractual"
    logger.info(
        "Customer timeline: %s episodes of %s customers, as-of date %s (%s)",
        f"{len(timeline):,}",
        f"{timeline['customer_id'].nunique():,}",
        as_of.date(),
        timeline["contract"].iat[0] if len(timeline) else "no activity",
    )
    return timeline


def snapshot_dates(as_of: pd.Timestamp, params: dict[str, Any]) -> list[pd.Timestamp]:
    """``n_snapshots`` dates ending at the as-of date, ``snapshot_every_months`` apart."""
    step = int(params["snapshot_every_months"])
    return sorted(as_of - pd.DateOffset(months=step * k) for k in range(int(params["n_snapshots"])))


def build_snapshot_spine(
    customers: pd.DataFrame, customer_timeline: pd.DataFrame, params: dict[str, Any]
) -> pd.DataFrame:
    """One row per (snapshot date t, customer active at t) with tenure and the churn label.

    Active at t: an episode started before t and had not ended by t. Label: the episode ends
    in (t, t + horizon]; NaN when t + horizon is not before the as-of date (not yet known).
    ``days_observed`` / ``churn_observed`` give time from t to churn or to the as-of date
    (censored), for survival models.
    """
    as_of = customer_timeline["as_of_date"].iat[0]
    horizon = pd.Timedelta(days=int(params["horizon_days"]))
    frames = []
    for t in snapshot_dates(as_of, params):
        active = customer_timeline[
            (customer_timeline["episode_start"] < t)
            & (customer_timeline["episode_end"].isna() | (customer_timeline["episode_end"] > t))
        ]
        frames.append(active[["customer_id", "episode_end"]].assign(snapshot_date=t))
    spine = pd.concat(frames, ignore_index=True).merge(
        customers[["customer_id", "signup_date"]], on="customer_id", how="left"
    )
    spine["tenure_days"] = (spine["snapshot_date"] - spine["signup_date"]).dt.days.clip(lower=0)
    churned = spine["episode_end"].notna()
    label_known = spine["snapshot_date"] + horizon < as_of
    spine["churned_within_horizon"] = np.where(
        label_known,
        (churned & (spine["episode_end"] <= spine["snapshot_date"] + horizon)).astype(float),
        np.nan,
    )
    spine["churn_observed"] = churned
    spine["days_observed"] = (spine["episode_end"].fillna(as_of) - spine["snapshot_date"]).dt.days
    spine["is_as_of_snapshot"] = spine["snapshot_date"] == as_of
    return spine.drop(columns=["episode_end", "signup_date"]).sort_values(
        ["snapshot_date", "customer_id"], ignore_index=True
    )


def _compute(
    name: str,
    builder: Callable[[ir.Table, ir.Table, dict[str, int]], ir.Table],
    spine: pd.DataFrame,
    table: ir.Table,
    windows: dict[str, int],
) -> pd.DataFrame:
    """Run one Ibis aggregation; an empty (absent) table gives an empty frame and a log line."""
    if table.count().execute() == 0:
        logger.info("No %s data: its features are skipped", name)
        return pd.DataFrame(columns=aggregations.KEYS)
    started = time.perf_counter()
    keys = ibis.memtable(spine[aggregations.KEYS])
    result = builder(keys, table, windows).to_pandas()
    logger.info(
        "%s features: %s rows in %.1f s",
        name.capitalize(),
        f"{len(result):,}",
        time.perf_counter() - started,
    )
    return result


def build_usage_features(
    spine: pd.DataFrame, events: ir.Table, params: dict[str, Any]
) -> pd.DataFrame:
    """Usage features from the daily event rollup; straight from the events when the rollup
    would not be exact (snapshot dates with a time of day, or more event types than one bit
    mask holds)."""
    builder = aggregations.usage_features
    if not (spine["snapshot_date"] == spine["snapshot_date"].dt.normalize()).all():
        logger.info("Usage features per event: snapshot dates with a time of day")
        builder = aggregations.usage_features_per_event
    elif (n_types := events.event_type.nunique().execute()) > aggregations.MAX_EVENT_TYPES_PER_MASK:
        logger.info(
            "Usage features per event: %s event types (daily rollup holds up to %s)",
            n_types,
            aggregations.MAX_EVENT_TYPES_PER_MASK,
        )
        builder = aggregations.usage_features_per_event
    return _compute("usage", builder, spine, events, params["windows"])


def build_purchase_features(
    spine: pd.DataFrame, transactions: ir.Table, params: dict[str, Any]
) -> pd.DataFrame:
    return _compute(
        "purchase", aggregations.purchase_features, spine, transactions, params["windows"]
    )


def build_subscription_features(
    spine: pd.DataFrame, subscriptions: ir.Table, params: dict[str, Any]
) -> pd.DataFrame:
    return _compute(
        "subscription", aggregations.subscription_features, spine, subscriptions, params["windows"]
    )


def build_support_features(
    spine: pd.DataFrame, tickets: ir.Table, params: dict[str, Any]
) -> pd.DataFrame:
    return _compute("support", aggregations.support_features, spine, tickets, params["windows"])


def build_feedback_features(
    spine: pd.DataFrame, feedback: ir.Table, params: dict[str, Any]
) -> pd.DataFrame:
    return _compute("feedback", aggregations.feedback_features, spine, feedback, params["windows"])


def nps_class(score: pd.Series) -> pd.Series:
    """promoter (9-10), passive (7-8), detractor (0-6), or no_answer."""
    labels = np.select(
        [score >= 9, score >= 7, score >= 0], ["promoter", "passive", "detractor"], "no_answer"
    )
    return pd.Series(
        pd.Categorical(labels, categories=["promoter", "passive", "detractor", "no_answer"]),
        index=score.index,
    )


KEYS = aggregations.KEYS


def _positions(ids: pd.Series, id_set: pd.Series) -> np.ndarray:
    """Position of each id in ``id_set`` (unique ids), -1 where absent. Text ids are hashed by
    Arrow: much faster than pandas on the Python-object strings Ibis returns."""
    try:
        found = pc.index_in(
            pa.array(ids, pa.string(), from_pandas=True),
            value_set=pa.array(id_set, pa.string(), from_pandas=True),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # ids that are not text
        return pd.Index(id_set).get_indexer(ids)
    return found.fill_null(-1).to_numpy(zero_copy_only=False)


def _join_on_spine(spine: pd.DataFrame, feature_tables: list[pd.DataFrame]) -> pd.DataFrame:
    """``spine`` left-joined with each feature table on (customer_id, snapshot_date).

    Same result as successive ``merge(how="left")`` calls (feature tables have one row per key,
    and spine rows without one get missing values, upcast as merge does), but the text keys are
    hashed once into integer row positions instead of being factorized again in every merge.
    """
    customer_ids = pd.Series(spine["customer_id"].unique())
    dates = pd.Index(spine["snapshot_date"].unique())

    def key_codes(frame: pd.DataFrame) -> np.ndarray:  # -1 = customer or date not in the spine
        customer = _positions(frame["customer_id"], customer_ids)
        date = dates.get_indexer(frame["snapshot_date"].astype(dates.dtype))
        return np.where((customer >= 0) & (date >= 0), customer * len(dates) + date, -1)

    spine_codes = key_codes(spine)
    row_of_code = np.full(len(customer_ids) * len(dates) + 1, -1)  # last slot: code -1
    row_of_code[spine_codes] = np.arange(len(spine))
    if (spine_codes < 0).any() or (row_of_code >= 0).sum() < len(spine):
        # Missing ids or several spine rows per key: plain merges (which copy rows).
        snapshots = spine.copy()
        for features in feature_tables:
            features = features.astype({"snapshot_date": dates.dtype})
            snapshots = snapshots.merge(features, on=KEYS, how="left")
        return snapshots
    aligned = [spine.reset_index(drop=True)]
    for features in feature_tables:
        rows = row_of_code[key_codes(features)]
        values = features.drop(columns=KEYS)[rows >= 0].set_axis(rows[rows >= 0])
        if not values.index.is_unique:
            raise ValueError("A feature table has more than one row per customer and snapshot")
        aligned.append(values.reindex(range(len(spine))))
    return pd.concat(aligned, axis=1)


def assemble_customer_snapshots(
    spine: pd.DataFrame,
    customers: pd.DataFrame,
    params: dict[str, Any],
    *feature_tables: pd.DataFrame,
) -> pd.DataFrame:
    """Join every feature table onto the spine and fill what 'no record' means per feature."""
    windows = params["windows"]
    snapshots = _join_on_spine(spine, [f for f in feature_tables if f.shape[1] > len(KEYS)])
    for name, feature in FEATURES.items():
        if name not in snapshots:
            continue
        if feature.when_no_record == "zero":
            snapshots[name] = pd.to_numeric(snapshots[name]).fillna(0)
        elif feature.when_no_record == "lookback":
            snapshots[name] = snapshots[name].fillna(windows[feature.lookback_window])
    for ratio, (recent, previous) in RATIOS.items():
        if recent in snapshots:
            # Recent window vs the average window of the same length before it, smoothed by +1.
            scale = windows["recent_days"] / windows["previous_days"]
            snapshots[ratio] = (snapshots[recent] + 1) / (snapshots[previous] * scale + 1)
    if "nps_latest" in snapshots:
        snapshots["nps_class"] = nps_class(snapshots["nps_latest"])
        snapshots["nps_trend"] = snapshots["nps_latest"] - snapshots["nps_previous"]
        snapshots["exit_survey_started"] = snapshots["exit_survey_recent"] > 0
        snapshots = snapshots.drop(columns=["nps_previous", "exit_survey_recent"])
    attributes = [c for c in customers.columns if c not in ("customer_id", "signup_date")]
    static = customers[["customer_id", *attributes]].astype({c: "category" for c in attributes})
    if static["customer_id"].is_unique:  # the left merge as row positions
        rows = _positions(snapshots["customer_id"], static["customer_id"])
        by_row = static[attributes].reset_index(drop=True).reindex(rows).reset_index(drop=True)
        snapshots = pd.concat([snapshots, by_row], axis=1)
    else:
        snapshots = snapshots.merge(static, on="customer_id", how="left")
    if "current_plan" in snapshots:
        snapshots["current_plan"] = snapshots["current_plan"].astype("category")
    logger.info(
        "Customer snapshots: %s rows x %s columns, %s labelled (churn rate %.1f%%)",
        f"{len(snapshots):,}",
        snapshots.shape[1],
        f"{snapshots['churned_within_horizon'].notna().sum():,}",
        100 * snapshots["churned_within_horizon"].mean(),
    )
    return snapshots


RATIOS = {
    "usage_trend_ratio": ("events_recent", "events_previous"),
    "transaction_trend_ratio": ("transactions_recent", "transactions_previous"),
    "amount_trend_ratio": ("amount_recent", "amount_previous"),
}
