"""Phrase templates that turn a churn driver's value into words ("usage down 40% vs previous
period", "detractor NPS (3)"). The feature registry (:mod:`customer_retention.core.features`)
names the template of each feature; :func:`customer_retention.core.reasons.phrase` applies it."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


def missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def number(value: float) -> str:
    """A count or amount without needless decimals."""
    return (
        f"{value:,.0f}"
        if abs(value - round(value)) < 0.05 or abs(value) >= 100
        else f"{value:,.1f}"
    )


def trend(what: str) -> Callable[[Any], str]:
    def phrase(ratio: Any) -> str:
        if missing(ratio):
            return f"no {what} history"
        change = (float(ratio) - 1) * 100
        if change <= -1:
            return f"{what} down {-change:.0f}% vs previous period"
        if change >= 1:
            return f"{what} up {change:.0f}% vs previous period"
        return f"{what} flat vs previous period"

    return phrase


def nps(value: Any) -> str:
    if missing(value):
        return "no NPS answer"
    score = float(value)
    kind = "detractor" if score <= 6 else "passive" if score <= 8 else "promoter"
    return f"{kind} NPS ({number(score)})"


def nps_class(value: Any, row: dict[str, Any]) -> str:
    if missing(value) or value == "no_answer":
        return "no NPS answer"
    score = row.get("nps_latest")
    return f"{value} NPS ({number(float(score))})" if not missing(score) else f"{value} NPS"


def hours(label: str, when_missing: str) -> Callable[[Any], str]:
    def phrase(value: Any) -> str:
        return when_missing if missing(value) else f"{label} {number(float(value))} h"

    return phrase


def contract(value: Any) -> str:
    if missing(value):
        return "contract type unknown"
    return "annual contract: no (monthly)" if str(value) == "monthly" else f"{value} contract"


def tenure(value: Any) -> str:
    days = float(value)
    return f"new customer: {days:.0f} days" if days < 365 else f"tenure {days / 365.25:.1f} years"


def count(
    template: str, when_missing: str = "no data", whole: bool = False
) -> Callable[[Any], str]:
    """Template with {n} = the value (rounded to a whole number when ``whole``)."""

    def phrase(value: Any) -> str:
        if missing(value):
            return when_missing
        amount = float(value)
        return template.format(n=f"{amount:,.0f}" if whole else number(amount))

    return phrase


def exit_survey(value: Any) -> str:
    return "exit survey started" if value is True or value == 1 else "no exit survey"


def mrr_change(value: Any) -> str:
    if missing(value):
        return "no MRR history"
    change = float(value)
    return (
        f"MRR down {number(-change)} vs earlier" if change < 0 else f"MRR change {number(change)}"
    )


def running_plan(value: Any) -> str:
    return f"{value} plan" if not missing(value) else "no running plan"


def plan(value: Any) -> str:
    return f"{value} plan" if not missing(value) else "plan unknown"


def acquired_via(value: Any) -> str:
    return f"acquired via {str(value).replace('_', ' ')}"


def comment_theme(value: Any) -> str:
    return f"latest comment about {value}" if not missing(value) else "no comment"


def generic(feature: str, value: Any) -> str:
    name = feature.replace("_", " ")
    if missing(value):
        return f"{name}: missing"
    if isinstance(value, bool | np.bool_):
        return f"{name}: {'yes' if value else 'no'}"
    if isinstance(value, int | float | np.integer | np.floating):
        return f"{name}: {number(float(value))}"
    return f"{name}: {str(value).replace('_', ' ')}"


# ----------------------------------------------------------------------------- driver names
# What a churn driver stands for when its name alone would mislead a reader of the report's
# drivers chart and summary: the feature measures one thing but, in these data, mostly carries
# another. Keyed by feature name; the registry's label (features.py) comes first.
STANDS_FOR: dict[str, str] = {
    "exit_survey_started": "already leaving",
    "nps_responses": "survey engagement",
    "events_previous": "given recent use: a usage drop",
    "mrr_current": "plan size",
    "mrr_previous": "plan size before",
}
# With subscriptions, the transactions are mostly the subscriptions' invoices: their amounts
# stand for the plan's price and billing cycle (an annual invoice is 12 monthly ones), their
# counts and recency for the billing cycle, not for buying behaviour.
STANDS_FOR_WITH_SUBSCRIPTIONS: dict[str, str] = {
    "mean_amount_lookback": "proxy for plan size",
    "amount_recent": "invoices: plan size",
    "amount_previous": "invoices: plan size",
    "transactions_lookback": "invoices: billing cycle",
    "transactions_recent": "invoices: billing cycle",
    "transactions_previous": "invoices: billing cycle",
    "days_since_last_transaction": "billing cycle",
    "transaction_trend_ratio": "billing changes",
    "amount_trend_ratio": "plan or billing changes",
}


def driver_name(feature: str, label: str, contract: str | None = None) -> str:
    """A churn driver's name for the report: its ``label``, with what it stands for in
    brackets where that differs from what it measures (``contract``: the run's business type;
    "contractual" means the transactions are mostly invoices)."""
    stands_for = (
        STANDS_FOR_WITH_SUBSCRIPTIONS.get(feature) if contract == "contractual" else None
    ) or STANDS_FOR.get(feature)
    return f"{label} ({stands_for})" if stands_for else label
