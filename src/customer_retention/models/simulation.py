"""The demo business's planted truth as functions: the hazard multiplier of a customer's traits
and the oracle churn probability. Beside the simulators so that stages (the churn model's oracle
scorer, tests) use the truth without importing the demo-data pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def hazard_multiplier(
    traits: pd.DataFrame, hazard_ratios: dict[str, dict[str, float]]
) -> np.ndarray:
    """m(x) = product of the planted hazard ratios of each customer's levels (1 for reference)."""
    multiplier = np.ones(len(traits))
    for column, ratios in hazard_ratios.items():
        multiplier *= traits[column].map(ratios).fillna(1.0).to_numpy(dtype=float)
    return multiplier


def true_churn_probability(
    ground_truth: dict[str, Any],
    customer_id: np.ndarray,
    tenure_days: np.ndarray,
    horizon_days: int,
) -> np.ndarray:
    """Oracle P(churn in (a, a + h] | alive at tenure a) = 1 - S(a + h) / S(a) under the truth.

    With S(t | x) = exp(-m (t/s)^k) this is 1 - exp(-m ((a + h)^k - a^k) / s^k).
    """
    baseline = ground_truth["baseline_hazard"]
    shape, scale = baseline["weibull_shape"], baseline["weibull_scale_days"]
    truth = ground_truth["customers"]
    multiplier_by_id = pd.Series(truth["true_hazard_multiplier"], index=truth["customer_id"])
    multiplier = multiplier_by_id.reindex(np.asarray(customer_id)).to_numpy(dtype=float)
    tenure = np.asarray(tenure_days, dtype=float)
    cumulative = ((tenure + horizon_days) ** shape - tenure**shape) / scale**shape
    return 1.0 - np.exp(-multiplier * cumulative)
