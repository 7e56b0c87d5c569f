"""Retention KPIs a customer-success lead reads every month.

A customer is *active at instant t* when one of their activity episodes started before t and had
not ended by t (the same definition as the snapshots). For the month [m0, m1):

- customers_start = active at m0, customers_end = active at m1,
- new = episodes starting in [m0, m1), churned = episodes ending in (m0, m1],
- so customers_end = customers_start + new - churned exactly;
- retention_rate = (customers_end - new) / customers_start x 100,
- churn_rate = churned among customers_start / customers_start x 100.

MRR movements (contractual data) compare each customer's MRR at m0 and m1:
net revenue retention NRR = (MRR_start + expansion - contraction - churned) / MRR_start x 100,
gross revenue retention GRR = (MRR_start - contraction - churned) / MRR_start x 100.
NPS = % promoters (9-10) - % detractors (0-6) among the month's answers.
"""

from __future__ import annotations

import logging
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from ibis import _
from sklearn.metrics import roc_auc_score

from customer_retention.core.run_plan import skip_reason
from customer_retention.core.segments import nps_class, support_speed_band
from customer_retention.models.evaluation import nps_interval, proportion_interval

logger = logging.getLogger(__name__)


def month_starts(timeline: pd.DataFrame) -> pd.DatetimeIndex:
    """Month starts from the first episode's month to the month of the as-of date."""
    as_of = timeline["as_of_date"].iat[0]
    first = timeline["episode_start"].min().to_period("M").to_timestamp()
    return pd.date_range(first, as_of.to_period("M").to_timestamp(), freq="MS")


def _active_at(timeline: pd.DataFrame, instants: np.ndarray) -> np.ndarray:
    """Number of episodes active at each instant (start < t and (end missing or end > t))."""
    starts = np.sort(timeline["episode_start"].to_numpy())
    ends = np.sort(timeline["episode_end"].dropna().to_numpy())
    started = np.searchsorted(starts, instants, side="left")
    ended = np.searchsorted(ends, instants, side="right")
    return started - ended


def customer_movements(timeline: pd.DataFrame) -> pd.DataFrame:
    """Customers at start/end of each complete month, new, churned, retention and churn rates."""
    months = month_starts(timeline)
    m0, m1 = months[:-1].to_numpy(), months[1:].to_numpy()
    starts = timeline["episode_start"].to_numpy()
    ends = timeline["episode_end"].to_numpy()
    month_of_start = np.searchsorted(
        m1, starts, side="right"
    )  # index k with m0[k] <= start < m1[k]
    month_of_end = np.searchsorted(m1, ends, side="left")  # index k with m0[k] < end <= m1[k]
    has_end = ~pd.isna(ends)
    n = len(m0)
    new = np.bincount(month_of_start[month_of_start < n], minlength=n)
    churned_mask = has_end & (month_of_end < n)
    churned = np.bincount(month_of_end[churned_mask], minlength=n)
    from_start = churned_mask & (starts < m0[np.minimum(month_of_end, n - 1)])
    churned_from_start = np.bincount(month_of_end[from_start], minlength=n)
    kpis = pd.DataFrame(
        {
            "month": months[:-1].strftime("%Y-%m"),
            "customers_start": _active_at(timeline, m0),
            "new_customers": new,
            "churned_customers": churned,
            "churned_from_start": churned_from_start,
            "customers_end": _active_at(timeline, m1),
        }
    )
    start = kpis["customers_start"].where(kpis["customers_start"] > 0)
    kpis["retention_rate"] = (kpis["customers_end"] - kpis["new_customers"]) / start * 100
    kpis["churn_rate"] = kpis["churned_from_start"] / start * 100
    return kpis


