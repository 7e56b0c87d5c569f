"""Ibis expressions for the point-in-time features.

Each builder takes the snapshot spine (customer_id, snapshot_date) and a clean table as Ibis
tables, and returns one row per (customer_id, snapshot_date) that has any matching record.
Every join keeps only records strictly before the snapshot date, so a feature at t never sees
data at or after t. The expressions run on DuckDB here and compile unchanged for PySpark.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from ibis import _

KEYS = ["customer_id", "snapshot_date"]
SECONDS_PER_DAY = 86_400


def _days_between(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.FloatingValue:
    return (later.epoch_seconds() - earlier.epoch_seconds()) / SECONDS_PER_DAY


def _before_snapshot(
    spine: ir.Table, facts: ir.Table, time_column: str, lookback_days: int | None
) -> ir.Table:
    """Facts of each spine customer dated in [snapshot - lookback, snapshot)."""
    facts = facts.rename(fact_customer_id="customer_id")
    conditions = [
        spine.customer_id == facts.fact_customer_id,
        facts[time_column] < spine.snapshot_date,
    ]
    if lookback_days is not None:
        conditions.append(
            facts[time_column] >= spine.snapshot_date - ibis.interval(days=lookback_days)
        )
    return spine.join(facts, conditions)


def _in_window(time: ir.TimestampValue, start_days: int, end_days: int = 0) -> ir.BooleanValue:
    """time in [snapshot - start_days, snapshot - end_days)."""
    return (time >= _.snapshot_date - ibis.interval(days=start_days)) & (
        time < _.snapshot_date - ibis.interval(days=end_days)
    )


def _trend_windows(
    time: ir.TimestampValue, windows: dict[str, int]
) -> tuple[ir.BooleanValue, ir.BooleanValue]:
    """(recent, previous): the last recent_days before t, and the previous_days before those."""
    recent, previous = windows["recent_days"], windows["previous_days"]
    return _in_window(time, recent), _in_window(time, recent + previous, recent)


MAX_EVENT_TYPES_PER_MASK = 63
"""Event types one bit mask can hold (one bit each in a signed 64-bit integer)."""


@ibis.udf.agg.builtin(name="bit_or")
def _bit_or(mask: dt.int64) -> dt.int64:
    """Bitwise OR of the masks (DuckDB and Spark SQL ``bit_or``)."""


@ibis.udf.scalar.builtin(name="bit_count")
def _bit_count(mask: dt.int64) -> dt.int64:
    """Number of set bits (DuckDB and Spark SQL ``bit_count``)."""


def daily_event_rollup(events: ir.Table) -> ir.Table:
    """One row per customer and day with events: event count, the day's event types as a bit
    mask (bit i = the i-th event type in alphabetical order), and the last event time.

    Holds at most ``MAX_EVENT_TYPES_PER_MASK`` event types (more would overflow the mask): use
    ``usage_features_per_event`` beyond that.
    """
    types = (
        events.select("event_type")
        .filter(_.event_type.notnull())
        .distinct()
        .mutate(type_no=ibis.row_number().over(order_by="event_type"))
    )
    types = types.select(event_type_key="event_type", type_bit=(2**types.type_no).cast("int64"))
    typed = events.left_join(types, events.event_type == types.event_type_key)
    return (
        typed.mutate(event_day=_.event_time.truncate("D"))
        .group_by(["customer_id", "event_day"])
        .aggregate(
            events=_.count(),
            type_mask=_bit_or(_.type_bit.fill_null(0)),
            last_event_time=_.event_time.max(),
        )
    )


def usage_features(spine: ir.Table, events: ir.Table, windows: dict[str, int]) -> ir.Table:
    """Usage intensity, breadth, trend and recency from product events.

    Computed from the daily rollup (``daily_event_rollup``): active days are rollup rows and
    distinct event types the set bits of the OR of the daily masks, which avoids two
    COUNT(DISTINCT) over every (event, snapshot) pair. Equals ``usage_features_per_event`` when
    snapshot dates are whole days (midnight, as the spine builds them: every window then starts
    and ends at midnight, so a day lies wholly inside or outside it) and there are at most
    ``MAX_EVENT_TYPES_PER_MASK`` event types.
    """
    daily = daily_event_rollup(events)
    joined = _before_snapshot(spine, daily, "event_day", windows["usage_lookback_days"])
    recent_window, previous_window = _trend_windows(_.event_day, windows)
    types_window = _in_window(_.event_day, windows["previous_days"])
    return (
        joined.group_by(KEYS)
        .aggregate(
            events_recent=ibis.ifelse(recent_window, _.events, 0).sum(),
            events_previous=ibis.ifelse(previous_window, _.events, 0).sum(),
            active_days_recent=recent_window.sum(),
            event_types_recent=_bit_count(_bit_or(ibis.ifelse(types_window, _.type_mask, 0))),
            last_event_time=_.last_event_time.max(),
        )
        .mutate(
            event_types_recent=_.event_types_recent.cast("int64"),
            days_since_last_event=_days_between(_.snapshot_date, _.last_event_time),
        )
        .drop("last_event_time")
    )


def usage_features_per_event(
    spine: ir.Table, events: ir.Table, windows: dict[str, int]
) -> ir.Table:
    """``usage_features`` straight from the events, for any snapshot time and any number of
    event types (slower: COUNT(DISTINCT) over every (event, snapshot) pair)."""
    joined = _before_snapshot(spine, events, "event_time", windows["usage_lookback_days"])
    recent_window, previous_window = _trend_windows(_.event_time, windows)
    return (
        joined.group_by(KEYS)
        .aggregate(
            events_recent=recent_window.sum(),
            events_previous=previous_window.sum(),
            active_days_recent=_.event_time.date().nunique(where=recent_window),
            event_types_recent=_.event_type.nunique(
                where=_in_window(_.event_time, windows["previous_days"])
            ),
            last_event_time=_.event_time.max(),
        )
        .mutate(days_since_last_event=_days_between(_.snapshot_date, _.last_event_time))
        .drop("last_event_time")
    )


def purchase_features(spine: ir.Table, transactions: ir.Table, windows: dict[str, int]) -> ir.Table:
    """Recency, frequency and monetary value of transactions, and their trend."""
    lookback = windows["purchase_lookback_days"]
    joined = _before_snapshot(spine, transactions, "transaction_date", lookback)
    recent_window, previous_window = _trend_windows(_.transaction_date, windows)
    return (
        joined.group_by(KEYS)
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
    previous = windows["previous_days"]
    ordered = subscriptions.mutate(
        mrr_step=_.mrr - _.mrr.lag().over(group_by="customer_id", order_by=["start_date", "mrr"])
    )
    joined = _before_snapshot(spine, ordered, "start_date", None)
    active_now = _.end_date.isnull() | (_.end_date >= _.snapshot_date)
    earlier = _.snapshot_date - ibis.interval(days=previous)
    active_earlier = (_.start_date < earlier) & (_.end_date.isnull() | (_.end_date >= earlier))
    return (
        joined.group_by(KEYS)
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
    snapshot is treated as not yet happened.
    """
    recent_plus_previous = windows["recent_days"] + windows["previous_days"]
    joined = _before_snapshot(spine, tickets, "opened_at", windows["support_lookback_days"])
    answered = _.first_response_at < _.snapshot_date
    resolved = _.resolved_at < _.snapshot_date
    hours = 1 / 3600
    return joined.group_by(KEYS).aggregate(
        tickets_recent=_in_window(_.opened_at, recent_plus_previous).sum(),
        open_tickets=(~resolved.fill_null(False)).sum(),
        median_first_response_hours=(
            (_.first_response_at.epoch_seconds() - _.opened_at.epoch_seconds()) * hours
        ).median(where=answered),
        median_resolution_hours=(
            (_.resolved_at.epoch_seconds() - _.opened_at.epoch_seconds()) * hours
        ).median(where=resolved),
        last_csat=_.csat.argmax(_.resolved_at, where=resolved & _.csat.notnull()),
    )


def feedback_features(spine: ir.Table, feedback: ir.Table, windows: dict[str, int]) -> ir.Table:
    """Latest NPS answer, its trend against the one before, and exit-survey starts."""
    joined = _before_snapshot(spine, feedback, "response_date", None)
    nps = joined.filter(_.survey == "nps").mutate(
        answer_rank=ibis.row_number().over(group_by=KEYS, order_by=ibis.desc("response_date"))
    )
    latest_nps = nps.group_by(KEYS).aggregate(
        nps_latest=_.score.max(where=_.answer_rank == 0),
        nps_previous=_.score.max(where=_.answer_rank == 1),
        nps_responses=_.count(),
    )
    exits = (
        joined.filter(_.survey == "exit")
        .group_by(KEYS)
        .aggregate(
            exit_survey_recent=_in_window(
                _.response_date, windows["recent_days"] + windows["previous_days"]
            ).sum()
        )
    )
    return (
        latest_nps.outer_join(exits, KEYS)
        .mutate(
            customer_id=ibis.coalesce(_.customer_id, _.customer_id_right),
            snapshot_date=ibis.coalesce(_.snapshot_date, _.snapshot_date_right),
        )
        .drop("customer_id_right", "snapshot_date_right")
    )
