"""Segments several stages share: NPS class, support-speed band and the landmark snapshot's
customers with the segments known at that date."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def nps_class(score: pd.Series) -> pd.Series:
    """promoter (9-10), passive (7-8), detractor (0-6), or no_answer."""
    classes = ["promoter", "passive", "detractor", "no_answer"]
    codes = np.select([score >= 9, score >= 7, score >= 0], [0, 1, 2], classes.index("no_answer"))
    return pd.Series(pd.Categorical.from_codes(codes, categories=classes), index=score.index)


def support_speed_band(first_response_hours: pd.Series, edges: list[float]) -> pd.Series:
    """Band of median first-response hours: "under 4 h", "4-24 h", ..., "over 72 h", "no tickets"."""
    labels = [f"under {edges[0]} h"]
    labels += [f"{lo}-{hi} h" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    labels += [f"over {edges[-1]} h"]
    band = pd.cut(first_response_hours, [0, *edges, np.inf], labels=labels, right=False)
    return band.cat.add_categories("no tickets").fillna("no tickets")


def landmark_segments(customer_snapshots: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Customers at the landmark snapshot with segments known at that date (no immortal time)."""
    dates = customer_snapshots["snapshot_date"]
    labelled = customer_snapshots["churned_within_horizon"].notna()
    landmark = customer_snapshots[labelled & (dates == dates[labelled].min())].copy()
    if "median_first_response_hours" in landmark:
        landmark["support_speed_band"] = support_speed_band(
            landmark["median_first_response_hours"], params["support_band_hours"]
        )
    return landmark
