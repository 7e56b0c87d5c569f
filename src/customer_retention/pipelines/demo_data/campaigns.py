"""Randomised retention campaigns planted in the demo history, with heterogeneous effects.

Each campaign (``demo_data.campaigns``) enrols a random ``enrolled_share`` of the customers
active on its date (and in no earlier campaign) and assigns each to ``treatment`` with
probability ``treatment_share``, else ``control``. Treatment multiplies the customer's hazard
from the treatment date on by r(x) = product of the campaign's ``hazard_ratios`` of the
customer's levels (1 for levels not listed): below 1 the action keeps the customer
(persuadable), 1 it changes nothing, above 1 contact backfires (a small group: "sleeping dogs").

With the Weibull hazard of the generator, H(t) = m (t / s)^k on tenure t, a customer drew
E ~ Exp(1) and churns when H reaches E. Treated at tenure tau and still active, the customer now
churns when H(tau) + r (H(t) - H(tau)) = E, i.e. at t = s ((H(tau) + (E - H(tau)) / r) / m)^(1/k).
Controls keep their draw, so the control arm is exactly the untreated world. The truth records,
per enrolled customer, r and the effect on churn within the horizon after the treatment date,
P1 - P0 = exp(-(H(tau + h) - H(tau))) - exp(-r (H(tau + h) - H(tau))) (negative: fewer churn),
and per campaign its average over the enrolled customers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from customer_retention.models.simulation import hazard_multiplier

CAMPAIGN_SEED_OFFSET = 20  # campaigns draw from their own stream: other tables stay the same


def churn_columns(
    customers: pd.DataFrame, lifetime: np.ndarray, window_days: int
) -> dict[str, np.ndarray]:
    """churn_day, churned, active_until_day and active_days from continuous lifetimes (days)."""
    churn_day = customers["signup_day"].to_numpy() + np.maximum(1, np.ceil(lifetime)).astype(
        np.int64
    )
    churned = churn_day <= window_days - 1
    # First day on which the customer is no longer active (window_days = still active at the end).
    active_until = np.where(churned, churn_day, window_days)
    return {
        "lifetime_days": np.asarray(lifetime, dtype=float),
        "churn_day": churn_day,
        "churned": churned,
        "active_until_day": active_until,
        "active_days": active_until - customers["signup_day"].to_numpy(),
    }


def plant_campaigns(
    customers: pd.DataFrame, params: dict[str, Any], start: pd.Timestamp, window_days: int
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(customers with the treated customers' new churn days, the interventions table, truth)."""
    specs = params.get("campaigns") or []
    columns = ["customer_id", "campaign", "treated_at", "arm", "action", "cost"]
    if not specs:
        return customers, pd.DataFrame(columns=columns), {}
    rng = np.random.default_rng([int(params["seed"]), CAMPAIGN_SEED_OFFSET])
    shape = float(params["baseline_hazard"]["weibull_shape"])
    scale = float(params["baseline_hazard"]["weibull_scale_days"])
    horizon = float(params.get("campaign_horizon_days", 90))
    customers = customers.copy()
    multiplier = customers["true_hazard_multiplier"].to_numpy(dtype=float)

    def cumulative(t: np.ndarray, m: np.ndarray) -> np.ndarray:
        return m * (np.asarray(t, dtype=float) / scale) ** shape

    taken = np.zeros(len(customers), dtype=bool)
    tables, truth = [], {}
    for spec in specs:
        day = (pd.Timestamp(spec["date"]) - start).days
        active = (
            (customers["signup_day"].to_numpy() < day)
            & (customers["active_until_day"].to_numpy() > day)
            & ~taken
        )
        candidates = np.flatnonzero(active)
        enrolled = np.sort(
            rng.choice(
                candidates, size=int(round(spec["enrolled_share"] * len(candidates))), replace=False
            )
        )
        treated = rng.random(len(enrolled)) < float(spec["treatment_share"])
        ratio = hazard_multiplier(customers.iloc[enrolled], spec["hazard_ratios"])
        m = multiplier[enrolled]
        tau = (day - customers["signup_day"].to_numpy()[enrolled]).astype(float)
        at_treatment = cumulative(tau, m)
        ahead = cumulative(tau + horizon, m) - at_treatment
        effect = np.exp(-ahead) - np.exp(-ratio * ahead)  # P(churn | treated) - P(churn | control)
        lifetime = customers["lifetime_days"].to_numpy(dtype=float).copy()
        who = enrolled[treated]
        drawn = cumulative(lifetime[who], m[treated])
        reached = at_treatment[treated] + (drawn - at_treatment[treated]) / ratio[treated]
        lifetime[who] = scale * (reached / m[treated]) ** (1 / shape)
        for column, values in churn_columns(customers, lifetime, window_days).items():
            customers[column] = values
        taken[enrolled] = True
        treated_at = start + pd.Timedelta(days=day)
        tables.append(
            pd.DataFrame(
                {
                    "customer_id": customers["customer_id"].to_numpy()[enrolled],
                    "campaign": spec["name"],
                    "treated_at": np.full(len(enrolled), np.datetime64(treated_at, "ms")),
                    "arm": np.where(treated, "treatment", "control"),
                    "action": spec["action"],
                    "cost": np.where(treated, float(spec["cost"]), 0.0),
                }
            )
        )
        truth[spec["name"]] = {
            "treated_at": str(treated_at.date()),
            "action": spec["action"],
            "enrolled": len(enrolled),
            "treated": int(treated.sum()),
            "treatment_share": float(spec["treatment_share"]),
            "hazard_ratios": spec["hazard_ratios"],
            "horizon_days": horizon,
            "average_effect": float(effect.mean()),
            "average_control_churn": float((1 - np.exp(-ahead)).mean()),
            "customers": {
                "customer_id": customers["customer_id"].to_numpy()[enrolled].tolist(),
                "true_hazard_ratio": np.round(ratio, 6).tolist(),
                "true_effect": np.round(effect, 6).tolist(),
            },
        }
    interventions = pd.concat(tables, ignore_index=True)[columns]
    return (
        customers,
        interventions,
        {
            "description": (
                "Randomised campaigns: treatment multiplies the hazard from treated_at on by the "
                "customer's true_hazard_ratio; true_effect = P(churn within horizon_days after "
                "treated_at | treated) - P(... | control) (negative = the action keeps the "
                "customer); average_effect is its mean over the enrolled customers."
            ),
            "campaigns": truth,
        },
    )
