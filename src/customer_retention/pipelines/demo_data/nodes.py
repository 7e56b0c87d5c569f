"""Synthetic subscription business with planted, known churn effects.

Every customer gets static attributes (plan, region, acquisition channel, contract type) and
latent traits (NPS disposition, support tier, engagement) that only the ground truth records.
Time to churn follows a Weibull proportional-hazards model

    S(t | x) = exp(-m(x) * (t / s)^k),    m(x) = prod_j hazard_ratio_j(x_j),

with t the tenure in days, so the planted hazard ratios are exactly what a Cox model on the
same covariates should recover. Churn is a lagging indicator: usage fades over the last weeks
before the end and the exit survey is started before it, so the signals lead the event. Survey
comments are written about planted themes (``comments.py``), mostly but not always the coded
reason's.

The hazard is additive on the log scale, which a logistic regression captures almost perfectly.
One planted effect is not additive: how long before churn usage starts to fade depends on the
contract (``usage_decline_days`` by contract type). Monthly customers cancel within weeks of
disengaging; annual customers, already paid up, drift away for months before they leave. A usage
drop therefore means "leaving within weeks" for one and "maybe leaving this quarter" for the
other -- a contract x usage interaction that a model needs to learn, not a sum of effects.

Everything is vectorised numpy (no per-customer Python loop). The usage events, by far the
largest table (~70M rows for a million customers), are drawn in blocks of customers straight into
their final columns, so temporary memory is bounded by one block; rows are put in customer and
time order by sorting one packed (customer, time) integer key instead of a lexsort and gathers.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd

from customer_retention.models.clv import DAYS_PER_MONTH
from customer_retention.models.simulation import hazard_multiplier

from .campaigns import churn_columns, plant_campaigns
from .comments import plant_comments
from .single_snapshot import to_single_snapshot

logger = logging.getLogger(__name__)

PLAN_ORDER = ("basic", "pro", "enterprise")
EXIT_REASONS = (
    "too_expensive",
    "missing_features",
    "switched_to_competitor",
    "poor_support",
    "no_longer_needed",
    "hard_to_use",
)
MS_PER_DAY = 86_400_000
SECONDS_PER_DAY = 86_400
# Customers per block of usage events (~3.5M events): bounds the generator's temporary memory.
# A constant, not a parameter: the blocks are drawn from one random stream, so the block size
# is part of what a seed means.
EVENT_BLOCK_CUSTOMERS = 50_000
NPS_REASONS = {
    "detractor": ("slow support", "too expensive", "missing features"),
    "passive": ("good value", "missing features", "easy to use"),
    "promoter": ("great support", "easy to use", "saves us time"),
}


def _draw_codes(rng: np.random.Generator, shares: dict[str, float], size: int) -> np.ndarray:
    """Draw category positions in ``shares`` (int8) with the given shares (normalised)."""
    probabilities = np.array(list(shares.values()), dtype=float)
    codes = rng.choice(len(shares), size=size, p=probabilities / probabilities.sum())
    return codes.astype(np.int8)


def _draw(rng: np.random.Generator, shares: dict[str, float], size: int) -> np.ndarray:
    """Draw category labels with the given shares (normalised to sum to one)."""
    return np.array(list(shares), dtype=object)[_draw_codes(rng, shares, size)]


def _customer_time_key(row: np.ndarray, tick: np.ndarray, ticks_per_row: int) -> np.ndarray:
    """One int64 per (customer row, time tick) pair, ordered like the pairs: sorting or
    arg-sorting it orders rows by customer then time, far faster than a lexsort of the two.
    Every tick must lie in [0, ticks_per_row)."""
    if (int(row.max(initial=0)) + 1) * ticks_per_row >= np.iinfo(np.int64).max:
        raise OverflowError("too many customer rows to pack with their times into int64")
    return row.astype(np.int64) * ticks_per_row + tick


def _to_dates(start: pd.Timestamp, day_offsets: np.ndarray, unit: str = "s") -> np.ndarray:
    """Day offsets (fractional = time of day) from ``start`` as datetime64 (NaN becomes NaT)."""
    per_day = {"s": 86_400, "ms": 86_400_000}[unit]
    ticks = np.round(np.asarray(day_offsets, dtype=float) * per_day)
    out = np.full(ticks.shape, np.datetime64("NaT"), dtype=f"datetime64[{unit}]")
    valid = ~np.isnan(ticks)
    out[valid] = np.datetime64(start, unit) + ticks[valid].astype(f"timedelta64[{unit}]")
    return out


def _simulate_customers(
    params: dict[str, Any], rng: np.random.Generator, window_days: int
) -> pd.DataFrame:
    """Customers with attributes, latent traits, signup day and churn day (days from start)."""
    n = int(params["n_customers"])
    growth = float(params["signup_growth"])
    # Signup density grows linearly from 1 to `growth` over the window: inverse-CDF sampling.
    q = rng.random(n)
    if np.isclose(growth, 1.0):
        position = q
    else:
        slope = growth - 1.0
        position = (np.sqrt(1.0 + 2.0 * slope * (1.0 + slope / 2.0) * q) - 1.0) / slope
    customers = pd.DataFrame({"customer_id": np.arange(1, n + 1, dtype=np.int64)})
    customers["signup_day"] = np.minimum((position * window_days).astype(np.int64), window_days - 1)
    for column, shares in {**params["attributes"], **params["latent_traits"]}.items():
        customers[column] = _draw(rng, shares, n)

    customers["true_hazard_multiplier"] = hazard_multiplier(customers, params["hazard_ratios"])
    shape = float(params["baseline_hazard"]["weibull_shape"])
    scale = float(params["baseline_hazard"]["weibull_scale_days"])
    # Inverse of S(t) = exp(-m (t/s)^k) applied to an Exp(1) draw.
    lifetime = scale * (rng.exponential(size=n) / customers["true_hazard_multiplier"]) ** (
        1 / shape
    )
    for column, values in churn_columns(customers, lifetime.to_numpy(), window_days).items():
        customers[column] = values
    return customers


def _plan_changes(
    customers: pd.DataFrame, params: dict[str, Any], rng: np.random.Generator, window_days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Day of a customer's single plan change (NaN if none) and the plan after it."""
    n = len(customers)
    plan_index = _plan_positions(customers["plan"])
    changes = rng.random(n) < params["plan_change_share"]
    step = np.where(rng.random(n) < params["upgrade_share"], 1, -1)
    new_index = np.clip(plan_index + step, 0, len(PLAN_ORDER) - 1)
    # The change day is drawn over the rest of the data window, independently of the churn
    # date (drawing it within the customer's lifetime would leak when they leave); a customer
    # who leaves before it simply never changes plan.
    signup = customers["signup_day"].to_numpy()
    remaining = np.maximum(window_days - signup - 1, 0)
    change_day = signup + 1 + np.floor(rng.random(n) * remaining)
    changes &= (new_index != plan_index) & (change_day < customers["active_until_day"].to_numpy())
    return np.where(changes, change_day, np.nan), np.array(PLAN_ORDER, dtype=object)[new_index]


