"""The survival table and Kaplan-Meier curves by segment with log-rank tests."""

from __future__ import annotations

import logging
from contextlib import nullcontext
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from customer_retention.core import attributes as attribute_kinds
from customer_retention.core import charts
from customer_retention.core.chart_data import kaplan_meier_panels
from customer_retention.core.segments import landmark_segments
from customer_retention.models.clv import DAYS_PER_MONTH
from customer_retention.models.kaplan_meier import KaplanMeierCurve, kaplan_meier, logrank_tests

from . import screening
from .design import (
    DURATION,
    EVENT,
    progress,
)

logger = logging.getLogger(__name__)


def build_survival_table(
    customers: pd.DataFrame,
    customer_timeline: pd.DataFrame,
    customer_attributes: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """One row per customer: days from signup to the end of the first activity episode (event)
    or to the as-of date (censored), with the static attributes a survival model can use
    (numeric, categorical with few levels; the attribute profile decides, minus
    ``exclude_attributes``). Without a profile every attribute is kept as it is."""
    as_of = customer_timeline["as_of_date"].iat[0]
    if customer_attributes is not None:
        exclude = (params or {}).get("exclude_attributes") or []
        keep = attribute_kinds.covariates(customer_attributes, exclude)
        left_out = [c for c in customers.columns if c not in ("customer_id", "signup_date", *keep)]
        if left_out:
            logger.info(
                "Survival models leave out attribute(s) %s (identifiers, free text, too many "
                "levels, constant, or survival_analysis.exclude_attributes)",
                left_out,
            )
        customers = customers[["customer_id", "signup_date", *keep]]
    first = customer_timeline[["customer_id", "episode_start", "episode_end"]]
    first = first.sort_values("episode_start").drop_duplicates("customer_id")
    # Inner join in the customers' order (a merge, without building the joined frame twice).
    row = pd.Index(first["customer_id"]).get_indexer(customers["customer_id"])
    table = customers[row >= 0].reset_index(drop=True)
    table["customer_id"] = table["customer_id"].astype(first["customer_id"].dtype)  # as merged
    table["episode_end"] = first["episode_end"].to_numpy()[row[row >= 0]]
    table[EVENT] = table["episode_end"].notna()
    end = table["episode_end"].fillna(as_of)
    table[DURATION] = (end - table["signup_date"]).dt.days.clip(lower=1).astype(int)
    logger.info(
        "Survival table: %s customers, %s churned, %s censored at %s",
        f"{len(table):,}",
        f"{table[EVENT].sum():,}",
        f"{(~table[EVENT]).sum():,}",
        as_of.date(),
    )
    return table.drop(columns=["episode_end"])


def _km_segment_summary(
    frame: pd.DataFrame, duration: str, event: str, params: dict[str, Any]
) -> dict:
    """Median survival ("not reached" = None) and survival at fixed months (None past follow-up)."""
    durations, events = frame[duration].to_numpy(), frame[event].to_numpy(dtype=bool)
    return _km_summary(kaplan_meier(durations, events), durations.max(), params)


def _km_summary(km: KaplanMeierCurve, follow_up: float, params: dict[str, Any]) -> dict:
    months = params["survival_at_months"]
    at = km.at([m * DAYS_PER_MONTH for m in months])
    median = km.median
    return {
        "customers": int(km.removed.sum()),
        "churned": int(km.observed.sum()),
        "median_survival_days": None if np.isinf(median) else float(median),
        **{
            f"survival_{m}m": float(s) if m * DAYS_PER_MONTH <= follow_up else None
            for m, s in zip(months, at, strict=True)
        },
    }


def _logrank(frame: pd.DataFrame, segment: str, duration: str, event: str) -> list[dict]:
    rows = logrank_tests(frame[duration], frame[event], frame[segment])
    return [{"segment": segment, **row} for row in rows]


def km_sources(
    survival_table: pd.DataFrame,
    customer_snapshots: pd.DataFrame,
    run_plan: dict[str, Any],
    params: dict[str, Any],
) -> dict[str, tuple[pd.DataFrame, str, str]]:
    """Segment -> (frame, duration column, event column) of every Kaplan-Meier comparison with
    two or more groups: the static segments of the run plan (time from signup) and the
    changing ones (time from the landmark snapshot). Automatically chosen static segments are
    capped (``screening.compared_segments``)."""
    static, _ = screening.compared_segments(survival_table, run_plan["segments"], params)
    sources = {segment: (survival_table, DURATION, EVENT) for segment in static}
    landmark = landmark_segments(customer_snapshots, params)
    for segment in params["landmark_km_segments"]:
        sources[segment] = (landmark, "days_observed", "churn_observed")
    return {s: v for s, v in sources.items() if s in v[0].columns and v[0][s].nunique() > 1}


MANY_PANELS = 24  # a Kaplan-Meier chart with more panels logs its progress
OVERALL = "all customers"  # the curves table's segment when no segment can be compared
LOGRANK_COLUMNS = ["segment", "comparison", "test_statistic", "p_value"]


def fit_kaplan_meier_by_segment(
    survival_table: pd.DataFrame,
    customer_snapshots: pd.DataFrame,
    run_plan: dict[str, Any],
    params: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """KM curves overall and per segment, median and survival at 3/6/12/24 months, log-rank tests.

    Static segments use the survival table (time from signup). Segments that change over time
    (NPS class, support speed) use the customers active at the first labelled snapshot, with
    time measured from that landmark date, so nobody is credited with survival before the
    segment was known.
    """
    present = km_sources(survival_table, customer_snapshots, run_plan, params)
    summary: dict[str, Any] = {
        "overall": _km_segment_summary(survival_table, DURATION, EVENT, params),
        "segments": {},
    }
    _, capped = screening.compared_segments(survival_table, run_plan["segments"], params)
    if capped:
        logger.info("Kaplan-Meier: %s", capped["why"])
        summary["segments_compared"] = capped
    if not present:
        logger.warning("Kaplan-Meier: no segment with two or more groups; overall curve only")
        summary["segments_note"] = "no segment with two or more groups: overall curve only"
    tests: list[dict] = []
    for segment, (frame, duration, event) in present.items():
        columns = [duration, event, *(["snapshot_date"] if "snapshot_date" in frame else [])]
        frame = frame[columns].assign(**{segment: frame[segment].astype(str)})
        days = frame[duration].to_numpy()
        groups = dict(sorted(frame.groupby(segment).indices.items()))
        events = frame[event].to_numpy(dtype=bool)
        curves = {level: kaplan_meier(days[rows], events[rows]) for level, rows in groups.items()}
        summary["segments"][segment] = {
            "time_origin": "signup"
            if duration == DURATION
            else f"{frame['snapshot_date'].min().date()}",
            "groups": {
                level: _km_summary(curves[level], days[rows].max(), params)
                for level, rows in groups.items()
            },
        }
        tests.extend(_logrank(frame, segment, duration, event))
    return summary, pd.DataFrame(tests, columns=LOGRANK_COLUMNS)


def plot_kaplan_meier(km_curves: pd.DataFrame, logrank_tests: pd.DataFrame) -> Figure:
    """The Kaplan-Meier chart of the curves table, as the report draws it."""
    if km_curves is None or km_curves.empty:
        return charts.note("No Kaplan-Meier curves: the survival stage found no customers.")
    panels = kaplan_meier_panels(km_curves, logrank_tests)
    many = len(panels) > MANY_PANELS  # ~0.1 s a panel: say so before a long drawing
    with progress(f"Kaplan-Meier chart: {len(panels)} panels") if many else nullcontext():
        return charts.kaplan_meier_grid(km_curves, panels)


def estimate_km_curves(
    survival_table: pd.DataFrame,
    customer_snapshots: pd.DataFrame,
    run_plan: dict[str, Any],
    params: dict[str, Any],
    min_at_risk: int,
) -> pd.DataFrame:
    """Kaplan-Meier curves (share still active by month, with 95% pointwise bounds and the
    customers still at risk) of every segment comparison, as the report draws them: static segments from signup, changing ones (NPS class, support speed)
    from the landmark snapshot, as :func:`fit_kaplan_meier_by_segment` compares them. Each curve stops
    where fewer than ``min_at_risk`` customers remain under observation (the noisy tail).
    Groups keep their natural order (categories in order, else alphabetical). Without any
    segment to compare, the one curve of all customers (segment "all customers")."""
    sources = {}
    for segment, (frame, duration, event) in km_sources(
        survival_table, customer_snapshots, run_plan, params
    ).items():
        start = "signup"
        if duration != DURATION:
            start = str(frame["snapshot_date"].min().date()) if len(frame) else "landmark"
        sources[segment] = (frame, duration, event, start)
    if not sources:
        everyone = survival_table.assign(**{OVERALL: "all"})
        sources[OVERALL] = (everyone, DURATION, EVENT, "signup")
    rows = []
    for segment, (frame, duration, event, start) in sources.items():
        for group, part in frame.groupby(segment, observed=True, sort=True):
            km = kaplan_meier(
                part[duration].to_numpy() / DAYS_PER_MONTH, part[event].to_numpy(dtype=bool)
            )
            enough = min(min_at_risk, max(1, len(part) // 2))  # small groups: until half remain
            shown = km.at_risk >= enough
            rows.append(km.frame()[shown].assign(segment=segment, group=str(group), origin=start))
    columns = [
        "segment",
        "group",
        "origin",
        "months",
        "survival",
        "ci_lower",
        "ci_upper",
        "at_risk",
    ]
    curves = pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)
    logger.info("Kaplan-Meier curves for the report: %s segments", curves["segment"].nunique())
    return curves
