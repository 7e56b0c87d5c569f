"""The feature registry: every column of ``customer_snapshots`` (and ``latest_theme``, which the
churn model stage joins from the feedback themes stage), one record each: name, meaning,
source table, what 'no record' means, and how the report and the churn reasons present it
(label, driver group, phrase). Adding a feature means adding one record here.

Windows are parameters (``feature_engineering.windows``): *recent* = the last ``recent_days``
before the snapshot t (default 30), *previous* = the ``previous_days`` before that (default 90).
Every feature uses data strictly before t.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import phrases


@dataclass(frozen=True)
class Feature:
    meaning: str
    source: str
    when_no_record: str = "missing"  # "zero", "lookback" (the window length) or "missing"
    lookback_window: str | None = None
    is_model_input: bool = True
    label: str | None = None  # short name in charts and tables (default: the name, spaced)
    driver_group: str | None = None  # selects the retention action (scoring.actions)
    phrase: Callable[..., str] | None = None  # value (and row, see reads_row) -> a reason in words
    reads_row: bool = False  # the phrase also reads the customer's other features
    in_customer_snapshots: bool = True  # False: joined later by the stage that uses it


FEATURES: dict[str, Feature] = {
    # Identity, label and survival bookkeeping (not model inputs).
    "customer_id": Feature("Customer identifier", "customers", is_model_input=False),
    "snapshot_date": Feature(
        "Snapshot date t; features use data strictly before t", "-", is_model_input=False
    ),
    "churned_within_horizon": Feature(
        "Label: churn in (t, t + horizon_days]; NaN when the horizon is not over at the as-of date",
        "subscriptions or transactions",
        is_model_input=False,
    ),
    "churn_observed": Feature(
        "The customer's episode ended before the as-of date", "timeline", is_model_input=False
    ),
    "days_observed": Feature(
        "Days from t to churn, or to the as-of date if still active (censored)",
        "timeline",
        is_model_input=False,
    ),
    "is_as_of_snapshot": Feature(
        "Row belongs to the newest snapshot (scored, no label)", "-", is_model_input=False
    ),
    # Tenure and static attributes.
    "tenure_days": Feature(
        "Days from signup to t",
        "customers",
        label="tenure",
        driver_group="profile",
        phrase=phrases.tenure,
    ),
    # Usage.
    "events_recent": Feature(
        "Product events in the recent window",
        "events",
        "zero",
        label="product events, last 30 days",
        driver_group="usage",
        phrase=phrases.count("low usage: {n} product events last month"),
    ),
    "events_previous": Feature(
        "Product events in the previous window",
        "events",
        "zero",
        label="product events, earlier window",
        driver_group="usage",
        phrase=phrases.count("low earlier usage: {n} product events"),
    ),
    "active_days_recent": Feature(
        "Distinct days with any event in the recent window",
        "events",
        "zero",
        label="active days, last 30 days",
        driver_group="usage",
        phrase=phrases.count("active on {n} days last month"),
    ),
    "event_types_recent": Feature(
        "Distinct event types used in the previous_days before t (breadth)",
        "events",
        "zero",
        label="features used (breadth)",
        driver_group="usage",
        phrase=phrases.count("uses {n} product features"),
    ),
    "days_since_last_event": Feature(
        "Days since the last event (capped at usage_lookback_days)",
        "events",
        "lookback",
        "usage_lookback_days",
        label="days since last product use",
        driver_group="usage",
        phrase=phrases.count("no product use for {n} days", whole=True),
    ),
    "usage_trend_ratio": Feature(
        "(events recent + 1) / (events previous scaled to the recent window length + 1); < 1 = decline",
        "events",
        label="usage trend",
        driver_group="usage",
        phrase=phrases.trend("usage"),
    ),
    # Purchases (recency, frequency, monetary value).
    "transactions_recent": Feature(
        "Transactions in the recent window",
        "transactions",
        "zero",
        label="purchases, last 30 days",
        driver_group="purchases",
        phrase=phrases.count("{n} purchases last month"),
    ),
    "transactions_previous": Feature(
        "Transactions in the previous window",
        "transactions",
        "zero",
        label="purchases, earlier window",
        driver_group="purchases",
    ),
    "amount_recent": Feature(
        "Amount spent in the recent window",
        "transactions",
        "zero",
        label="spend, last 30 days",
        driver_group="purchases",
    ),
    "amount_previous": Feature(
        "Amount spent in the previous window",
        "transactions",
        "zero",
        label="spend, earlier window",
        driver_group="purchases",
    ),
    "transactions_lookback": Feature(
        "Transactions in the last purchase_lookback_days (frequency)",
        "transactions",
        "zero",
        label="purchase frequency",
        driver_group="purchases",
        phrase=phrases.count("{n} transactions in the purchase lookback"),
    ),
    "mean_amount_lookback": Feature(
        "Mean transaction amount over purchase_lookback_days (monetary)",
        "transactions",
        label="average purchase amount",
        driver_group="purchases",
        phrase=phrases.count("average invoice / purchase {n}", when_missing="no purchases"),
    ),
    "days_since_last_transaction": Feature(
        "Days since the last transaction (recency, capped at purchase_lookback_days)",
        "transactions",
        "lookback",
        "purchase_lookback_days",
        label="days since last purchase",
        driver_group="purchases",
        phrase=phrases.count("no purchase for {n} days", whole=True),
    ),
    "transaction_trend_ratio": Feature(
        "Smoothed recent / previous transaction-count ratio",
        "transactions",
        label="purchase trend",
        driver_group="purchases",
        phrase=phrases.trend("purchases"),
    ),
    "amount_trend_ratio": Feature(
        "Smoothed recent / previous amount ratio",
        "transactions",
        label="spend trend",
        driver_group="purchases",
        phrase=phrases.trend("spend"),
    ),
    # Subscriptions.
    "mrr_current": Feature(
        "MRR of the subscriptions running at t",
        "subscriptions",
        "zero",
        label="current MRR",
        driver_group="pricing",
        phrase=phrases.count("MRR {n}"),
    ),
    "mrr_previous": Feature(
        "MRR running previous_days before t",
        "subscriptions",
        "zero",
        label="earlier MRR",
        driver_group="pricing",
        phrase=phrases.count("earlier MRR {n}"),
    ),
    "mrr_change": Feature(
        "mrr_current - mrr_previous when mrr_previous > 0, else 0 (expansion > 0, contraction < 0)",
        "subscriptions",
        "zero",
        label="MRR change",
        driver_group="pricing",
        phrase=phrases.mrr_change,
    ),
    "current_plan": Feature(
        "Plan of the latest subscription running at t",
        "subscriptions",
        label="current plan",
        driver_group="pricing",
        phrase=phrases.running_plan,
    ),
    "plan_upgrades": Feature(
        "Subscription changes that raised MRR, before t",
        "subscriptions",
        "zero",
        label="plan upgrades",
        driver_group="pricing",
        phrase=phrases.count("{n} plan upgrade(s)"),
    ),
    "plan_downgrades": Feature(
        "Subscription changes that lowered MRR, before t",
        "subscriptions",
        "zero",
        label="plan downgrades",
        driver_group="pricing",
        phrase=phrases.count("{n} plan downgrade(s)"),
    ),
    # Support.
    "tickets_recent": Feature(
        "Tickets opened in the recent + previous windows",
        "support_tickets",
        "zero",
        label="support tickets",
        driver_group="support",
        phrase=phrases.count("{n} support tickets in recent months"),
    ),
    "open_tickets": Feature(
        "Tickets opened in support_lookback_days and not resolved before t",
        "support_tickets",
        "zero",
        label="open support tickets",
        driver_group="support",
        phrase=phrases.count("{n} unresolved support tickets"),
    ),
    "median_first_response_hours": Feature(
        "Median hours to first response, tickets of the last support_lookback_days answered before t",
        "support_tickets",
        label="support first-response time",
        driver_group="support",
        phrase=phrases.hours("slow support: median first response", "no answered tickets"),
    ),
    "median_resolution_hours": Feature(
        "Median hours to resolution, tickets of the last support_lookback_days resolved before t",
        "support_tickets",
        label="support resolution time",
        driver_group="support",
        phrase=phrases.hours("slow ticket resolution: median", "no resolved tickets"),
    ),
    "last_csat": Feature(
        "CSAT of the most recently resolved rated ticket",
        "support_tickets",
        label="last CSAT",
        driver_group="support",
        phrase=phrases.count("last ticket CSAT {n}/5", when_missing="no ticket rating"),
    ),
    # Feedback.
    "nps_latest": Feature(
        "Latest NPS score (0-10) before t",
        "feedback",
        label="latest NPS answer",
        driver_group="nps",
        phrase=phrases.nps,
    ),
    "nps_class": Feature(
        "Class of the latest NPS: promoter 9-10, passive 7-8, detractor 0-6, no_answer",
        "feedback",
        label="NPS class",
        driver_group="nps",
        phrase=phrases.nps_class,
        reads_row=True,
    ),
    "nps_trend": Feature(
        "Latest NPS minus the one before it",
        "feedback",
        label="NPS trend",
        driver_group="nps",
        phrase=phrases.count("NPS change {n} points", when_missing="no NPS trend"),
    ),
    "nps_responses": Feature(
        "NPS answers before t",
        "feedback",
        "zero",
        label="NPS answers",
        driver_group="nps",
        phrase=phrases.count("{n} NPS answers"),
    ),
    "exit_survey_started": Feature(
        "An exit survey was started in the recent + previous windows",
        "feedback",
        label="exit survey started",
        driver_group="exit_survey",
        phrase=phrases.exit_survey,
    ),
    # Comment themes (the feedback_themes stage; joined by the churn model stage, recomputed
    # with the promoted model's own themes when scoring and monitoring).
    "latest_theme": Feature(
        "Theme of the latest comment dated before t (themes fitted on the comments before the "
        "first snapshot; feedback_themes)",
        "feedback (comments)",
        label="latest comment theme",
        driver_group="nps",
        phrase=phrases.comment_theme,
        in_customer_snapshots=False,
    ),
}
STATIC_ATTRIBUTE_MEANING = "Static customer attribute from the customers table"

KNOWN_ATTRIBUTES: dict[str, Feature] = {
    # Customer attributes often found in customers tables (and in the demo data): how the report
    # and the churn reasons present them when present. They are not computed features.
    "plan": Feature(
        STATIC_ATTRIBUTE_MEANING, "customers", driver_group="pricing", phrase=phrases.plan
    ),
    "contract_type": Feature(
        STATIC_ATTRIBUTE_MEANING,
        "customers",
        label="contract type",
        driver_group="contract",
        phrase=phrases.contract,
    ),
    "acquisition_channel": Feature(
        STATIC_ATTRIBUTE_MEANING,
        "customers",
        label="acquisition channel",
        driver_group="profile",
        phrase=phrases.acquired_via,
    ),
    "region": Feature(STATIC_ATTRIBUTE_MEANING, "customers", driver_group="profile"),
}
_PRESENTED = FEATURES | KNOWN_ATTRIBUTES

FEATURE_LABELS: dict[str, str] = {n: f.label for n, f in _PRESENTED.items() if f.label}
"""Short chart names; other features are shown with underscores as spaces."""
DRIVER_GROUPS: dict[str, str] = {n: f.driver_group for n, f in _PRESENTED.items() if f.driver_group}
"""Feature -> driver group (usage, nps, exit_survey, support, pricing, contract, purchases, profile)."""
PHRASES: dict[str, Callable[..., str]] = {n: f.phrase for n, f in _PRESENTED.items() if f.phrase}
"""Phrase templates keyed by feature: value (and, where declared, the whole row) -> words."""
ROW_AWARE = frozenset(n for n, f in _PRESENTED.items() if f.reads_row)
