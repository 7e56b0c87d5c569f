"""Per-customer churn reasons from SHAP contributions, in words, with a retention action.

XGBoost's ``predict(..., pred_contribs=True)`` splits each customer's log-odds into one
contribution per feature plus a bias (TreeSHAP). The features with the largest **positive**
contributions are the customer's drivers: only what pushes the risk up counts as a reason.
Each driver is turned into a phrase using the customer's own value of the feature
(``PHRASES``; any feature without a template gets a generic "<feature>: <value>" phrase) and
belongs to a driver group (``DRIVER_GROUPS``) that selects the retention action from
parameters (``scoring.actions``: keyed by feature name or driver group, with a fallback).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

DRIVER_GROUPS: dict[str, str] = {
    # Product usage: declines are the classic leading indicator.
    "events_recent": "usage",
    "events_previous": "usage",
    "active_days_recent": "usage",
    "event_types_recent": "usage",
    "days_since_last_event": "usage",
    "usage_trend_ratio": "usage",
    # Survey feedback.
    "nps_latest": "nps",
    "nps_class": "nps",
    "nps_trend": "nps",
    "nps_responses": "nps",
    "exit_survey_started": "exit_survey",
    # Support experience.
    "tickets_recent": "support",
    "open_tickets": "support",
    "median_first_response_hours": "support",
    "median_resolution_hours": "support",
    "last_csat": "support",
    # Price, plan and revenue.
    "mrr_current": "pricing",
    "mrr_previous": "pricing",
    "mrr_change": "pricing",
    "plan_upgrades": "pricing",
    "plan_downgrades": "pricing",
    "current_plan": "pricing",
    "plan": "pricing",
    "contract_type": "contract",
    # Purchases.
    "transactions_recent": "purchases",
    "transactions_previous": "purchases",
    "transactions_lookback": "purchases",
    "amount_recent": "purchases",
    "amount_previous": "purchases",
    "mean_amount_lookback": "purchases",
    "days_since_last_transaction": "purchases",
    "transaction_trend_ratio": "purchases",
    "amount_trend_ratio": "purchases",
    # Customer profile.
    "tenure_days": "profile",
    "acquisition_channel": "profile",
    "region": "profile",
}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _n(value: float) -> str:
    """A count or amount without needless decimals."""
    return (
        f"{value:,.0f}"
        if abs(value - round(value)) < 0.05 or abs(value) >= 100
        else f"{value:,.1f}"
    )


def _trend(what: str) -> Callable[[Any], str]:
    def phrase(ratio: Any) -> str:
        if _missing(ratio):
            return f"no {what} history"
        change = (float(ratio) - 1) * 100
        if change <= -1:
            return f"{what} down {-change:.0f}% vs previous period"
        if change >= 1:
            return f"{what} up {change:.0f}% vs previous period"
        return f"{what} flat vs previous period"

    return phrase


def _nps(value: Any) -> str:
    if _missing(value):
        return "no NPS answer"
    score = float(value)
    kind = "detractor" if score <= 6 else "passive" if score <= 8 else "promoter"
    return f"{kind} NPS ({_n(score)})"


def _nps_class(value: Any, row: dict[str, Any]) -> str:
    if _missing(value) or value == "no_answer":
        return "no NPS answer"
    score = row.get("nps_latest")
    return f"{value} NPS ({_n(float(score))})" if not _missing(score) else f"{value} NPS"


def _hours(label: str, missing: str) -> Callable[[Any], str]:
    def phrase(value: Any) -> str:
        return missing if _missing(value) else f"{label} {_n(float(value))} h"

    return phrase


def _contract(value: Any) -> str:
    if _missing(value):
        return "contract type unknown"
    return "annual contract: no (monthly)" if str(value) == "monthly" else f"{value} contract"


def _tenure(value: Any) -> str:
    days = float(value)
    return f"new customer: {days:.0f} days" if days < 365 else f"tenure {days / 365.25:.1f} years"


def _count(template: str, missing: str = "no data", whole: bool = False) -> Callable[[Any], str]:
    """Template with {n} = the value (rounded to a whole number when ``whole``)."""

    def phrase(value: Any) -> str:
        if _missing(value):
            return missing
        number = float(value)
        return template.format(n=f"{number:,.0f}" if whole else _n(number))

    return phrase


PHRASES: dict[str, Callable[..., str]] = {
    "usage_trend_ratio": _trend("usage"),
    "transaction_trend_ratio": _trend("purchases"),
    "amount_trend_ratio": _trend("spend"),
    "events_recent": _count("low usage: {n} product events last month"),
    "events_previous": _count("low earlier usage: {n} product events"),
    "active_days_recent": _count("active on {n} days last month"),
    "event_types_recent": _count("uses {n} product features"),
    "days_since_last_event": _count("no product use for {n} days", whole=True),
    "nps_latest": _nps,
    "nps_class": _nps_class,
    "nps_trend": _count("NPS change {n} points", missing="no NPS trend"),
    "nps_responses": _count("{n} NPS answers"),
    "exit_survey_started": lambda v: (
        "exit survey started" if v is True or v == 1 else "no exit survey"
    ),
    "median_first_response_hours": _hours(
        "slow support: median first response", "no answered tickets"
    ),
    "median_resolution_hours": _hours("slow ticket resolution: median", "no resolved tickets"),
    "tickets_recent": _count("{n} support tickets in recent months"),
    "open_tickets": _count("{n} unresolved support tickets"),
    "last_csat": _count("last ticket CSAT {n}/5", missing="no ticket rating"),
    "mrr_current": _count("MRR {n}"),
    "mrr_change": lambda v: (
        f"MRR down {_n(-float(v))} vs earlier"
        if not _missing(v) and float(v) < 0
        else f"MRR change {_n(float(v))}"
        if not _missing(v)
        else "no MRR history"
    ),
    "plan_downgrades": _count("{n} plan downgrade(s)"),
    "plan_upgrades": _count("{n} plan upgrade(s)"),
    "current_plan": lambda v: f"{v} plan" if not _missing(v) else "no running plan",
    "plan": lambda v: f"{v} plan" if not _missing(v) else "plan unknown",
    "contract_type": _contract,
    "tenure_days": _tenure,
    "acquisition_channel": lambda v: f"acquired via {str(v).replace('_', ' ')}",
    "days_since_last_transaction": _count("no purchase for {n} days", whole=True),
    "mean_amount_lookback": _count("average invoice / purchase {n}", missing="no purchases"),
    "transactions_lookback": _count("{n} transactions in the purchase lookback"),
    "mrr_previous": _count("earlier MRR {n}"),
    "transactions_recent": _count("{n} purchases last month"),
}
"""Phrase templates keyed by feature: value (and, where declared, the whole row) -> words."""

ROW_AWARE = frozenset({"nps_class"})


def _generic(feature: str, value: Any) -> str:
    name = feature.replace("_", " ")
    if _missing(value):
        return f"{name}: missing"
    if isinstance(value, bool | np.bool_):
        return f"{name}: {'yes' if value else 'no'}"
    if isinstance(value, int | float | np.integer | np.floating):
        return f"{name}: {_n(float(value))}"
    return f"{name}: {str(value).replace('_', ' ')}"


def phrase(feature: str, value: Any, row: dict[str, Any] | None = None) -> str:
    """Readable reason for ``feature`` at ``value`` (generic fallback for unknown features).

    ``row`` (the customer's other feature values) is used by the templates in ``ROW_AWARE``.
    """
    template = PHRASES.get(feature)
    if template is None:
        return _generic(feature, value)
    try:
        if feature in ROW_AWARE:
            return template(value, row or {})
        return template(value)
    except (TypeError, ValueError):
        return _generic(feature, value)


def action_for(feature: str | None, actions: dict[str, Any]) -> str:
    """The retention action for a driver: by feature, else by its group, else the fallback."""
    by_driver = actions.get("by_driver", {})
    if feature is not None:
        if feature in by_driver:
            return by_driver[feature]
        group = DRIVER_GROUPS.get(feature)
        if group in by_driver:
            return by_driver[group]
    return actions["fallback"]


def _driver_positions(contributions: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the column positions of the ``k`` largest contributions (largest first) and
    whether each is positive (only positive contributions are drivers)."""
    contributions = np.asarray(contributions, dtype=float)
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(contributions, order, axis=1) > 0


def top_drivers(contributions: np.ndarray, features: list[str], k: int = 3) -> list[list[str]]:
    """Per row, up to ``k`` features with the largest positive contribution, largest first.

    ``contributions`` has one column per feature (the bias column already removed).
    """
    order, positive = _driver_positions(contributions, k)
    return [
        [features[c] for c, keep in zip(columns, keeps, strict=True) if keep]
        for columns, keeps in zip(order, positive, strict=True)
    ]


def _phrases(
    feature: str, frame: pd.DataFrame, rows: np.ndarray, features: list[str]
) -> np.ndarray:
    """``phrase(feature, value)`` for the given row positions, computed once per distinct value
    (row by row for the templates that read the whole row)."""
    if feature in ROW_AWARE:
        records = frame.iloc[rows][features].to_dict("records")
        return np.array([phrase(feature, row[feature], row) for row in records], dtype=object)
    codes, values = pd.factorize(frame[feature].iloc[rows], use_na_sentinel=False)
    return np.array([phrase(feature, value) for value in values], dtype=object)[codes]


def explain(
    frame: pd.DataFrame,
    contributions: np.ndarray,
    features: list[str],
    actions: dict[str, Any],
    k: int = 3,
) -> pd.DataFrame:
    """Columns reason_1..reason_k (phrases), top_driver (feature) and recommended_action.

    Each row gets ``phrase(driver, its value, its row)`` for each of its drivers
    (``top_drivers``); phrases are built per driver and distinct value, not per row.
    """
    order, positive = _driver_positions(contributions, k)
    names = np.array(features, dtype=object)
    explained = {}
    for rank in range(order.shape[1]):
        reasons = np.full(len(frame), None, dtype=object)
        for position in np.unique(order[positive[:, rank], rank]):
            rows = np.flatnonzero(positive[:, rank] & (order[:, rank] == position))
            reasons[rows] = _phrases(features[position], frame, rows, features)
        explained[f"reason_{rank + 1}"] = reasons
    for rank in range(order.shape[1], k):  # fewer features than reasons asked for
        explained[f"reason_{rank + 1}"] = np.full(len(frame), None, dtype=object)
    top = pd.Series(np.where(positive[:, 0], names[order[:, 0]], None), dtype=object)
    explained["top_driver"] = top.to_numpy()
    explained["recommended_action"] = (
        top.map({feature: action_for(feature, actions) for feature in features})
        .fillna(action_for(None, actions))
        .to_numpy()
    )
    return pd.DataFrame(explained, index=frame.index)