def mrr_movements(subscriptions: ir.Table, months: pd.DatetimeIndex) -> pd.DataFrame:
    """MRR at start and end of each month, split into new, expansion, contraction, churned.

    Each customer's MRR at instant t sums the subscriptions with start < t and (end missing
    or end > t). Runs in the engine (one row per customer and month boundary).
    """
    columns = [
        "month",
        "mrr_start",
        "mrr_end",
        "new_mrr",
        "expansion_mrr",
        "contraction_mrr",
        "churned_mrr",
    ]
    if subscriptions.count().execute() == 0 or len(months) < 2:
        return pd.DataFrame(columns=columns)
    boundaries = ibis.memtable(pd.DataFrame({"boundary": months}))
    running = subscriptions.join(
        boundaries,
        [
            subscriptions.start_date < boundaries.boundary,
            subscriptions.end_date.isnull() | (subscriptions.end_date > boundaries.boundary),
        ],
    )
    mrr_at = running.group_by(["customer_id", "boundary"]).aggregate(mrr=_.mrr.sum())
    pairs = ibis.memtable(pd.DataFrame({"boundary": months[:-1], "next_boundary": months[1:]}))
    start = mrr_at.join(pairs, "boundary").select("customer_id", month=_.boundary, mrr_start=_.mrr)
    end = mrr_at.join(pairs, mrr_at.boundary == pairs.next_boundary).select(
        "customer_id", month=_.boundary_right, mrr_end=_.mrr
    )
    both = start.outer_join(end, ["customer_id", "month"]).mutate(
        month=ibis.coalesce(_.month, _.month_right),
        mrr_start=_.mrr_start.fill_null(0),
        mrr_end=_.mrr_end.fill_null(0),
    )
    change = _.mrr_end - _.mrr_start
    kept = (_.mrr_start > 0) & (_.mrr_end > 0)
    result = (
        both.group_by("month")
        .aggregate(
            mrr_start=_.mrr_start.sum(),
            mrr_end=_.mrr_end.sum(),
            new_mrr=_.mrr_end.sum(where=_.mrr_start == 0),
            expansion_mrr=change.sum(where=kept & (change > 0)),
            contraction_mrr=(-change).sum(where=kept & (change < 0)),
            churned_mrr=_.mrr_start.sum(where=_.mrr_end == 0),
        )
        .to_pandas()
    )
    result["month"] = pd.to_datetime(result["month"]).dt.strftime("%Y-%m")
    # DuckDB adds floats across threads in varying order: round off the last-bit noise so that
    # identical inputs give identical outputs.
    result[columns[1:]] = result[columns[1:]].astype(float).fillna(0).round(6)
    return result[columns].sort_values("month", ignore_index=True)


def monthly_nps(feedback: pd.DataFrame) -> pd.DataFrame:
    """Promoters, passives, detractors and NPS per month of answer."""
    nps = feedback[feedback["survey"] == "nps"].dropna(subset=["score"])
    columns = [
        "month",
        "nps_responses",
        "promoters_pct",
        "detractors_pct",
        "nps",
        "nps_ci_low",
        "nps_ci_high",
    ]
    if nps.empty:
        return pd.DataFrame(columns=columns)
    nps_classes = nps_class(nps["score"])
    grouped = nps.assign(
        month=nps["response_date"].dt.strftime("%Y-%m"),
        promoter=nps_classes == "promoter",
        detractor=nps_classes == "detractor",
    ).groupby("month")
    result = grouped.agg(
        nps_responses=("score", "size"),
        promoters_pct=("promoter", "mean"),
        detractors_pct=("detractor", "mean"),
    ).reset_index()
    result["nps_ci_low"], result["nps_ci_high"] = nps_interval(
        result["promoters_pct"], result["detractors_pct"], result["nps_responses"]
    )
    result[["promoters_pct", "detractors_pct"]] *= 100
    result["nps"] = result["promoters_pct"] - result["detractors_pct"]
    return result[columns]