def _plan_positions(plans: pd.Series | np.ndarray) -> np.ndarray:
    """Position of each plan label in PLAN_ORDER."""
    return pd.Series(plans).map({p: i for i, p in enumerate(PLAN_ORDER)}).to_numpy(dtype=np.int64)


def _mrr_on(
    day: np.ndarray, idx: np.ndarray, customers: pd.DataFrame, params: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Monthly recurring revenue of customer row ``idx`` on ``day``, after any plan change, and
    the plan then (as a position in PLAN_ORDER)."""
    sub = params["subscriptions"]
    changed = day >= customers["plan_change_day"].to_numpy()[idx]
    plan = np.where(
        changed,
        _plan_positions(customers["plan_after_change"]).take(idx),
        _plan_positions(customers["plan"]).take(idx),
    )
    list_price = np.array([sub["list_mrr"][p] for p in PLAN_ORDER], dtype=float)[plan]
    annual = customers["contract_type"].to_numpy()[idx] == "annual"
    discount = np.where(annual, 1.0 - sub["annual_discount"], 1.0)
    return np.round(list_price * customers["seats"].to_numpy()[idx] * discount, 2), plan


def _periodic_days(
    first_day: np.ndarray, until_day: np.ndarray, period: np.ndarray, offset: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """All days first + k * period (k >= offset) before until, as (row index, day) arrays."""
    counts = np.maximum(0, np.ceil((until_day - first_day) / period).astype(np.int64) - offset)
    idx = np.repeat(np.arange(len(first_day)), counts)
    k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + offset
    return idx, np.floor(first_day[idx] + k * period[idx])


def _build_subscriptions(
    customers: pd.DataFrame, params: dict[str, Any], start: pd.Timestamp
) -> pd.DataFrame:
    """One row per contract term: annual contracts renew yearly; plan changes open a new row."""
    signup = customers["signup_day"].to_numpy(dtype=float)
    until = customers["active_until_day"].to_numpy(dtype=float)
    annual = customers["contract_type"].to_numpy() == "annual"
    # Term boundaries: signup, each annual renewal, and the plan-change day.
    renew_idx, renew_day = _periodic_days(signup, until, np.where(annual, 365.0, 1e12), offset=1)
    change = customers["plan_change_day"].to_numpy()
    has_change = ~np.isnan(change)
    idx = np.concatenate([np.arange(len(customers)), renew_idx, np.flatnonzero(has_change)])
    day = np.concatenate([signup, renew_day, change[has_change]])
    order = np.lexsort((day, idx))
    idx, day = idx[order], day[order]
    keep = np.ones(len(idx), dtype=bool)
    keep[1:] = (idx[1:] != idx[:-1]) | (day[1:] != day[:-1])
    idx, day = idx[keep], day[keep]
    last = np.ones(len(idx), dtype=bool)
    last[:-1] = idx[1:] != idx[:-1]
    end_day = np.where(last, until[idx], np.roll(day, -1))
    still_active = last & ~customers["churned"].to_numpy()[idx]
    mrr, plan = _mrr_on(day, idx, customers, params)
    return pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy()[idx],
            "start_date": _to_dates(start, day),
            "end_date": _to_dates(start, np.where(still_active, np.nan, end_day)),
            "plan": np.array(PLAN_ORDER, dtype=object)[plan],
            "mrr": mrr,
        }
    )


def _build_transactions(
    customers: pd.DataFrame, params: dict[str, Any], rng: np.random.Generator, start: pd.Timestamp
) -> pd.DataFrame:
    """Invoices paid (monthly, or yearly for annual contracts) plus one-off add-on purchases,
    in customer and time order (an invoice before an add-on bought the same second)."""
    signup = customers["signup_day"].to_numpy(dtype=float)
    until = customers["active_until_day"].to_numpy(dtype=float)
    annual = customers["contract_type"].to_numpy() == "annual"
    inv_idx, inv_day = _periodic_days(signup, until, np.where(annual, 365.0, DAYS_PER_MONTH))
    inv_mrr, _ = _mrr_on(inv_day, inv_idx, customers, params)
    inv_amount = np.where(annual[inv_idx], 12 * inv_mrr, inv_mrr)

    tx = params["transactions"]
    n_addons = rng.poisson(tx["addon_purchases_per_month"] * (until - signup) / DAYS_PER_MONTH)
    add_idx = np.repeat(np.arange(len(customers)), n_addons)
    add_day = signup[add_idx] + rng.random(len(add_idx)) * (until - signup)[add_idx]
    add_amount = np.round(rng.gamma(2.0, tx["addon_mean_amount"] / 2.0, len(add_idx)), 2) + 1.0

    idx = np.concatenate([inv_idx, add_idx])
    second = np.round(np.concatenate([inv_day, add_day]) * SECONDS_PER_DAY).astype(np.int64)
    seconds_per_row = (int(until.max(initial=0)) + 1) * SECONDS_PER_DAY
    order = np.argsort(_customer_time_key(idx, second, seconds_per_row), kind="stable")
    transactions = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy()[idx[order]],
            "transaction_date": np.datetime64(start, "s") + second[order],
            "amount": np.concatenate([inv_amount, add_amount])[order],
        }
    )
    transactions.insert(0, "transaction_id", np.arange(1, len(transactions) + 1, dtype=np.int64))
    return transactions


def usage_decline_days(customers: pd.DataFrame, setting: Any) -> np.ndarray:
    """Days before churn over which each customer's usage fades: one number for everyone, or a
    mapping by contract type (``{monthly: 30, annual: 150}``) naming every contract type."""
    if not isinstance(setting, dict):
        return np.full(len(customers), float(setting))
    contract = customers["contract_type"]
    missing = sorted(set(contract.unique()) - set(setting))
    if missing:
        raise ValueError(
            f"usage_decline_days gives no value for the contract type(s) {missing}; "
            f"it maps {sorted(setting)}"
        )
    return contract.map({k: float(v) for k, v in setting.items()}).to_numpy(dtype=float)


def _usage_keep_probability(
    days_to_churn: np.ndarray, churned: np.ndarray, decline_days: np.ndarray, floor: float
) -> np.ndarray:
    """Planted usage fade: in the last ``decline_days`` before churn the share of events kept
    falls linearly from 1 to ``floor``; 1 elsewhere and for customers who never churn."""
    fading = churned & (days_to_churn < decline_days)
    return np.where(fading, floor + (1 - floor) * np.clip(days_to_churn / decline_days, 0, 1), 1.0)


def _event_times_of_block(
    block: pd.DataFrame, counts: np.ndarray, params: dict[str, Any], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Usage events of a block of customers: ``counts`` uniform draws over each one's active
    days, thinned by the usage fade. Returns (row in ``block``, ms from start), sorted by both."""
    signup = block["signup_day"].to_numpy(dtype=float)
    active = block["active_days"].to_numpy(dtype=float)
    row = np.repeat(np.arange(len(block)), counts)
    day = signup[row] + rng.random(len(row)) * active[row]
    keep_probability = _usage_keep_probability(
        block["churn_day"].to_numpy()[row] - day,
        block["churned"].to_numpy()[row],
        usage_decline_days(block, params["usage_decline_days"])[row],
        float(params["usage_floor"]),
    )
    keep = rng.random(len(row)) < keep_probability
    ms = np.round(day[keep] * MS_PER_DAY).astype(np.int64)
    ms_per_row = (int(block["active_until_day"].max()) + 1) * MS_PER_DAY
    key = _customer_time_key(row[keep], ms, ms_per_row)
    key.sort()  # the rows themselves, in customer and time order: no argsort, no gathers
    return np.divmod(key, ms_per_row)


def _build_events(
    customers: pd.DataFrame, params: dict[str, Any], rng: np.random.Generator, start: pd.Timestamp
) -> pd.DataFrame:
    """Product-usage events: a Poisson process per customer, thinned as churn approaches.

    Drawn in blocks of EVENT_BLOCK_CUSTOMERS customers, one after the other from the same
    random stream, into columns allocated once for the most events there can be (before
    thinning): no full-size temporaries, no concatenation. Rows are in customer and time order.
    Up to one block of customers the draws are the ones of drawing all events at once.
    """
    ev = params["events"]
    active = customers["active_days"].to_numpy(dtype=float)
    rate = ev["mean_events_per_day"] * rng.lognormal(-0.125, 0.5, len(customers))
    rate *= np.where(customers["engagement"].to_numpy() == "low", ev["low_engagement_factor"], 1.0)
    counts = rng.poisson(rate * active)
    most = int(counts.sum())
    customer_id = np.empty(most, dtype=np.int64)
    event_ms = np.empty(most, dtype=np.int64)
    event_type = np.empty(most, dtype=np.int8)
    filled = 0
    n_blocks = -(-len(customers) // EVENT_BLOCK_CUSTOMERS)
    for block in range(n_blocks):
        rows = slice(block * EVENT_BLOCK_CUSTOMERS, (block + 1) * EVENT_BLOCK_CUSTOMERS)
        row, ms = _event_times_of_block(customers.iloc[rows], counts[rows], params, rng)
        out = slice(filled, filled + len(row))
        customer_id[out] = customers["customer_id"].to_numpy()[rows][row]
        event_ms[out] = ms
        event_type[out] = _draw_codes(rng, ev["event_types"], len(row))
        filled += len(row)
    event_ms[:filled] += np.datetime64(start, "ms").astype(np.int64)
    return pd.DataFrame(
        {
            "customer_id": customer_id[:filled],
            "event_time": event_ms[:filled].view("datetime64[ms]"),
            "event_type": pd.Categorical.from_codes(
                event_type[:filled], categories=list(ev["event_types"])
            ),
        },
        copy=False,
    )


def _build_support_tickets(
    customers: pd.DataFrame,
    params: dict[str, Any],
    rng: np.random.Generator,
    start: pd.Timestamp,
    window_days: int,
) -> pd.DataFrame:
    """Tickets whose first-response time depends on the customer's (latent) support tier."""
    sp = params["support"]
    signup = customers["signup_day"].to_numpy(dtype=float)
    active = customers["active_days"].to_numpy(dtype=float)
    counts = rng.poisson(sp["tickets_per_month"] * active / DAYS_PER_MONTH)
    idx = np.repeat(np.arange(len(customers)), counts)
    opened = signup[idx] + rng.random(len(idx)) * active[idx]
    slow = customers["support_tier"].to_numpy()[idx] == "slow"
    median_hours = np.where(
        slow, sp["first_response_median_hours"]["slow"], sp["first_response_median_hours"]["fast"]
    )
    first_response = opened + median_hours * rng.lognormal(0.0, 0.5, len(idx)) / 24
    resolved = first_response + sp["resolution_median_hours"] * rng.lognormal(0, 0.8, len(idx)) / 24
    # Nothing is observed after the end of the data window: such tickets are still open.
    first_response[first_response >= window_days] = np.nan
    resolved[np.isnan(first_response) | (resolved >= window_days)] = np.nan
    csat_fast = rng.choice([3, 4, 5], size=len(idx), p=[0.2, 0.4, 0.4])
    csat_slow = rng.choice([1, 2, 3], size=len(idx), p=[0.35, 0.4, 0.25])
    csat = np.where(slow, csat_slow, csat_fast).astype(float)
    csat[np.isnan(resolved) | (rng.random(len(idx)) < sp["csat_missing_share"])] = np.nan
    order = np.argsort(opened, kind="stable")
    tickets = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy()[idx[order]],
            "opened_at": _to_dates(start, opened[order]),
            "first_response_at": _to_dates(start, first_response[order]),
            "resolved_at": _to_dates(start, resolved[order]),
            "csat": pd.array(csat[order], dtype="Int64"),
        }
    )
    tickets.insert(0, "ticket_id", np.arange(1, len(tickets) + 1, dtype=np.int64))
    return tickets


