"""The demo business as a one-snapshot export: a customer table with a churn flag.

Many real churn data sets are one snapshot of the customer base: each customer's attributes
and tenure at the snapshot date S and a flag saying whether they left soon after. This variant
turns the simulated business into that shape, already converted to the data contract the way
the README tells users to convert their own (customers + one subscription each, churners'
subscriptions ending ``churn_after_days`` after S), and adds what real exports carry and the
full demo does not: numeric attributes with blanks (monthly charges, seats) and a
high-cardinality attribute (postcode). Events, tickets, feedback and purchases are absent.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


def to_single_snapshot(
    customers: pd.DataFrame,
    attributes: list[str],
    monthly_charges: np.ndarray,
    settings: dict[str, Any],
    start: pd.Timestamp,
    rng: np.random.Generator,
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The customers active at the snapshot date with a churn flag, as customers +
    subscriptions tables, and what the truth file records about the snapshot.

    Args:
        customers: the simulated customers (``signup_day``, ``churn_day``, ``churned``,
            ``seats`` and the attributes), days counted from ``start``.
        attributes: the static attribute columns written to the customers table.
        monthly_charges: each customer's MRR at the snapshot date.
        settings: ``demo_data.single_snapshot``: ``snapshot_date``, ``churn_within_days``,
            ``churn_after_days``, ``blank_share``, ``postcode_levels``.
    """
    snapshot = pd.Timestamp(settings["snapshot_date"])
    day = (snapshot - start).days
    active = (customers["signup_day"] < day) & (
        ~customers["churned"] | (customers["churn_day"] > day)
    )
    base = customers[active.to_numpy()].reset_index(drop=True)
    charges = np.asarray(monthly_charges)[active.to_numpy()]
    churned = base["churned"] & (base["churn_day"] <= day + int(settings["churn_within_days"]))
    signup = start + pd.to_timedelta(base["signup_day"], unit="D")
    n = len(base)
    blank = rng.random(n) < float(settings["blank_share"])
    postcode = rng.integers(0, int(settings["postcode_levels"]), n)
    table = pd.DataFrame(
        {
            "customer_id": base["customer_id"].astype(str),
            "signup_date": signup.dt.strftime("%Y-%m-%d"),
            **{column: base[column].to_numpy() for column in attributes},
            "monthly_charges": np.where(blank, "", np.round(charges, 2).astype(str)),
            "seats": base["seats"].to_numpy(),
            "postcode": [f"PC-{code:05d}" for code in postcode],
        }
    )
    end = np.where(
        churned,
        (snapshot + pd.Timedelta(days=int(settings["churn_after_days"]))).strftime("%Y-%m-%d"),
        "",
    )
    subscriptions = pd.DataFrame(
        {
            "customer_id": table["customer_id"],
            "start_date": table["signup_date"],
            "end_date": end,
            "plan": base["plan"].to_numpy(),
            "mrr": np.round(charges, 2),
        }
    )
    logger.info(
        "Demo data as one snapshot at %s: %s customers, %s churned within %s days",
        snapshot.date(),
        f"{n:,}",
        f"{int(churned.sum()):,}",
        settings["churn_within_days"],
    )
    truth = {
        "snapshot_date": str(snapshot.date()),
        "customers": n,
        "churned": int(churned.sum()),
        "churn_rate": float(churned.mean()) if n else None,
        "blank_monthly_charges": int(blank.sum()),
    }
    tables = {
        "customers": table,
        "subscriptions": subscriptions,
        # Absent tables: written as nothing (RawTableDataset skips a frame without columns).
        "transactions": pd.DataFrame(),
        "events": pd.DataFrame(),
        "support_tickets": pd.DataFrame(),
        "feedback": pd.DataFrame(),
        "interventions": pd.DataFrame(),
    }
    return tables, truth
