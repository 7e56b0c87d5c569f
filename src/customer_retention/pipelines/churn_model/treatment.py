"""Step 0: labels that a retention action changed are not the untreated world's labels.

A customer treated by a campaign (arm ``treatment`` in the interventions table) churns, from the
treatment date on, at the treated hazard. The churn model predicts churn *if nothing is done*
(that is what targeting needs), so a snapshot row of a treated customer whose label window
(t, t + horizon] reaches past the treatment date -- every row with t + horizon > treated_at --
has its label set to unknown: it is neither trained, calibrated nor tested on. Control-arm
customers were not touched and keep their labels: they are the untreated world. The rows stay
in the table (features, scoring); only the label is masked.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from .common import LABEL

logger = logging.getLogger(__name__)


def mask_treated_labels(
    customer_snapshots: pd.DataFrame, interventions: pd.DataFrame | None, horizon_days: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(snapshots with the labels of treated customers' post-treatment windows set to NaN,
    a summary: rows masked, customers, campaigns)."""
    treated = (
        interventions[interventions["arm"] == "treatment"]
        if interventions is not None and len(interventions)
        else None
    )
    if treated is None or treated.empty:
        return customer_snapshots, {"rows_masked": 0, "treated_customers": 0}
    first = (
        treated.assign(customer_id=treated["customer_id"].astype(str))
        .groupby("customer_id")["treated_at"]
        .min()
    )
    treated_at = (
        customer_snapshots["customer_id"].astype(str).map(first).to_numpy(dtype="datetime64[ns]")
    )
    window_end = pd.to_datetime(customer_snapshots["snapshot_date"]).to_numpy(
        dtype="datetime64[ns]"
    ) + np.timedelta64(int(horizon_days), "D")
    altered = ~np.isnat(treated_at) & (window_end > treated_at)
    masked = altered & customer_snapshots[LABEL].notna().to_numpy()
    out = customer_snapshots.copy(deep=False)
    out[LABEL] = customer_snapshots[LABEL].where(~masked)
    summary = {
        "rows_masked": int(masked.sum()),
        "treated_customers": int(first.size),
        "campaigns": sorted(str(c) for c in treated["campaign"].unique()),
        "rule": "labels of treatment-arm customers whose label window reaches past their "
        "first treatment date are unknown to the churn model (control customers keep theirs)",
    }
    logger.info(
        "Churn model: %s labelled rows of %s treated customers masked (their outcome after "
        "treatment is not the untreated world's)",
        f"{summary['rows_masked']:,}",
        f"{summary['treated_customers']:,}",
    )
    return out, summary
