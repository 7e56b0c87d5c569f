"""A Polars version of the feature stage: a stronger yardstick for its speed than pandas.

It builds the same ``customer_snapshots`` as the ``feature_engineering`` pipeline (customer
timeline, snapshot spine, the five feature groups, assembly) the way a competent Polars user
would: ``pl.scan_parquet`` on the clean Parquet tables, one lazy query for the whole table,
collected once (Polars runs it on every core, reads only the columns used and pushes the date
filters down to the scans). Two small eager steps come first: the as-of date (it fixes the
snapshot dates) and which tables have rows (a feature group without records is left out).

Instead of a loop over the snapshot dates, each record is paired with every snapshot date t
whose window it falls in (t - lookback <= time < t; time < t without a lookback): the dates
are sorted, so those are a run of consecutive dates, found by two binary searches
(``search_sorted``) and expanded by ``int_ranges`` + ``explode``. (An inequality join,
``join_where``, gives the same pairs but took tens of times longer on the events table with
Polars 2.1.) The pairs are aggregated per (customer, snapshot date) with plain ``group_by``
aggregations; each usage window is paired only as far back as it looks (the distinct days
over the recent window, the distinct event types over the previous_days). A value "of the
latest row" (current plan, last CSAT) is the row with the largest precomputed preference in the
group, joined back, rather than a sort per group; the NPS answers before t are a customer's
first n answers by date, so the latest and the previous are numbers n - 1 and n - 2.

The definitions follow ``benchmarks/baselines/features_pandas.py`` exactly (which follows
``customer_retention.pipelines.feature_engineering``) and are written independently of both, so
that ``tests/test_benchmark_baselines.py`` can check that it gives the same table as the feature
stage. Ties are broken where pandas defines an order: ``current_plan`` of the running
subscription with the latest start (then the lowest MRR, then table order), ``last_csat`` of the
latest resolution (then table order); ``nps_latest`` / ``nps_previous`` by response date, then
table order (pandas' order of same-day answers is that of an unstable sort).

``customer_snapshots`` returns a Polars DataFrame; ``to_pandas`` gives the pandas table the
comparison reads (categories for the labels). benchmarks/run.py runs it through worker.py in a
subprocess of its own (own peak memory), timed up to the Polars table, the conversion to pandas
timed apart; alone::

    python benchmarks/baselines/features_polars.py data/benchmarks/S/data/02_intermediate
"""

from __future__ import annotations

import calendar
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The fill rules of the assembly, shared with the pandas baseline (one definition of both).
from features_pandas import (  # noqa: E402
    CAPPED_AT_LOOKBACK,
    COLUMNS,
    TRENDS,
    ZERO_WHEN_NO_RECORD,
    run_from_command_line,
)

KEYS = ["customer_id", "snapshot_date"]
T = pl.col("snapshot_date")
NPS_CLASSES = pl.Enum(["promoter", "passive", "detractor", "no_answer"])


def scan_clean_tables(folder: Path) -> dict[str, pl.LazyFrame]:
    """The clean tables of ``folder`` (data/02_intermediate) as lazy scans, only the columns
    used (nothing is read until the query runs)."""
    tables = {}
    for table, columns in COLUMNS.items():
        scan = pl.scan_parquet(Path(folder) / f"{table}.parquet")
        tables[table] = scan if columns is None else scan.select(columns)
    return tables


def from_pandas(tables: dict[str, Any]) -> dict[str, pl.LazyFrame]:
    """In-memory pandas tables as lazy Polars frames (the tests' input)."""
    return {
        table: pl.from_pandas(tables[table] if columns is None else tables[table][columns]).lazy()
        for table, columns in COLUMNS.items()
    }


def days(n: float) -> pl.Expr:
    return pl.duration(days=n)


DAY_NS, HOUR_NS = 86_400e9, 3_600e9


def _in_units(delta: pl.Expr, unit_ns: float) -> pl.Expr:
    """A duration in units of ``unit_ns`` nanoseconds (days, hours), as a float."""
    return delta.dt.total_nanoseconds().cast(pl.Float64) / unit_ns


# ---------------------------------------------------------------- timeline and spine
def _normalize(moment: datetime | date) -> datetime:
    return datetime(moment.year, moment.month, moment.day)