def _exit_reasons(customers: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Exit reasons whose odds follow the customer's traits (support tier, plan, engagement)."""
    weights = np.ones((len(customers), len(EXIT_REASONS)))
    weights[:, EXIT_REASONS.index("poor_support")] += 4 * (customers["support_tier"] == "slow")
    weights[:, EXIT_REASONS.index("too_expensive")] += 2 * (customers["plan"] != "basic")
    weights[:, EXIT_REASONS.index("hard_to_use")] += 3 * (customers["engagement"] == "low")
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    choice = (rng.random((len(customers), 1)) > cumulative).sum(axis=1)
    return np.array(EXIT_REASONS, dtype=object)[np.minimum(choice, len(EXIT_REASONS) - 1)]


def _build_feedback(
    customers: pd.DataFrame, params: dict[str, Any], rng: np.random.Generator, start: pd.Timestamp
) -> pd.DataFrame:
    """Quarterly NPS answers (score set by the NPS disposition) and exit surveys before churn."""
    fb = params["feedback"]
    signup = customers["signup_day"].to_numpy(dtype=float)
    until = customers["active_until_day"].to_numpy(dtype=float)
    period = np.full(len(customers), float(fb["nps_every_days"]))
    idx, day = _periodic_days(signup, until, period, offset=1)
    answered = rng.random(len(idx)) < fb["nps_response_rate"]
    idx, day = idx[answered], day[answered]
    disposition = customers["nps_disposition"].to_numpy()[idx]
    detractor_score = rng.choice(7, size=len(idx), p=np.arange(1, 8) / 28)
    score = np.where(
        disposition == "promoter",
        rng.integers(9, 11, len(idx)),
        np.where(disposition == "passive", rng.integers(7, 9, len(idx)), detractor_score),
    )
    reason_table = pd.DataFrame(NPS_REASONS)  # rows: 3 reasons; columns: dispositions
    nps_reason = reason_table.to_numpy()[
        rng.integers(0, len(reason_table), len(idx)),
        reason_table.columns.get_indexer(disposition),
    ]
    nps = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy()[idx],
            "response_date": _to_dates(start, day),
            "survey": "nps",
            "score": score.astype(float),
            "reason": nps_reason,
            "comment": None,
        }
    )
    lead = float(params["exit_survey_lead_days"])
    responds = rng.random(len(customers)) < fb["exit_survey_response_rate"]
    exits = customers[customers["churned"].to_numpy() & responds]
    exit_day = np.maximum(
        exits["signup_day"].to_numpy(dtype=float),
        exits["churn_day"].to_numpy() - np.ceil(rng.random(len(exits)) * lead),
    )
    reasons = _exit_reasons(exits, rng)
    exit_rows = pd.DataFrame(
        {
            "customer_id": exits["customer_id"].to_numpy(),
            "response_date": _to_dates(start, exit_day),
            "survey": "exit",
            "score": np.nan,
            "reason": reasons,
            "comment": None,  # written by comments.plant_comments (its own random stream)
        }
    )
    feedback = pd.concat([nps, exit_rows], ignore_index=True)
    return feedback.sort_values(["response_date", "customer_id"], kind="stable", ignore_index=True)


