"""A plain pandas version of the feature stage: the yardstick for its speed.

It builds the same ``customer_snapshots`` as the ``feature_engineering`` pipeline (customer
timeline, snapshot spine, the five feature groups, assembly) the way a notebook would: read the
clean Parquet tables with ``pd.read_parquet``, then, for each snapshot date t, keep the records
strictly before t (and inside the lookback window), and aggregate them per customer with
vectorised ``groupby`` calls. Nothing is deliberately slow; nothing is clever either.

Text columns are read as Arrow-backed pandas strings (pandas 3's default); pandas 2.3 gives
Python-object strings unless told otherwise (``string_storage``); the benchmark times both.

The definitions follow ``customer_retention.pipelines.feature_engineering`` (aggregations.py,
nodes.py, core/features.py) and are written independently of it, so that
``tests/test_benchmark_baselines.py`` can check that both give the same table.

benchmarks/run.py runs it through worker.py in a subprocess of its own (own peak memory);
alone::

    python benchmarks/baselines/features_pandas.py data/benchmarks/S/data/02_intermediate
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

COLUMNS = {  # None: every column (the static customer attributes are all the other columns)
    "customers": None,
    "subscriptions": ["customer_id", "start_date", "end_date", "plan", "mrr"],
    "transactions": ["customer_id", "transaction_date", "amount"],
    "events": ["customer_id", "event_time", "event_type"],
    "support_tickets": ["customer_id", "opened_at", "first_response_at", "resolved_at", "csat"],
    "feedback": ["customer_id", "response_date", "survey", "score"],
}
DAY = pd.Timedelta(days=1)


def read_clean_tables(folder: Path, string_storage: str = "pyarrow") -> dict[str, pd.DataFrame]:
    """The clean tables of ``folder`` (data/02_intermediate), only the columns used.

    Text columns come back as pandas strings stored as ``string_storage``: "pyarrow" (the
    default of pandas 3, and pandas 2's option ``mode.string_storage``) or "python" (what
    pandas 2.3's ``read_parquet`` gives by default: one Python object per value).
    """
    with pd.option_context("mode.string_storage", string_storage):
        return {
            table: pd.read_parquet(Path(folder) / f"{table}.parquet", columns=columns)
            for table, columns in COLUMNS.items()
        }


# ---------------------------------------------------------------- timeline and spine
def as_of_date(tables: dict[str, pd.DataFrame], params: dict[str, Any]) -> pd.Timestamp:
    """The parameter, else the day after the last date in customers, subscriptions, transactions."""
    if params.get("as_of_date"):
        return pd.Timestamp(params["as_of_date"]).normalize()
    subscriptions, transactions = tables["subscriptions"], tables["transactions"]
    last = pd.Series(
        [
            tables["customers"]["signup_date"].max(),
            subscriptions["start_date"].max(),
            subscriptions["end_date"].max(),
            transactions["transaction_date"].max(),
        ]
    ).max()
    return last.normalize() + DAY


def customer_timeline(tables: dict[str, pd.DataFrame], params: dict[str, Any]) -> pd.DataFrame:
    """Activity episodes [episode_start, episode_end) per customer; end NaT = still active."""
    as_of = as_of_date(tables, params)
    subscriptions = tables["subscriptions"]
    if len(subscriptions):
        spans = subscriptions[["customer_id", "start_date", "end_date"]].set_axis(
            ["customer_id", "start", "end"], axis=1
        )
        gap = pd.Timedelta(days=params["grace_days"])
    else:
        days = tables["transactions"]["transaction_date"].dt.normalize()
        spans = pd.DataFrame(
            {"customer_id": tables["transactions"]["customer_id"], "start": days}
        ).drop_duplicates()
        spans["end"] = spans["start"] + pd.Timedelta(days=params["inactivity_days"])
        gap = pd.Timedelta(0)
    spans = spans.sort_values(["customer_id", "start"]).reset_index(drop=True)
    spans["end"] = spans["end"].fillna(pd.Timestamp.max)  # open-ended = active forever
    reach = spans.groupby("customer_id")["end"].cummax()
    reached_before = reach.groupby(spans["customer_id"]).shift()
    starts_new = reached_before.isna() | (spans["start"] > reached_before + gap)
    spans["episode"] = starts_new.astype(int).groupby(spans["customer_id"]).cumsum()
    timeline = spans.groupby(["customer_id", "episode"], as_index=False).agg(
        episode_start=("start", "min"), episode_end=("end", "max")
    )
    timeline.loc[timeline["episode_end"] >= as_of, "episode_end"] = pd.NaT
    timeline.attrs["as_of_date"] = as_of
    return timeline


def snapshot_dates(as_of: pd.Timestamp, params: dict[str, Any]) -> list[pd.Timestamp]:
    months = int(params["snapshot_every_months"])
    return [
        as_of - pd.DateOffset(months=months * k)
        for k in reversed(range(int(params["n_snapshots"])))
    ]


def snapshot_spine(
    customers: pd.DataFrame, timeline: pd.DataFrame, params: dict[str, Any]
) -> pd.DataFrame:
    """(snapshot_date, customer active at it) with tenure, churn label and survival columns."""
    as_of = timeline.attrs["as_of_date"]
    horizon = pd.Timedelta(days=int(params["horizon_days"]))
    rows = []
    for t in snapshot_dates(as_of, params):
        ended = timeline["episode_end"]
        active = timeline[(timeline["episode_start"] < t) & (ended.isna() | (ended > t))]
        rows.append(
            pd.DataFrame(
                {
                    "customer_id": active["customer_id"],
                    "snapshot_date": t,
                    "episode_end": active["episode_end"],
                }
            )
        )
    spine = pd.concat(rows, ignore_index=True)
    signup = spine["customer_id"].map(customers.set_index("customer_id")["signup_date"])
    t = spine["snapshot_date"]
    end = spine["episode_end"]
    spine["tenure_days"] = (t - signup).dt.days.clip(lower=0)
    churned_in_horizon = (end.notna() & (end <= t + horizon)).astype(float)
    spine["churned_within_horizon"] = churned_in_horizon.where(t + horizon < as_of)
    spine["churn_observed"] = end.notna()
    spine["days_observed"] = (end.fillna(as_of) - t).dt.days
    spine["is_as_of_snapshot"] = t == as_of
    return (
        spine.drop(columns="episode_end")
        .sort_values(["snapshot_date", "customer_id"])
        .reset_index(drop=True)
    )


# ---------------------------------------------------------------- feature groups
def _per_snapshot(spine, facts, time_column, lookback_days, aggregate) -> pd.DataFrame | None:
    """``aggregate(records of [t - lookback, t), t)`` for every snapshot date t, stacked."""
    frames = []
    for t in pd.to_datetime(spine["snapshot_date"].unique()):
        before = facts[time_column] < t
        if lookback_days is not None:
            before &= facts[time_column] >= t - pd.Timedelta(days=lookback_days)
        features = aggregate(facts[before], t)
        frames.append(features.assign(snapshot_date=t))
    return pd.concat(frames).rename_axis("customer_id").reset_index()


def _days_before(t: pd.Timestamp, times: pd.Series) -> pd.Series:
    return (t - times).dt.total_seconds() / 86_400


def usage_features(spine, events, windows) -> pd.DataFrame | None:
    if events.empty:
        return None
    recent, previous = windows["recent_days"], windows["previous_days"]

    def aggregate(ev: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
        time = ev["event_time"]
        in_recent = time >= t - pd.Timedelta(days=recent)
        in_previous = (time >= t - pd.Timedelta(days=recent + previous)) & ~in_recent
        out = pd.DataFrame(
            {
                "customer_id": ev["customer_id"],
                "recent": in_recent,
                "previous": in_previous,
                "time": time,
            }
        ).groupby("customer_id")
        features = out.agg(
            events_recent=("recent", "sum"),
            events_previous=("previous", "sum"),
            last_event_time=("time", "max"),
        )
        days = ev.loc[in_recent, "event_time"].dt.normalize()
        features["active_days_recent"] = days.groupby(ev.loc[in_recent, "customer_id"]).nunique()
        breadth = ev[time >= t - pd.Timedelta(days=previous)]
        features["event_types_recent"] = breadth.groupby("customer_id")["event_type"].nunique()
        features["days_since_last_event"] = _days_before(t, features.pop("last_event_time"))
        return features

    return _per_snapshot(spine, events, "event_time", windows["usage_lookback_days"], aggregate)


def purchase_features(spine, transactions, windows) -> pd.DataFrame | None:
    if transactions.empty:
        return None
    recent, previous = windows["recent_days"], windows["previous_days"]

    def aggregate(tx: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
        time = tx["transaction_date"]
        in_recent = time >= t - pd.Timedelta(days=recent)
        in_previous = (time >= t - pd.Timedelta(days=recent + previous)) & ~in_recent
        frame = pd.DataFrame(
            {
                "customer_id": tx["customer_id"],
                "recent": in_recent,
                "previous": in_previous,
                "amount_recent": tx["amount"].where(in_recent, 0.0),
                "amount_previous": tx["amount"].where(in_previous, 0.0),
                "amount": tx["amount"],
                "time": time,
            }
        )
        features = frame.groupby("customer_id").agg(
            transactions_recent=("recent", "sum"),
            transactions_previous=("previous", "sum"),
            amount_recent=("amount_recent", "sum"),
            amount_previous=("amount_previous", "sum"),
            transactions_lookback=("time", "size"),
            mean_amount_lookback=("amount", "mean"),
            last_transaction_date=("time", "max"),
        )
        features["days_since_last_transaction"] = _days_before(
            t, features.pop("last_transaction_date")
        )
        return features

    lookback = windows["purchase_lookback_days"]
    return _per_snapshot(spine, transactions, "transaction_date", lookback, aggregate)


def subscription_features(spine, subscriptions, windows) -> pd.DataFrame | None:
    if subscriptions.empty:
        return None
    subs = subscriptions.sort_values(["customer_id", "start_date", "mrr"])
    # MRR change from each subscription row to the customer's next one (whole history).
    subs = subs.assign(mrr_step=subs["mrr"] - subs.groupby("customer_id")["mrr"].shift())
    previous = pd.Timedelta(days=windows["previous_days"])

    def aggregate(started: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
        running_now = started["end_date"].isna() | (started["end_date"] >= t)
        earlier = t - previous
        running_earlier = (started["start_date"] < earlier) & (
            started["end_date"].isna() | (started["end_date"] >= earlier)
        )
        frame = pd.DataFrame(
            {
                "customer_id": started["customer_id"],
                "mrr_current": started["mrr"].where(running_now, 0.0),
                "mrr_previous": started["mrr"].where(running_earlier, 0.0),
                "plan_upgrades": started["mrr_step"] > 0,
                "plan_downgrades": started["mrr_step"] < 0,
            }
        )
        features = frame.groupby("customer_id").sum()
        current = started[running_now]
        latest = current.loc[current.groupby("customer_id")["start_date"].idxmax()]
        features["current_plan"] = latest.set_index("customer_id")["plan"]
        features["mrr_change"] = (features["mrr_current"] - features["mrr_previous"]).where(
            features["mrr_previous"] > 0, 0.0
        )
        return features

    return _per_snapshot(spine, subs, "start_date", None, aggregate)


def support_features(spine, tickets, windows) -> pd.DataFrame | None:
    if tickets.empty:
        return None
    recent_plus_previous = pd.Timedelta(days=windows["recent_days"] + windows["previous_days"])

    def aggregate(opened: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
        answered = opened["first_response_at"] < t
        resolved = opened["resolved_at"] < t
        by_customer = opened["customer_id"]
        features = pd.DataFrame(
            {
                "tickets_recent": (opened["opened_at"] >= t - recent_plus_previous)
                .groupby(by_customer)
                .sum(),
                "open_tickets": (~resolved).groupby(by_customer).sum(),
            }
        )
        hours = pd.Timedelta(hours=1)
        response = (opened["first_response_at"] - opened["opened_at"]) / hours
        resolution = (opened["resolved_at"] - opened["opened_at"]) / hours
        features["median_first_response_hours"] = (
            response[answered].groupby(by_customer[answered]).median()
        )
        features["median_resolution_hours"] = (
            resolution[resolved].groupby(by_customer[resolved]).median()
        )
        rated = opened[resolved & opened["csat"].notna()]
        last = rated.loc[rated.groupby("customer_id")["resolved_at"].idxmax()]
        features["last_csat"] = last.set_index("customer_id")["csat"]
        return features

    lookback = windows["support_lookback_days"]
    return _per_snapshot(spine, tickets, "opened_at", lookback, aggregate)


def feedback_features(spine, feedback, windows) -> pd.DataFrame | None:
    if feedback.empty:
        return None
    recent_plus_previous = pd.Timedelta(days=windows["recent_days"] + windows["previous_days"])
    nps_answers = feedback[feedback["survey"] == "nps"].sort_values(
        "response_date", ascending=False
    )
    exits = feedback[feedback["survey"] == "exit"]

    def aggregate(answers: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
        rank = answers.groupby("customer_id").cumcount()  # 0 = latest
        features = pd.DataFrame(
            {
                "nps_latest": answers[rank == 0].set_index("customer_id")["score"],
                "nps_previous": answers[rank == 1].set_index("customer_id")["score"],
                "nps_responses": answers.groupby("customer_id").size(),
            }
        )
        dates = exits["response_date"]
        exited = exits[(dates < t) & (dates >= t - recent_plus_previous)]
        started = pd.Series(True, index=exited["customer_id"].unique())
        return features.join(started.rename("exit_survey_started"), how="outer")

    return _per_snapshot(spine, nps_answers, "response_date", None, aggregate)


def nps_class(score: pd.Series) -> pd.Series:
    """promoter 9-10, passive 7-8, detractor 0-6, else no_answer."""
    labels = np.select(
        [score >= 9, score >= 7, score >= 0], ["promoter", "passive", "detractor"], "no_answer"
    )
    return pd.Categorical(labels, categories=["promoter", "passive", "detractor", "no_answer"])


# ---------------------------------------------------------------- assembly
ZERO_WHEN_NO_RECORD = [
    "events_recent",
    "events_previous",
    "active_days_recent",
    "event_types_recent",
    "transactions_recent",
    "transactions_previous",
    "amount_recent",
    "amount_previous",
    "transactions_lookback",
    "mrr_current",
    "mrr_previous",
    "mrr_change",
    "plan_upgrades",
    "plan_downgrades",
    "tickets_recent",
    "open_tickets",
    "nps_responses",
]
CAPPED_AT_LOOKBACK = {
    "days_since_last_event": "usage_lookback_days",
    "days_since_last_transaction": "purchase_lookback_days",
}
TRENDS = {
    "usage_trend_ratio": ("events_recent", "events_previous"),
    "transaction_trend_ratio": ("transactions_recent", "transactions_previous"),
    "amount_trend_ratio": ("amount_recent", "amount_previous"),
}


GROUPS = {
    "usage": (usage_features, "events"),
    "purchase": (purchase_features, "transactions"),
    "subscription": (subscription_features, "subscriptions"),
    "support": (support_features, "support_tickets"),
    "feedback": (feedback_features, "feedback"),
}


def customer_snapshots(
    tables: dict[str, pd.DataFrame], params: dict[str, Any], seconds: dict | None = None
) -> pd.DataFrame:
    """The feature stage's ``customer_snapshots`` from the clean tables, in pandas.

    ``seconds``, when given, receives the time of each step.
    """
    seconds = {} if seconds is None else seconds
    started = time.perf_counter()
    windows = params["windows"]
    customers = tables["customers"]
    spine = snapshot_spine(customers, customer_timeline(tables, params), params)
    seconds["timeline_and_spine"] = time.perf_counter() - started
    groups = []
    for name, (build, table) in GROUPS.items():
        started = time.perf_counter()
        groups.append(build(spine, tables[table], windows))
        seconds[name] = time.perf_counter() - started
    started = time.perf_counter()
    snapshots = spine
    for features in groups:
        if features is not None:
            snapshots = snapshots.merge(features, on=["customer_id", "snapshot_date"], how="left")
    for column in ZERO_WHEN_NO_RECORD:
        if column in snapshots:
            snapshots[column] = snapshots[column].astype(float).fillna(0.0)
    for column, window in CAPPED_AT_LOOKBACK.items():
        if column in snapshots:
            snapshots[column] = snapshots[column].fillna(windows[window])
    scale = windows["recent_days"] / windows["previous_days"]
    for ratio, (recent, previous) in TRENDS.items():
        if recent in snapshots:
            snapshots[ratio] = (snapshots[recent] + 1) / (snapshots[previous] * scale + 1)
    if "nps_latest" in snapshots:
        snapshots["nps_class"] = nps_class(snapshots["nps_latest"])
        snapshots["nps_trend"] = snapshots["nps_latest"] - snapshots.pop("nps_previous")
        snapshots["exit_survey_started"] = (
            snapshots["exit_survey_started"].astype("boolean").fillna(False).astype(bool)
        )
    if "current_plan" in snapshots:
        snapshots["current_plan"] = snapshots["current_plan"].astype("category")
    static = customers.drop(columns="signup_date").set_index("customer_id").astype("category")
    snapshots = snapshots.join(static, on="customer_id")
    seconds["assemble"] = time.perf_counter() - started
    return snapshots


def run_from_command_line(read_tables: Any, build: Any) -> None:
    """``python <baseline>.py <clean tables folder>``: build the snapshot table with the
    project's feature parameters (conf/base) and print its size and time."""
    from kedro.config import OmegaConfigLoader

    root = Path(__file__).resolve().parents[2]
    loader = OmegaConfigLoader(str(root / "conf"), base_env="base", default_run_env="base")
    params = loader["parameters"]["feature_engineering"]
    started = time.perf_counter()
    result = build(read_tables(Path(sys.argv[1])), params)
    seconds = time.perf_counter() - started
    print(f"{len(result):,} rows x {result.shape[1]} columns in {seconds:.1f} s")  # noqa: T201


if __name__ == "__main__":
    run_from_command_line(read_clean_tables, customer_snapshots)
