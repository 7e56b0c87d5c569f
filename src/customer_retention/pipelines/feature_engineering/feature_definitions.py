"""Every column of ``customer_snapshots``, in one place: name, meaning, source table.

Windows are parameters (``feature_engineering.windows``): *recent* = the last ``recent_days``
before the snapshot t (default 30), *previous* = the ``previous_days`` before that (default 90).
Every feature uses data strictly before t.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Feature:
    meaning: str
    source: str
    when_no_record: str = "missing"  # "zero", "lookback" (the window length) or "missing"
    lookback_window: str | None = None
    is_model_input: bool = True


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
    "tenure_days": Feature("Days from signup to t", "customers"),
    # Usage.
    "events_recent": Feature("Product events in the recent window", "events", "zero"),
    "events_previous": Feature("Product events in the previous window", "events", "zero"),
    "active_days_recent": Feature(
        "Distinct days with any event in the recent window", "events", "zero"
    ),
    "event_types_recent": Feature(
        "Distinct event types used in the previous_days before t (breadth)", "events", "zero"
    ),
    "days_since_last_event": Feature(
        "Days since the last event (capped at usage_lookback_days)",
        "events",
        "lookback",
        "usage_lookback_days",
    ),
    "usage_trend_ratio": Feature(
        "(events recent + 1) / (events previous scaled to the recent window length + 1); < 1 = decline",
        "events",
    ),
    # Purchases (recency, frequency, monetary value).
    "transactions_recent": Feature("Transactions in the recent window", "transactions", "zero"),
    "transactions_previous": Feature("Transactions in the previous window", "transactions", "zero"),
    "amount_recent": Feature("Amount spent in the recent window", "transactions", "zero"),
    "amount_previous": Feature("Amount spent in the previous window", "transactions", "zero"),
    "transactions_lookback": Feature(
        "Transactions in the last purchase_lookback_days (frequency)", "transactions", "zero"
    ),
    "mean_amount_lookback": Feature(
        "Mean transaction amount over purchase_lookback_days (monetary)", "transactions"
    ),
    "days_since_last_transaction": Feature(
        "Days since the last transaction (recency, capped at purchase_lookback_days)",
        "transactions",
        "lookback",
        "purchase_lookback_days",
    ),
    "transaction_trend_ratio": Feature(
        "Smoothed recent / previous transaction-count ratio", "transactions"
    ),
    "amount_trend_ratio": Feature("Smoothed recent / previous amount ratio", "transactions"),
    # Subscriptions.
    "mrr_current": Feature("MRR of the subscriptions running at t", "subscriptions", "zero"),
    "mrr_previous": Feature("MRR running previous_days before t", "subscriptions", "zero"),
    "mrr_change": Feature(
        "mrr_current - mrr_previous when mrr_previous > 0, else 0 (expansion > 0, contraction < 0)",
        "subscriptions",
        "zero",
    ),
    "current_plan": Feature("Plan of the latest subscription running at t", "subscriptions"),
    "plan_upgrades": Feature(
        "Subscription changes that raised MRR, before t", "subscriptions", "zero"
    ),
    "plan_downgrades": Feature(
        "Subscription changes that lowered MRR, before t", "subscriptions", "zero"
    ),
    # Support.
    "tickets_recent": Feature(
        "Tickets opened in the recent + previous windows", "support_tickets", "zero"
    ),
    "open_tickets": Feature(
        "Tickets opened in support_lookback_days and not resolved before t",
        "support_tickets",
        "zero",
    ),
    "median_first_response_hours": Feature(
        "Median hours to first response, tickets of the last support_lookback_days answered before t",
        "support_tickets",
    ),
    "median_resolution_hours": Feature(
        "Median hours to resolution, tickets of the last support_lookback_days resolved before t",
        "support_tickets",
    ),
    "last_csat": Feature("CSAT of the most recently resolved rated ticket", "support_tickets"),
    # Feedback.
    "nps_latest": Feature("Latest NPS score (0-10) before t", "feedback"),
    "nps_class": Feature(
        "Class of the latest NPS: promoter 9-10, passive 7-8, detractor 0-6, no_answer", "feedback"
    ),
    "nps_trend": Feature("Latest NPS minus the one before it", "feedback"),
    "nps_responses": Feature("NPS answers before t", "feedback", "zero"),
    "exit_survey_started": Feature(
        "An exit survey was started in the recent + previous windows", "feedback"
    ),
}
STATIC_ATTRIBUTE_MEANING = "Static customer attribute from the customers table (categorical)"
