"""Ibis expressions for the point-in-time features.

Each builder takes the snapshot spine (customer_id, snapshot_date, and optionally ``spine_row``)
and a clean table as Ibis tables, and returns one row per spine row that has any matching
record, keyed by ``group_keys(spine)``.
Every join keeps only records strictly before the snapshot date, so a feature at t never sees
data at or after t. The same expressions run on DuckDB (the default environment) and on
Spark (``kedro run --env spark``, Ibis's pyspark backend): each is written with operations both
engines execute alike (see ``_epoch_seconds`` and the support medians).
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from ibis import _

KEYS = ["customer_id", "snapshot_date"]
ROW = "spine_row"
"""The spine's row number, when the caller gives it: a key the results can be grouped by."""
SECONDS_PER_DAY = 86_400
_EPOCH = ibis.timestamp("1970-01-01 00:00:00")


def _epoch_seconds(time: ir.TimestampValue) -> ir.FloatingValue:
    """Seconds since 1970 with their microseconds, as a double.

    ``epoch_seconds()`` is DuckDB's ``epoch`` (fractional seconds) but Spark's
    ``unix_timestamp``, which drops the fraction (``days_since_last_event`` then moved by up
    to a second). Microseconds since 1970 divided by a million are bit for bit DuckDB's
    ``epoch`` (checked on every demo event) and exact on Spark too.
    """
    return time.delta(_EPOCH, unit="microsecond") / 1_000_000