def _append_rows(table: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """``table`` followed by ``rows``, built one column at a time so that a large table is never
    held twice in memory (the columns of ``table`` are taken out of it as they are copied)."""
    columns = {}
    with warnings.catch_warnings():  # all-NA columns in the few appended rows are expected
        warnings.simplefilter("ignore", FutureWarning)
        for name in list(table.columns):
            columns[name] = pd.concat([table.pop(name), rows[name]], ignore_index=True)
    return pd.DataFrame(columns, copy=False)


def _plant_data_errors(
    tables: dict[str, pd.DataFrame], share: float, rng: np.random.Generator
) -> dict[str, dict[str, int]]:
    """Append a few known-bad rows to the tables (in place); return {table: {reason: count}}.

    The reasons are the ones the cleaning stage must report, so a test can check that every
    planted error is caught and nothing else is.
    """
    planted: dict[str, dict[str, int]] = {}
    if share <= 0:
        return planted
    original_rows = {table: len(frame) for table, frame in tables.items()}

    def pick(table: str, where: str | None = None) -> pd.DataFrame:
        """A random sample of the table's original (good) rows, optionally filtered first."""
        candidates = tables[table].iloc[: original_rows[table]]
        if where is not None:
            candidates = candidates.query(where)
        count = min(len(candidates), max(1, round(share * original_rows[table])))
        return candidates.iloc[rng.choice(len(candidates), size=count, replace=False)].copy()

    def append(table: str, rows: pd.DataFrame, reason: str) -> None:
        tables[table] = _append_rows(tables[table], rows)
        planted.setdefault(table, {})[reason] = planted.get(table, {}).get(reason, 0) + len(rows)

    for table in ("customers", "transactions", "events", "feedback"):
        append(table, pick(table), "duplicate row")
    negative = pick("transactions")
    negative["amount"] = -negative["amount"]
    negative["transaction_id"] = tables["transactions"]["transaction_id"].max() + np.arange(
        1, len(negative) + 1
    )
    append("transactions", negative, "negative amount")
    unknown = pick("transactions")
    unknown["customer_id"] = tables["customers"]["customer_id"].max() + 1_000_000
    unknown["transaction_id"] = tables["transactions"]["transaction_id"].max() + np.arange(
        1, len(unknown) + 1
    )
    append("transactions", unknown, "unknown customer_id")
    backwards = pick("support_tickets", where="resolved_at.notna()")
    backwards["resolved_at"] = backwards["opened_at"] - pd.Timedelta(days=2)
    backwards["ticket_id"] = tables["support_tickets"]["ticket_id"].max() + np.arange(
        1, len(backwards) + 1
    )
    append("support_tickets", backwards, "resolved_at before opened_at")
    out_of_range = pick("feedback", where="survey == 'nps'").assign(score=11.0)
    append("feedback", out_of_range, "NPS score outside 0-10")
    ends_early = pick("subscriptions", where="end_date.notna()")
    ends_early["end_date"] = ends_early["start_date"] - pd.Timedelta(days=1)
    append("subscriptions", ends_early, "end_date before start_date")
    if len(tables.get("interventions", ())):
        unknown_arm = pick("interventions").assign(arm="holdout")
        unknown_arm["campaign"] = unknown_arm["campaign"] + "_retry"
        append("interventions", unknown_arm, "arm not one of treatment, control")
        again = pick("interventions")
        again["arm"] = np.where(again["arm"] == "treatment", "control", "treatment")
        append("interventions", again, "duplicate (customer_id, campaign) with conflicting values")
    return planted


def generate_demo_data(
    params: dict[str, Any],
) -> tuple[pd.DataFrame | dict, ...]:
    """Generate every table of the data contract plus the ground truth, deterministically.

    Returns customers, subscriptions, transactions, events, support_tickets, feedback,
    interventions and the ground-truth dictionary (planted hazard ratios, baseline hazard,
    per-customer multipliers and latent traits, planted campaigns and their effects, planted
    data errors, the planted theme of every comment).
    """
    rng = np.random.default_rng(int(params["seed"]))
    start = pd.Timestamp(params["start_date"])
    end = pd.Timestamp(params["end_date"])
    window_days = (end - start).days + 1
    logger.info(
        "Generating demo data: %s customers over %s days", params["n_customers"], window_days
    )

    customers = _simulate_customers(params, rng, window_days)
    customers, interventions, campaign_truth = plant_campaigns(
        customers, params, start, window_days
    )
    customers["seats"] = 1 + rng.poisson(
        params["subscriptions"]["mean_extra_seats"], len(customers)
    )
    customers["plan_change_day"], customers["plan_after_change"] = _plan_changes(
        customers, params["subscriptions"], rng, window_days
    )
    tables = {
        "customers": pd.DataFrame(
            {
                "customer_id": customers["customer_id"],
                "signup_date": _to_dates(start, customers["signup_day"].to_numpy(dtype=float)),
                **{column: customers[column] for column in params["attributes"]},
            }
        ),
        "subscriptions": _build_subscriptions(customers, params, start),
        "transactions": _build_transactions(customers, params, rng, start),
        "events": _build_events(customers, params, rng, start),
        "support_tickets": _build_support_tickets(customers, params, rng, start, window_days),
        "feedback": _build_feedback(customers, params, rng, start),
        "interventions": interventions,
    }
    for name, table in tables.items():
        logger.info("Demo table %-16s %12s rows", name, f"{len(table):,}")
    single = params.get("single_snapshot") or {}
    if single.get("enabled"):
        day = (pd.Timestamp(single["snapshot_date"]) - start).days
        charges, _ = _mrr_on(
            np.full(len(customers), day), np.arange(len(customers)), customers, params
        )
        tables, snapshot_truth = to_single_snapshot(
            customers, list(params["attributes"]), charges, single, start, rng
        )
        ground_truth = _ground_truth(customers, params, start, window_days, {})
        ground_truth["single_snapshot"] = snapshot_truth
        return tuple(tables.values()) + (ground_truth,)
    tables["feedback"], comment_truth = plant_comments(tables["feedback"], int(params["seed"]))
    planted_errors = _plant_data_errors(tables, float(params["dirty_row_share"]), rng)
    ground_truth = _ground_truth(customers, params, start, window_days, planted_errors)
    ground_truth["campaigns"] = campaign_truth
    ground_truth["comments"] = comment_truth
    logger.info(
        "Demo churn: %.1f%% of customers churned by %s (model expects %.1f%%)",
        100 * ground_truth["summary"]["churned_share"],
        end.date(),
        100 * ground_truth["summary"]["expected_churned_share"],
    )
    return (
        tables["customers"],
        tables["subscriptions"],
        tables["transactions"],
        tables["events"],
        tables["support_tickets"],
        tables["feedback"],
        tables["interventions"],
        ground_truth,
    )


def _ground_truth(
    customers: pd.DataFrame,
    params: dict[str, Any],
    start: pd.Timestamp,
    window_days: int,
    planted_errors: dict[str, dict[str, int]],
) -> dict[str, Any]:
    """The planted model, written beside the data so tests can check what models recover."""
    shape = float(params["baseline_hazard"]["weibull_shape"])
    scale = float(params["baseline_hazard"]["weibull_scale_days"])
    exposure = (window_days - customers["signup_day"]).to_numpy(dtype=float)
    expected = 1 - np.exp(-customers["true_hazard_multiplier"] * (exposure / scale) ** shape)
    churn_dates = np.datetime64(start, "D") + customers["churn_day"].to_numpy()
    churn_dates = np.where(customers["churned"], churn_dates.astype(str), None)
    reference_levels = {
        column: next(level for level in shares if level not in params["hazard_ratios"][column])
        for column, shares in {**params["attributes"], **params["latent_traits"]}.items()
        if column in params["hazard_ratios"]
    }
    return {
        "description": (
            "Weibull proportional hazards on tenure in days: S(t|x) = exp(-m(x) (t/s)^k), "
            "m(x) = product of hazard_ratios of the customer's levels (reference levels = 1)."
        ),
        "seed": int(params["seed"]),
        "start_date": str(start.date()),
        "as_of_date": str((start + pd.Timedelta(days=window_days - 1)).date()),
        "baseline_hazard": {"weibull_shape": shape, "weibull_scale_days": scale},
        "hazard_ratios": params["hazard_ratios"],
        "reference_levels": reference_levels,
        "observable_in": {
            "plan": "customers.plan (plan at signup)",
            "contract_type": "customers.contract_type",
            "acquisition_channel": "customers.acquisition_channel",
            "nps_disposition": "feedback: every NPS answer of a detractor is 0-6, passive 7-8, promoter 9-10",
            "support_tier": "support_tickets: first-response median 36 h (slow) vs 2 h (fast)",
            "engagement": "events: low-engagement customers use the product ~1/3 as much",
        },
        "leading_signals": {
            "description": (
                "Usage fades linearly to usage_floor over the last usage_decline_days before "
                "churn (by contract type when a mapping: not additive in contract and usage); "
                "exit surveys start up to exit_survey_lead_days before churn. The oracle "
                "(true_churn_probability) uses the hazard only, never these signals."
            ),
            "usage_decline_days": params["usage_decline_days"],
            "usage_floor": params["usage_floor"],
            "exit_survey_lead_days": params["exit_survey_lead_days"],
        },
        "summary": {
            "n_customers": len(customers),
            "churned": int(customers["churned"].sum()),
            "churned_share": float(customers["churned"].mean()),
            "expected_churned_share": float(expected.mean()),
        },
        "planted_data_errors": planted_errors,
        "customers": {
            "customer_id": customers["customer_id"].tolist(),
            "true_hazard_multiplier": customers["true_hazard_multiplier"].round(6).tolist(),
            **{column: customers[column].tolist() for column in params["latent_traits"]},
            "churn_date": churn_dates.tolist(),
        },
    }