def build_monthly_retention(
    customer_timeline: pd.DataFrame,
    subscriptions: ir.Table,
    feedback: pd.DataFrame,
    run_plan: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """One row per complete month: customer movements, MRR movements and NPS.

    With one snapshot of data (run plan) the months before it are a history rebuilt from
    tenure, in which nobody churned: no month is reported (the columns stay), rather than a
    believable 0% churn."""
    kpis = customer_movements(customer_timeline)
    if why := skip_reason(run_plan, "retention_kpis"):
        logger.warning("Monthly retention not computed: %s", why)
        return kpis.iloc[:0]
    mrr = mrr_movements(subscriptions, month_starts(customer_timeline))
    if len(mrr):
        kpis = kpis.merge(mrr, on="month", how="left")
        start = kpis["mrr_start"].where(kpis["mrr_start"] > 0)
        lost = kpis["contraction_mrr"] + kpis["churned_mrr"]
        kpis["net_revenue_retention"] = (
            (kpis["mrr_start"] + kpis["expansion_mrr"] - lost) / start * 100
        )
        kpis["gross_revenue_retention"] = (kpis["mrr_start"] - lost) / start * 100
    kpis = kpis.merge(monthly_nps(feedback), on="month", how="left")
    if len(kpis):
        latest = kpis.iloc[-1]
        logger.info(
            "Monthly retention over %s months; %s: retention %.1f%%, churn %.1f%%",
            len(kpis),
            latest["month"],
            latest["retention_rate"],
            latest["churn_rate"],
        )
    return kpis


def _still_active_shares(
    cohort_month: np.ndarray, end: np.ndarray, horizon: int, as_of: np.datetime64
) -> pd.DataFrame:
    """Per signup month (index ``signup_month``): ``cohort_size``, and in column ``k`` the
    share of the cohort whose ``end`` is after the start of month (cohort month + k + 1), NaN
    where that instant is after ``as_of``. Counted on each cohort's sorted ends (a customer x
    month matrix took 1 GB at 1M customers); the shares are the same numbers (count / size)."""
    months, cohort_of, sizes = np.unique(cohort_month, return_inverse=True, return_counts=True)
    order = np.lexsort((end, cohort_of))
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    k = np.arange(max(horizon, 0))  # none when every cohort starts after the as-of month
    shares = np.empty((len(months), len(k)))
    for i, month in enumerate(months):
        ends = end[order[bounds[i] : bounds[i + 1]]]
        instants = (month + (k + 1)).astype("datetime64[ns]")
        still = sizes[i] - np.searchsorted(ends, instants, side="right")
        shares[i] = np.where(instants > as_of, np.nan, still / sizes[i])
    index = pd.Index(months.astype(str), name="signup_month")
    matrix = pd.DataFrame(shares, index=index, columns=[str(c) for c in k])
    matrix.insert(0, "cohort_size", sizes)
    return matrix


def build_cohort_retention(
    customers: pd.DataFrame,
    customer_timeline: pd.DataFrame,
    run_plan: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Share of each signup-month cohort still active k whole months after its signup month.

    Column ``k`` is measured at the instant the month (signup month + k + 1) starts, and only
    for cohorts for which that instant is not after the as-of date (otherwise empty). A customer
    counts as active until their last episode ends.
    """
    as_of = customer_timeline["as_of_date"].iat[0]
    ends = customer_timeline.groupby("customer_id")["episode_end"]
    last_end = ends.max().where(ends.count() == ends.size())  # NaT while an episode is open
    frame = customers[["customer_id", "signup_date"]].merge(
        last_end.rename("end").reset_index(), on="customer_id", how="inner"
    )
    cohort_month = frame["signup_date"].to_numpy().astype("datetime64[M]")
    horizon = int((np.datetime64(as_of, "M") - cohort_month.min()).astype(int)) if len(frame) else 0
    end = frame["end"].fillna(pd.Timestamp.max).to_numpy().astype("datetime64[ns]")
    matrix = _still_active_shares(cohort_month, end, horizon, np.datetime64(as_of, "ns"))
    matrix = matrix.dropna(axis=1, how="all").reset_index()
    if why := skip_reason(run_plan, "retention_kpis"):
        logger.warning("Cohort retention not computed: %s", why)
        return matrix.iloc[:0, :2]
    return matrix


def count_exit_reasons(feedback: pd.DataFrame) -> pd.DataFrame:
    """Exit-survey reasons, most frequent first, with their share and cumulative share (Pareto)."""
    exits = feedback[feedback["survey"] == "exit"]
    counts = (
        exits["reason"]
        .fillna("not given")
        .value_counts()
        .rename_axis("reason")
        .reset_index(name="responses")
    )
    counts["share_pct"] = counts["responses"] / max(len(exits), 1) * 100
    counts["cumulative_pct"] = counts["share_pct"].cumsum()
    return counts


def compute_churn_by_support_band(
    customer_snapshots: pd.DataFrame, params: dict[str, Any]
) -> pd.DataFrame:
    """Churn rate within the horizon by band of median first-response time (labelled rows),
    with its 95% Wilson interval (rows of one customer at several snapshots are counted as
    independent: the interval is somewhat narrow)."""
    if "median_first_response_hours" not in customer_snapshots:
        return pd.DataFrame(
            columns=[
                "support_response_band",
                "customers",
                "churn_rate_pct",
                "churn_rate_ci_low_pct",
                "churn_rate_ci_high_pct",
            ]
        )
    # The two columns first: dropping rows of the whole table copied every column (1.3 GB at
    # 1M customers) for a table of five rows.
    labelled = customer_snapshots[["median_first_response_hours", "churned_within_horizon"]]
    labelled = labelled.dropna(subset=["churned_within_horizon"])
    band = support_speed_band(labelled["median_first_response_hours"], params["support_band_hours"])
    result = labelled.groupby(band, observed=False)["churned_within_horizon"].agg(["size", "mean"])
    result = result.rename(columns={"size": "customers", "mean": "churn_rate_pct"})
    low, high = proportion_interval(
        result["churn_rate_pct"] * result["customers"], result["customers"]
    )
    result["churn_rate_pct"] *= 100
    result["churn_rate_ci_low_pct"], result["churn_rate_ci_high_pct"] = low * 100, high * 100
    return result.rename_axis("support_response_band").reset_index()


def health_components(snapshots: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Component scores in [0, 100]; a component whose source table is absent is left out.

    - usage: percentile of ``events_recent`` among the customers of the same snapshot;
    - engagement_trend: ``usage_trend_ratio`` mapped linearly from 0 (ratio 0) to 100 (ratio >= 2);
    - feedback: latest NPS x 10, 0 after an exit survey was started, neutral without answers;
    - support: 100 for instant first responses down to 0 at ``slow_response_hours``, neutral
      without tickets;
    - revenue_trend: 50 +/- 50 x relative MRR change over the previous window (clipped to +/-100%);
    - purchase_recency: 100 for a purchase just before t down to 0 at ``inactive_after_days``.
    """
    neutral = float(params["neutral_score"])
    components = pd.DataFrame(index=snapshots.index)
    if "events_recent" in snapshots:
        components["usage"] = (
            snapshots.groupby("snapshot_date")["events_recent"].rank(pct=True) * 100
        )
        components["engagement_trend"] = snapshots["usage_trend_ratio"].clip(0, 2) * 50
    if "nps_latest" in snapshots:
        feedback = (snapshots["nps_latest"] * 10).fillna(neutral)
        components["feedback"] = feedback.where(~snapshots["exit_survey_started"], 0.0)
    if "median_first_response_hours" in snapshots:
        speed = 1 - snapshots["median_first_response_hours"] / params["slow_response_hours"]
        components["support"] = (speed.clip(0, 1) * 100).fillna(neutral)
    if "mrr_change" in snapshots:
        relative = snapshots["mrr_change"] / snapshots["mrr_previous"].where(
            snapshots["mrr_previous"] > 0
        )
        components["revenue_trend"] = (50 + 50 * relative.clip(-1, 1)).fillna(neutral)
    if "days_since_last_transaction" in snapshots:
        recency = 1 - snapshots["days_since_last_transaction"] / params["inactive_after_days"]
        components["purchase_recency"] = recency.clip(0, 1) * 100
    return components


def build_customer_health(
    customer_snapshots: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Health score 0-100 = weighted mean of the available components (weights in parameters),
    and its ROC-AUC for churn within the horizon (a lower score should mean more churn).

    ``customer_health``: customer_id, snapshot_date, churned_within_horizon (the snapshot's
    label, NaN when its horizon is not over), health_score and one ``component_*`` column per
    computed component; the summary's ``weights`` are the weights applied (renormalised over
    the components with data and a positive weight)."""
    components = health_components(customer_snapshots, params)
    weights = {
        name: float(w) for name, w in params["weights"].items() if name in components and w > 0
    }
    if not weights:
        if components.empty:
            raise ValueError("No health-score component can be computed from the available tables.")
        logger.warning(
            "None of the available health components %s has a positive weight: weighting them equally",
            list(components.columns),
        )
        weights = dict.fromkeys(components.columns, 1.0)
    total = sum(weights.values())
    score = sum(components[name] * weight for name, weight in weights.items()) / total
    health = customer_snapshots[["customer_id", "snapshot_date", "churned_within_horizon"]].copy()
    health["health_score"] = score.round(1)
    health = pd.concat([health, components.add_prefix("component_").round(1)], axis=1)
    labelled = health[["churned_within_horizon", "health_score"]].dropna(
        subset=["churned_within_horizon"]
    )
    both_classes = labelled["churned_within_horizon"].nunique() == 2
    constant = health["health_score"].nunique() < 2
    if constant:
        logger.warning(
            "Health score is %s for every customer: its components %s have no data that tell "
            "customers apart; it is not used as a benchmark",
            health["health_score"].iat[0] if len(health) else None,
            list(weights),
        )
    auc = (
        float(roc_auc_score(labelled["churned_within_horizon"], -labelled["health_score"]))
        if both_classes and not constant
        else None
    )
    summary = {
        "status": "constant: no data behind the components" if constant else "computed",
        "weights": {name: weight / total for name, weight in weights.items()},
        "roc_auc_next_horizon_churn": auc,
        "labelled_rows": len(labelled),
        "mean_score_churned": float(
            labelled.loc[labelled["churned_within_horizon"] == 1, "health_score"].mean()
        ),
        "mean_score_retained": float(
            labelled.loc[labelled["churned_within_horizon"] == 0, "health_score"].mean()
        ),
    }
    logger.info(
        "Health score ROC-AUC for churn within the horizon: %s",
        auc if auc is None else round(auc, 3),
    )
    # The label stays beside the score (NaN at snapshots whose horizon is not over): the report
    # draws churn by health-score band from it.
    return health, summary


def summarise_retention(
    monthly_retention: pd.DataFrame,
    health_summary: dict[str, Any],
    exit_reasons: pd.DataFrame,
    run_plan: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Headline figures for the report: the latest complete month and the health score's power
    (``history_kpis``: why the monthly KPIs are absent, when they are)."""
    latest = (
        monthly_retention.iloc[-1].replace({np.nan: None}).to_dict()
        if len(monthly_retention)
        else {}
    )
    return {
        "latest_month": latest,
        "months": len(monthly_retention),
        "mean_monthly_churn_rate_pct": float(monthly_retention["churn_rate"].mean())
        if len(monthly_retention)
        else None,
        "history_kpis": skip_reason(run_plan, "retention_kpis") or "computed",
        "health_score": health_summary,
        "top_exit_reason": exit_reasons["reason"].iat[0] if len(exit_reasons) else None,
        "formulas": {
            "retention_rate": "(customers_end - new_customers) / customers_start x 100",
            "churn_rate": "churned_from_start / customers_start x 100",
            "net_revenue_retention": "(mrr_start + expansion - contraction - churned_mrr) / mrr_start x 100",
            "gross_revenue_retention": "(mrr_start - contraction - churned_mrr) / mrr_start x 100",
            "nps": "% promoters (9-10) - % detractors (0-6)",
        },
    }
