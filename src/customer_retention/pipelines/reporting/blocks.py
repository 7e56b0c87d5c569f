"""What every report section shares: chart blocks, absent inputs, the as-of date."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from customer_retention.core.chart_data import LABEL  # noqa: F401 (the sections import it from here)
from customer_retention.core.formatting import fmt_date, is_missing

MODEL = "xgboost_calibrated"
DEPLOYED_SCORERS = {"xgboost": "xgboost_calibrated", "logistic": "logistic_baseline"}
CANDIDATE_NAMES = {"xgboost": "XGBoost", "logistic": "logistic regression"}


def deployed_scorer(model_card: dict[str, Any] | None) -> str:
    """The test-snapshot scorer of the model the backtest chose (XGBoost when unknown)."""
    kind = (model_card or {}).get("model_kind", "xgboost")
    return DEPLOYED_SCORERS.get(kind, MODEL)


def _chart(
    key: str, title: str, takeaway: str | None, absent: str | None = None, note: str = ""
) -> dict[str, Any]:
    """A chart block of the template; ``absent`` replaces the chart when there is no data."""
    return {"key": key, "title": title, "takeaway": takeaway, "absent": absent, "note": note}


def _frame(data: pd.DataFrame | None) -> pd.DataFrame:
    return data if isinstance(data, pd.DataFrame) else pd.DataFrame()


def _as_of_health(customer_health: pd.DataFrame) -> pd.DataFrame:
    """Health rows of the newest snapshot (the customers active at the as-of date)."""
    if customer_health is None or customer_health.empty:
        return pd.DataFrame(columns=["customer_id", "snapshot_date", "health_score"])
    dates = pd.to_datetime(customer_health["snapshot_date"])
    return customer_health[dates == dates.max()]


def as_of_date(customer_health: pd.DataFrame) -> pd.Timestamp | None:
    """The as-of date: the newest snapshot date."""
    rows = _as_of_health(customer_health)
    return pd.Timestamp(rows["snapshot_date"].iat[0]) if len(rows) else None


def _scoring_is_current(at_risk: pd.DataFrame | None, as_of: pd.Timestamp | None) -> str | None:
    """None when the at-risk list scores the current as-of date, else why it cannot be used."""
    if at_risk is None or at_risk.empty:
        return (
            "No scoring outputs yet: the churn model has not scored the active customers "
            "(run 'kedro run --pipeline score', or the default pipeline)."
        )
    scored = pd.Timestamp(str(at_risk["as_of_date"].iat[0]))
    if as_of is not None and scored != as_of:
        return (
            f"The at-risk list scores the customers of {fmt_date(scored)}, older than the data "
            f"(as of {fmt_date(as_of)}): run 'kedro run --pipeline score' to refresh it."
        )
    return None


def high_risk(at_risk: pd.DataFrame, multiple: float) -> tuple[int, float]:
    """Customers whose churn probability is at least ``multiple`` x the average, and the cut-off."""
    threshold = float(at_risk["churn_probability"].mean()) * multiple
    return int((at_risk["churn_probability"] >= threshold).sum()), threshold


Block = tuple[dict[str, Any], Figure | None]


def _collect(*blocks: Block) -> tuple[list[dict[str, Any]], dict[str, Figure]]:
    """Chart blocks for the template and the figures drawn, keyed like the blocks."""
    return [b for b, _ in blocks], {b["key"]: f for b, f in blocks if f is not None}


def _timestamp_text(value: Any) -> str:
    """ISO timestamp -> '2026-01-31 14:05 UTC'."""
    if is_missing(value):
        return "n/a"
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_convert("UTC") if stamp.tzinfo else stamp
    return stamp.strftime("%Y-%m-%d %H:%M UTC")