def as_of_date(tables: dict[str, pl.LazyFrame], params: dict[str, Any]) -> datetime:
    """The parameter, else the day after the last date in customers, subscriptions, transactions."""
    if params.get("as_of_date"):
        return _normalize(datetime.fromisoformat(str(params["as_of_date"])))
    last = pl.collect_all(
        [
            tables["customers"].select(pl.col("signup_date").max()),
            tables["subscriptions"].select(
                pl.max_horizontal(pl.col("start_date", "end_date").max())
            ),
            tables["transactions"].select(pl.col("transaction_date").max()),
        ]
    )
    moments = [frame.item() for frame in last if frame.item() is not None]
    return _normalize(max(moments)) + timedelta(days=1)


def _months_before(moment: datetime, months: int) -> datetime:
    """``moment`` minus calendar months, the day clipped to the end of a shorter month."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return moment.replace(year=year, month=month + 1, day=min(moment.day, last_day))


def snapshot_dates(as_of: datetime, params: dict[str, Any]) -> list[datetime]:
    months = int(params["snapshot_every_months"])
    return [_months_before(as_of, months * k) for k in reversed(range(int(params["n_snapshots"])))]


def customer_timeline(
    tables: dict[str, pl.LazyFrame], params: dict[str, Any], as_of: datetime, contractual: bool
) -> pl.LazyFrame:
    """Activity episodes [episode_start, episode_end) per customer; end null = still active.

    Spans sorted by start; a span starts a new episode when it starts more than the gap after
    every earlier span of the customer has ended (an open-ended span never ends).
    """
    if contractual:
        spans = tables["subscriptions"].select("customer_id", start="start_date", end="end_date")
        gap = days(params["grace_days"])
    else:
        spans = (
            tables["transactions"]
            .select("customer_id", start=pl.col("transaction_date").dt.truncate("1d"))
            .unique()
            .with_columns(end=pl.col("start") + days(params["inactivity_days"]))
        )
        gap = days(0)
    by_customer = "customer_id"
    reach = pl.col("end").cum_max().over(by_customer)  # latest end so far (open ends apart)
    opened = pl.col("end").is_null().cum_max().over(by_customer)  # an open-ended span so far
    reached_before, open_before = reach.shift().over(by_customer), opened.shift().over(by_customer)
    starts_new = open_before.is_null() | (
        ~open_before & (pl.col("start") - gap > reached_before).fill_null(False)
    )
    return (
        spans.sort("customer_id", "start", nulls_last=True, maintain_order=True)
        .with_columns(episode=starts_new.cast(pl.Int32).cum_sum().over(by_customer))
        .group_by("customer_id", "episode")
        .agg(
            episode_start=pl.col("start").min(),
            episode_end=pl.when(pl.col("end").is_null().any())
            .then(None)
            .otherwise(pl.col("end").max()),
        )
        .with_columns(
            episode_end=pl.when(pl.col("episode_end") < as_of).then(pl.col("episode_end"))
        )
    )


def _runs(frame: pl.LazyFrame, dates: pl.Series, first: pl.Expr, stop: pl.Expr) -> pl.LazyFrame:
    """Each row of ``frame`` once per snapshot date dates[first] .. dates[stop - 1], as
    ``snapshot_date`` (no row when the run is empty)."""
    return (
        frame.with_columns(snapshot=pl.int_ranges(first, stop, dtype=pl.UInt32))
        .explode("snapshot")
        .drop_nulls("snapshot")
        .with_columns(snapshot_date=pl.lit(dates).gather(pl.col("snapshot")))
        .drop("snapshot")
    )


def _pairs(
    facts: pl.LazyFrame, time: str, dates: pl.Series, lookback_days: int | None
) -> pl.LazyFrame:
    """Every record once per snapshot date t with t - lookback <= time < t (time < t without a
    lookback), with that t as ``snapshot_date``.

    The dates are sorted, so the snapshot dates a record belongs to are a run of them: from the
    first date after it to the last whose window starts at or before it. Two binary searches
    give the run, ``int_ranges`` + ``explode`` the pairs: in place of a loop over the dates (or
    of an inequality join, which Polars runs far slower against a handful of dates).
    """
    first = pl.lit(dates).search_sorted(pl.col(time), side="right")
    in_range = pl.col(time) < dates.max()  # pushed down to the Parquet scan
    if lookback_days is None:
        stop = pl.lit(len(dates), dtype=pl.UInt32)
    else:
        starts = (dates - timedelta(days=lookback_days)).cast(dates.dtype)
        stop = pl.lit(starts).search_sorted(pl.col(time), side="right")
        in_range &= pl.col(time) >= starts.min()
    return _runs(facts.filter(in_range), dates, first, stop)


def snapshot_spine(
    customers: pl.LazyFrame,
    timeline: pl.LazyFrame,
    dates: pl.Series,
    as_of: datetime,
    params: dict[str, Any],
) -> pl.LazyFrame:
    """(snapshot_date, customer active at it: episode_start < t < episode_end) with tenure,
    churn label and survival columns."""
    horizon = days(int(params["horizon_days"]))
    end = pl.col("episode_end")
    first = pl.lit(dates).search_sorted(pl.col("episode_start"), side="right")
    stop = pl.when(end.is_null()).then(len(dates)).otherwise(pl.lit(dates).search_sorted(end))
    active = timeline.filter(pl.col("episode_start").is_not_null())
    return (
        _runs(active, dates, first, stop.cast(pl.UInt32))
        .join(customers.select("customer_id", "signup_date"), on="customer_id", how="left")
        .select(
            "customer_id",
            "snapshot_date",
            tenure_days=(T - pl.col("signup_date")).dt.total_days().clip(lower_bound=0),
            churned_within_horizon=pl.when(T + horizon < as_of).then(
                (end.is_not_null() & (end <= T + horizon)).fill_null(False).cast(pl.Float64)
            ),
            churn_observed=end.is_not_null(),
            days_observed=(end.fill_null(as_of) - T).dt.total_days(),
            is_as_of_snapshot=pl.col("snapshot_date") == as_of,
        )
    )


# ---------------------------------------------------------------- feature groups
def _preferred(facts: pl.LazyFrame, latest: str) -> pl.LazyFrame:
    """``facts`` with ``preference``, one number per row: larger = a later ``latest``, then
    earlier in the given row order (the tie-break)."""
    return (
        facts.with_row_index("row")
        .sort([latest, "row"], descending=[False, True], nulls_last=False)
        .with_row_index("preference")
        .drop("row")
    )


def _pick(pairs: pl.LazyFrame, among: pl.Expr, facts: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """Per (customer, snapshot date), ``column`` of the preferred row ``among`` the pairs: the
    largest ``preference`` in a plain group_by, then a join (no sort per group)."""
    chosen = pairs.filter(among).group_by(KEYS).agg(pl.col("preference").max())
    return chosen.join(facts.select("preference", column), on="preference").drop("preference")


def usage_features(dates, events, windows) -> pl.LazyFrame:
    """Counts and recency over the lookback; distinct days over the recent window and distinct
    event types over the previous_days before t, each from pairs only as far back as needed."""
    recent, previous = windows["recent_days"], windows["previous_days"]
    time = pl.col("event_time")
    in_recent = time >= T - days(recent)
    in_previous = (time >= T - days(recent + previous)) & ~in_recent
    counts = (
        _pairs(events, "event_time", dates, windows["usage_lookback_days"])
        .group_by(KEYS)
        .agg(
            events_recent=in_recent.sum(),
            events_previous=in_previous.sum(),
            last_event_time=time.max(),
        )
    )
    active_days = (
        _pairs(events, "event_time", dates, recent)
        .group_by(KEYS)
        .agg(active_days_recent=time.dt.truncate("1d").n_unique())
    )
    event_types = (
        _pairs(events, "event_time", dates, previous)
        .group_by(KEYS)
        .agg(event_types_recent=pl.col("event_type").drop_nulls().n_unique())
    )
    return (
        counts.join(active_days, on=KEYS, how="left")
        .join(event_types, on=KEYS, how="left")
        .with_columns(
            pl.col("active_days_recent", "event_types_recent").fill_null(0),
            days_since_last_event=_in_units(T - pl.col("last_event_time"), DAY_NS),
        )
        .drop("last_event_time")
    )


def purchase_features(dates, transactions, windows) -> pl.LazyFrame:
    recent, previous = windows["recent_days"], windows["previous_days"]
    time = pl.col("transaction_date")
    in_recent = time >= T - days(recent)
    in_previous = (time >= T - days(recent + previous)) & ~in_recent
    lookback = windows["purchase_lookback_days"]
    return (
        _pairs(transactions, "transaction_date", dates, lookback)
        .group_by(KEYS)
        .agg(
            transactions_recent=in_recent.sum(),
            transactions_previous=in_previous.sum(),
            amount_recent=pl.col("amount").filter(in_recent).sum(),
            amount_previous=pl.col("amount").filter(in_previous).sum(),
            transactions_lookback=pl.len(),
            mean_amount_lookback=pl.col("amount").mean(),
            last_transaction_date=time.max(),
        )
        .with_columns(
            days_since_last_transaction=_in_units(T - pl.col("last_transaction_date"), DAY_NS)
        )
        .drop("last_transaction_date")
    )


def subscription_features(dates, subscriptions, windows) -> pl.LazyFrame:
    # Rows in order of customer, start, MRR: mrr_step is the MRR change from each row to the
    # customer's next (whole history); current_plan is that of the running row with the
    # latest start (ties: the first in this order).
    subs = _preferred(
        subscriptions.sort(
            "customer_id", "start_date", "mrr", nulls_last=True, maintain_order=True
        ).with_columns(mrr_step=pl.col("mrr") - pl.col("mrr").shift().over("customer_id")),
        latest="start_date",
    )
    end = pl.col("end_date")
    earlier = T - days(windows["previous_days"])
    running_now = (end.is_null() | (end >= T)).fill_null(False)
    running_earlier = (
        (pl.col("start_date") < earlier) & (end.is_null() | (end >= earlier))
    ).fill_null(False)
    started = _pairs(subs, "start_date", dates, None)
    return (
        started.group_by(KEYS)
        .agg(
            mrr_current=pl.col("mrr").filter(running_now).sum(),
            mrr_previous=pl.col("mrr").filter(running_earlier).sum(),
            plan_upgrades=(pl.col("mrr_step") > 0).sum(),
            plan_downgrades=(pl.col("mrr_step") < 0).sum(),
        )
        .join(
            _pick(started, running_now, subs, "plan").rename({"plan": "current_plan"}),
            on=KEYS,
            how="left",
        )
        .with_columns(
            mrr_change=pl.when(pl.col("mrr_previous") > 0)
            .then(pl.col("mrr_current") - pl.col("mrr_previous"))
            .otherwise(0.0)
        )
    )


def support_features(dates, tickets, windows) -> pl.LazyFrame:
    recent_plus_previous = days(windows["recent_days"] + windows["previous_days"])
    opened = pl.col("opened_at")
    answered = (pl.col("first_response_at") < T).fill_null(False)
    resolved = (pl.col("resolved_at") < T).fill_null(False)
    # last_csat: of the latest resolution (ties: the first in the table)
    tickets = _preferred(tickets, latest="resolved_at").with_columns(
        response_hours=_in_units(pl.col("first_response_at") - opened, HOUR_NS),
        resolution_hours=_in_units(pl.col("resolved_at") - opened, HOUR_NS),
    )
    in_lookback = _pairs(tickets, "opened_at", dates, windows["support_lookback_days"])
    rated = resolved & pl.col("csat").is_not_null()
    return (
        in_lookback.group_by(KEYS)
        .agg(
            tickets_recent=(opened >= T - recent_plus_previous).sum(),
            open_tickets=(~resolved).sum(),
            median_first_response_hours=pl.col("response_hours").filter(answered).median(),
            median_resolution_hours=pl.col("resolution_hours").filter(resolved).median(),
        )
        .join(
            _pick(in_lookback, rated, tickets, "csat").rename({"csat": "last_csat"}),
            on=KEYS,
            how="left",
        )
    )


def feedback_features(dates, feedback, windows) -> pl.LazyFrame:
    recent_plus_previous = windows["recent_days"] + windows["previous_days"]
    # The NPS answers of a customer numbered by response date (ties: the first in the table is
    # the later): those before t are the first n, so the latest is number n - 1.
    nps = (
        feedback.filter(pl.col("survey") == "nps", pl.col("response_date").is_not_null())
        .with_row_index("row")
        .sort(["customer_id", "response_date", "row"], descending=[False, False, True])
        .with_columns(number=pl.int_range(pl.len(), dtype=pl.Int64).over("customer_id"))
    )
    scores = nps.select("customer_id", "number", "score")
    answers = (
        _pairs(nps, "response_date", dates, None)
        .group_by(KEYS)
        .agg(nps_responses=pl.len())
        .with_columns(latest=pl.col("nps_responses").cast(pl.Int64) - 1)
        .join(scores, left_on=["customer_id", "latest"], right_on=["customer_id", "number"])
        .rename({"score": "nps_latest"})
        .join(
            scores.with_columns(pl.col("number") + 1).rename({"score": "nps_previous"}),
            left_on=["customer_id", "latest"],
            right_on=["customer_id", "number"],
            how="left",
        )
        .drop("latest")
    )
    exits = feedback.filter(pl.col("survey") == "exit")
    exited = (
        _pairs(exits, "response_date", dates, recent_plus_previous)
        .select(KEYS)
        .unique()
        .with_columns(exit_survey_started=pl.lit(True))
    )
    return answers.join(exited, on=KEYS, how="full", coalesce=True)


# ---------------------------------------------------------------- assembly
GROUPS = {
    "usage": (usage_features, "events"),
    "purchase": (purchase_features, "transactions"),
    "subscription": (subscription_features, "subscriptions"),
    "support": (support_features, "support_tickets"),
    "feedback": (feedback_features, "feedback"),
}


def nps_class(score: pl.Expr) -> pl.Expr:
    """promoter 9-10, passive 7-8, detractor 0-6, else no_answer."""
    return (
        pl.when(score >= 9)
        .then(pl.lit("promoter"))
        .when(score >= 7)
        .then(pl.lit("passive"))
        .when(score >= 0)
        .then(pl.lit("detractor"))
        .otherwise(pl.lit("no_answer"))
        .cast(NPS_CLASSES)
    )


def customer_snapshots(
    tables: dict[str, pl.LazyFrame],
    params: dict[str, Any],
    seconds: dict | None = None,
    engine: str = "auto",
) -> pl.DataFrame:
    """The feature stage's ``customer_snapshots`` from the clean tables, in Polars.

    ``seconds``, when given, receives the time of the eager preliminaries (as-of date, which
    tables have rows) and of the query (built, then collected: ``plan_and_collect``).
    ``engine``: Polars' ``collect`` engine ("auto", "in-memory", "streaming").
    """
    seconds = {} if seconds is None else seconds
    started = time.perf_counter()
    windows = params["windows"]
    counts = pl.collect_all([frame.select(pl.len()) for frame in tables.values()])
    has_rows = {table: frame.item() > 0 for table, frame in zip(tables, counts, strict=True)}
    as_of = as_of_date(tables, params)
    seconds["as_of_date_and_row_counts"] = time.perf_counter() - started
    started = time.perf_counter()
    unit = tables["customers"].collect_schema()["signup_date"].time_unit or "us"
    dates = pl.Series("snapshot_date", snapshot_dates(as_of, params), dtype=pl.Datetime(unit))
    timeline = customer_timeline(tables, params, as_of, contractual=has_rows["subscriptions"])
    customers = tables["customers"]
    frame = snapshot_spine(customers, timeline, dates, as_of, params)
    for build, table in GROUPS.values():
        if has_rows[table]:
            frame = frame.join(build(dates, tables[table], windows), on=KEYS, how="left")
    present = set(frame.collect_schema().names())
    scale = windows["recent_days"] / windows["previous_days"]
    assemble = [
        pl.col(c).cast(pl.Float64).fill_null(0.0) for c in ZERO_WHEN_NO_RECORD if c in present
    ]
    assemble += [
        pl.col(c).fill_null(float(windows[w]))
        for c, w in CAPPED_AT_LOOKBACK.items()
        if c in present
    ]
    frame = frame.with_columns(assemble)
    frame = frame.with_columns(
        ((pl.col(recent) + 1) / (pl.col(previous) * scale + 1)).alias(ratio)
        for ratio, (recent, previous) in TRENDS.items()
        if recent in present
    )
    if "nps_latest" in present:
        frame = frame.with_columns(
            nps_class=nps_class(pl.col("nps_latest")),
            nps_trend=pl.col("nps_latest") - pl.col("nps_previous"),
            exit_survey_started=pl.col("exit_survey_started").fill_null(False),
        ).drop("nps_previous")
    if "current_plan" in present:
        frame = frame.with_columns(pl.col("current_plan").cast(pl.Categorical))
    static = customers.drop("signup_date").with_columns(
        pl.exclude("customer_id").cast(pl.String).cast(pl.Categorical)
    )
    frame = frame.join(static, on="customer_id", how="left").sort("snapshot_date", "customer_id")
    result = frame.collect(engine=engine)
    seconds["plan_and_collect"] = time.perf_counter() - started
    return result


def to_pandas(snapshots: pl.DataFrame):
    """The pandas table the comparison reads: labels as categories, numbers as floats / ints."""
    return snapshots.to_pandas()


if __name__ == "__main__":
    run_from_command_line(scan_clean_tables, customer_snapshots)