def _days_between(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.FloatingValue:
    return (_epoch_seconds(later) - _epoch_seconds(earlier)) / SECONDS_PER_DAY


def group_keys(spine: ir.Table) -> list[str]:
    """What a builder groups by: (``spine_row``, snapshot_date) when the spine carries its row
    numbers, else (customer_id, snapshot_date). Both give one group per spine row; hashing one
    integer instead of the customer id's text made the DuckDB aggregation of the purchase,
    subscription and support features 10-30% faster at 100,000 customers (equal results)."""
    return [ROW, "snapshot_date"] if ROW in spine.columns else KEYS


def _with_window_starts(
    spine: ir.Table, windows: dict[str, int], lookback_days: int | None
) -> ir.Table:
    """The spine with the first instant of each window before its snapshot date t, computed
    once per snapshot instead of once per (record, snapshot) pair:

    * ``recent_start`` = t - recent_days: the recent window is [recent_start, t);
    * ``previous_start`` = t - recent_days - previous_days: the previous window is
      [previous_start, recent_start), and [previous_start, t) spans both;
    * ``previous_days_ago`` = t - previous_days;
    * ``lookback_start`` = t - lookback_days, when the features look back that far only.
    """
    recent, previous = windows["recent_days"], windows["previous_days"]
    starts = {
        "recent_start": _.snapshot_date - ibis.interval(days=recent),
        "previous_start": _.snapshot_date - ibis.interval(days=recent + previous),
        "previous_days_ago": _.snapshot_date - ibis.interval(days=previous),
    }
    if lookback_days is not None:
        starts["lookback_start"] = _.snapshot_date - ibis.interval(days=lookback_days)
    return spine.mutate(**starts)


def _before_snapshot(
    spine: ir.Table,
    facts: ir.Table,
    time_column: str,
    windows: dict[str, int],
    lookback_days: int | None,
) -> ir.Table:
    """Facts of each spine customer dated in [t - lookback_days, t) (any time before t when
    ``lookback_days`` is None), next to the spine's window starts (``_with_window_starts``)."""
    spine = _with_window_starts(spine, windows, lookback_days)
    facts = facts.rename(fact_customer_id="customer_id")
    conditions = [
        spine.customer_id == facts.fact_customer_id,
        facts[time_column] < spine.snapshot_date,
    ]
    if lookback_days is not None:
        conditions.append(facts[time_column] >= spine.lookback_start)
    return spine.join(facts, conditions)


def _in_window(time: ir.TimestampValue, start: str, end: str = "snapshot_date") -> ir.BooleanValue:
    """time in [start, end): two columns of the joined spine (window starts or the snapshot
    date t itself)."""
    return (time >= _[start]) & (time < _[end])


def _trend_windows(time: ir.TimestampValue) -> tuple[ir.BooleanValue, ir.BooleanValue]:
    """(recent, previous): the last recent_days before t, and the previous_days before those."""
    return _in_window(time, "recent_start"), _in_window(time, "previous_start", "recent_start")


MAX_BITS_PER_MASK = 63
"""Distinct values one bit mask can hold (one bit each in a signed 64-bit integer)."""
MAX_EVENT_TYPES_PER_MASK = MAX_BITS_PER_MASK


@ibis.udf.agg.builtin(name="bit_or")
def _bit_or(mask: dt.int64) -> dt.int64:
    """Bitwise OR of the masks (DuckDB and Spark SQL ``bit_or``)."""


@ibis.udf.scalar.builtin(name="bit_count")
def _bit_count(mask: dt.int64) -> dt.int64:
    """Number of set bits (DuckDB and Spark SQL ``bit_count``)."""


def _distinct_count(bits: ir.IntegerValue, where: ir.BooleanValue) -> ir.IntegerValue:
    """How many distinct values the rows matching ``where`` hold, each value given as its bit."""
    return _bit_count(_bit_or(ibis.ifelse(where, bits, 0))).cast("int64")


def event_type_bits(events: ir.Table) -> ir.Table:
    """One bit per event type: bit i = the i-th event type in alphabetical order."""
    types = (
        events.select("event_type")
        .filter(_.event_type.notnull())
        .distinct()
        .mutate(type_no=ibis.row_number().over(order_by="event_type"))
    )
    return types.select(event_type_key="event_type", type_bit=(2**types.type_no).cast("int64"))


def usage_features(spine: ir.Table, events: ir.Table, windows: dict[str, int]) -> ir.Table:
    """Usage intensity, breadth, trend and recency from product events, in one pass.

    Distinct counts are bit masks rather than COUNT(DISTINCT) over every (event, snapshot) pair:
    active days are the set bits of the OR of ``2 ** (days from the event's date to the
    snapshot's date)``, event types those of the OR of the types' bits (``event_type_bits``).
    Equals ``usage_features_per_event`` for any snapshot time when the recent window spans at
    most ``MAX_BITS_PER_MASK`` calendar days (``recent_days`` < 63) and there are at most
    ``MAX_EVENT_TYPES_PER_MASK`` event types.
    """
    types = event_type_bits(events)
    typed = events.left_join(types, events.event_type == types.event_type_key).mutate(
        type_bit=_.type_bit.fill_null(0), event_day=_.event_time.date()
    )
    spine = spine.mutate(snapshot_day=_.snapshot_date.date())
    joined = _before_snapshot(spine, typed, "event_time", windows, windows["usage_lookback_days"])
    recent, previous = _trend_windows(_.event_time)
    day_bit = (2 ** _.snapshot_day.delta(_.event_day, unit="day")).cast("int64")
    return (
        joined.group_by(group_keys(spine))
        .aggregate(
            events_recent=recent.sum(),
            events_previous=previous.sum(),
            active_days_recent=_distinct_count(day_bit, recent),
            event_types_recent=_distinct_count(
                _.type_bit, _in_window(_.event_time, "previous_days_ago")
            ),
            last_event_time=_.event_time.max(),
        )
        .mutate(days_since_last_event=_days_between(_.snapshot_date, _.last_event_time))
        .drop("last_event_time")
    )


def usage_features_per_event(
    spine: ir.Table, events: ir.Table, windows: dict[str, int]
) -> ir.Table:
    """``usage_features`` straight from the events, for any snapshot time and any number of
    event types (slower: COUNT(DISTINCT) over every (event, snapshot) pair)."""
    joined = _before_snapshot(spine, events, "event_time", windows, windows["usage_lookback_days"])
    recent_window, previous_window = _trend_windows(_.event_time)
    return (
        joined.group_by(group_keys(spine))
        .aggregate(
            events_recent=recent_window.sum(),
            events_previous=previous_window.sum(),
            active_days_recent=_.event_time.date().nunique(where=recent_window),
            event_types_recent=_.event_type.nunique(
                where=_in_window(_.event_time, "previous_days_ago")
            ),
            last_event_time=_.event_time.max(),
        )
        .mutate(days_since_last_event=_days_between(_.snapshot_date, _.last_event_time))
        .drop("last_event_time")
    )


def purchase_features(spine: ir.Table, transactions: ir.Table, windows: dict[str, int]) -> ir.Table:
    """Recency, frequency and monetary value of transactions, and their trend."""
    lookback = windows["purchase_lookback_days"]
    joined = _before_snapshot(spine, transactions, "transaction_date", windows, lookback)
    recent_window, previous_window = _trend_windows(_.transaction_date)
    return (
        joined.group_by(group_keys(spine))
        .aggregate(
            transactions_recent=recent_window.sum(),
            transactions_previous=previous_window.sum(),
            amount_recent=_.amount.sum(where=recent_window),
            amount_previous=_.amount.sum(where=previous_window),
            transactions_lookback=_.count(),
            mean_amount_lookback=_.amount.mean(),
            last_transaction_date=_.transaction_date.max(),
        )
        .mutate(
            days_since_last_transaction=_days_between(_.snapshot_date, _.last_transaction_date),
            amount_recent=_.amount_recent.fill_null(0),
            amount_previous=_.amount_previous.fill_null(0),
        )
        .drop("last_transaction_date")
    )


def subscription_features(
    spine: ir.Table, subscriptions: ir.Table, windows: dict[str, int]
) -> ir.Table:
    """Current MRR and plan, MRR change over the previous window, upgrades and downgrades.

    A subscription counts at time s when it started before s and had not ended before s.
    Upgrades/downgrades are increases/decreases of MRR from one subscription row to the next.
    """
    ordered = subscriptions.mutate(
        mrr_step=_.mrr - _.mrr.lag().over(group_by="customer_id", order_by=["start_date", "mrr"])
    )
    joined = _before_snapshot(spine, ordered, "start_date", windows, None)
    active_now = _.end_date.isnull() | (_.end_date >= _.snapshot_date)
    earlier = _.previous_days_ago
    active_earlier = (_.start_date < earlier) & (_.end_date.isnull() | (_.end_date >= earlier))
    return (
        joined.group_by(group_keys(spine))
        .aggregate(
            mrr_current=_.mrr.sum(where=active_now),
            mrr_previous=_.mrr.sum(where=active_earlier),
            current_plan=_.plan.argmax(_.start_date, where=active_now),
            plan_upgrades=(_.mrr_step > 0).sum(),
            plan_downgrades=(_.mrr_step < 0).sum(),
        )
        .mutate(
            mrr_current=_.mrr_current.fill_null(0),
            mrr_previous=_.mrr_previous.fill_null(0),
        )
        .mutate(mrr_change=ibis.ifelse(_.mrr_previous > 0, _.mrr_current - _.mrr_previous, 0))
    )


def support_features(spine: ir.Table, tickets: ir.Table, windows: dict[str, int]) -> ir.Table:
    """Ticket volume, open tickets, response and resolution speed, last CSAT.

    Only what was known before the snapshot counts: a response or resolution at or after the
    snapshot is treated as not yet happened. The medians are ``quantile(0.5)``: DuckDB's
    ``median`` is the same interpolated quantile, and Spark rejects the ``percentile`` call
    Ibis compiles ``median(where=...)`` to (NON_FOLDABLE_INPUT).
    """
    joined = _before_snapshot(
        spine, tickets, "opened_at", windows, windows["support_lookback_days"]
    )
    answered = _.first_response_at < _.snapshot_date
    resolved = _.resolved_at < _.snapshot_date
    hours = 1 / 3600
    return joined.group_by(group_keys(spine)).aggregate(
        tickets_recent=_in_window(_.opened_at, "previous_start").sum(),
        open_tickets=(~resolved.fill_null(False)).sum(),
        median_first_response_hours=(
            (_epoch_seconds(_.first_response_at) - _epoch_seconds(_.opened_at)) * hours
        ).quantile(0.5, where=answered),
        median_resolution_hours=(
            (_epoch_seconds(_.resolved_at) - _epoch_seconds(_.opened_at)) * hours
        ).quantile(0.5, where=resolved),
        last_csat=_.csat.argmax(_.resolved_at, where=resolved & _.csat.notnull()),
    )


def feedback_features(spine: ir.Table, feedback: ir.Table, windows: dict[str, int]) -> ir.Table:
    """Latest NPS answer, its trend against the one before, and exit-survey starts.

    Each NPS answer carries the score of the customer's answer before it, so the answer before
    the latest one at t is read off the latest one: no ranking of every (answer, snapshot) pair.
    """
    keys = group_keys(spine)
    answers = feedback.filter(_.response_date.notnull())
    nps = answers.filter(_.survey == "nps").mutate(
        previous_score=_.score.lag().over(group_by="customer_id", order_by="response_date")
    )
    latest_nps = (
        _before_snapshot(spine, nps, "response_date", windows, None)
        .group_by(keys)
        .aggregate(
            nps_latest=_.score.argmax(_.response_date),
            nps_previous=_.previous_score.argmax(_.response_date),
            nps_responses=_.count(),
        )
    )
    exits = (
        _before_snapshot(spine, answers.filter(_.survey == "exit"), "response_date", windows, None)
        .group_by(keys)
        .aggregate(exit_survey_recent=_in_window(_.response_date, "previous_start").sum())
    )
    return (
        latest_nps.outer_join(exits, keys)
        .mutate(**{key: ibis.coalesce(_[key], _[f"{key}_right"]) for key in keys})
        .drop(*(f"{key}_right" for key in keys))
    )
