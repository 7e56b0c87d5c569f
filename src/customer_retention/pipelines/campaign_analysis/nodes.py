"""Did our retention actions work? Each campaign of the interventions table against its control.

1. ``build_campaign_outcomes``: one row per enrolled customer -- arm, the days from the
   treatment date to churn (or to the as-of date, censored), churn within the horizon after the
   treatment date (unknown when the horizon is not over), and the customer's features at the
   last snapshot on or before the treatment date (known before the action: the balance check).
2. ``analyse_campaigns``: per campaign, the sample-ratio-mismatch test, covariate balance
   (standardised mean differences), churn within the horizon per arm with the difference and
   ratio and their 95% intervals, Kaplan-Meier by arm with the log-rank test, the Cox hazard
   ratio of treatment with its interval, the minimum detectable effect of the current arm
   sizes and the arm size the next campaign needs (``models/experiments.py``).
3. ``plot_campaign_survival``: the Kaplan-Meier curves by arm.

Without an interventions table every output says so and the rest of the run goes on.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from customer_retention.core import charts
from customer_retention.core.chart_data import arm_survival_curves
from customer_retention.core.formatting import fmt_p_value
from customer_retention.core.serialization import jsonable
from customer_retention.models import experiments
from customer_retention.models.kaplan_meier import logrank_tests

logger = logging.getLogger(__name__)

OUTCOME_COLUMNS = [
    "customer_id",
    "campaign",
    "arm",
    "treated_at",
    "cost",
    "days_observed",
    "churned",
    "churned_within_horizon",
]
BOOKKEEPING = {"customer_id", "snapshot_date", "is_as_of_snapshot", "churned_within_horizon"}
BOOKKEEPING |= {"churn_observed", "days_observed"}
SNAPSHOT_ROW = "_snapshot_row"


def _active_episode(enrolled: pd.DataFrame, customer_timeline: pd.DataFrame) -> pd.DataFrame:
    """Each enrolled row with the end of the customer's episode active at treated_at (NaT =
    still active); rows without an active episode then are dropped (and counted by the caller)."""
    timeline = customer_timeline[["customer_id", "episode_start", "episode_end"]].astype(
        {"customer_id": str}
    )
    joined = enrolled.merge(timeline, on="customer_id", how="inner")
    active = (joined["episode_start"] <= joined["treated_at"]) & (
        joined["episode_end"].isna() | (joined["episode_end"] > joined["treated_at"])
    )
    return joined[active].drop_duplicates(["customer_id", "campaign"])


def _features_before(outcomes: pd.DataFrame, customer_snapshots: pd.DataFrame) -> pd.DataFrame:
    """The customer's snapshot row of the latest snapshot date on or before treated_at: the
    frame ``pd.merge_asof(outcomes, snapshots, by customer, backward)`` gives (a feature named
    like an outcome column gets ``_before``), found on the key columns alone and then taken
    from the features. Sorting the whole table for the merge copied every row of it (1.9 GB at
    1M customers)."""
    features = [c for c in customer_snapshots.columns if c not in BOOKKEEPING]
    keys = pd.DataFrame(
        {
            "customer_id": customer_snapshots["customer_id"].astype(str),
            "treated_at": pd.to_datetime(customer_snapshots["snapshot_date"]),
            SNAPSHOT_ROW: np.arange(len(customer_snapshots)),
        }
    ).sort_values("treated_at")
    merged = pd.merge_asof(
        outcomes.sort_values("treated_at"),
        keys,
        on="treated_at",
        by="customer_id",
        direction="backward",
    )
    rows = merged.pop(SNAPSHOT_ROW).to_numpy()  # NaN: no snapshot on or before treated_at
    by_position = customer_snapshots[features].reset_index(drop=True)
    found = by_position.reindex(rows).set_axis(merged.index)
    found = found.rename(columns=lambda c: f"{c}_before" if c in merged else c)
    columns = pd.Index([*merged.columns, *found.columns])
    if clash := sorted(set(columns[columns.duplicated()])):
        raise ValueError(
            f"customer_snapshots: feature column(s) {clash} clash with the campaign outcome "
            "columns even with the suffix _before; rename them"
        )
    return pd.concat([merged, found], axis=1)


def build_campaign_outcomes(
    interventions: pd.DataFrame | None,
    customer_timeline: pd.DataFrame,
    customer_snapshots: pd.DataFrame,
    params: dict[str, Any],
) -> pd.DataFrame:
    """One row per enrolled customer and campaign (see the module docstring); empty without
    interventions."""
    if interventions is None or interventions.empty:
        logger.info("Campaign analysis skipped: no interventions table in data/01_raw")
        return pd.DataFrame(columns=OUTCOME_COLUMNS)
    horizon = pd.Timedelta(days=int(params["horizon_days"]))
    as_of = pd.Timestamp(customer_timeline["as_of_date"].iat[0])
    enrolled = interventions.assign(
        customer_id=interventions["customer_id"].astype(str),
        treated_at=pd.to_datetime(interventions["treated_at"]).astype("datetime64[ns]"),
        campaign=interventions["campaign"].astype(str),
        arm=interventions["arm"].astype(str),
        cost=pd.to_numeric(interventions.get("cost"), errors="coerce")
        if "cost" in interventions
        else np.nan,
    )
    outcomes = _active_episode(enrolled, customer_timeline)
    dropped = len(enrolled) - len(outcomes)
    if dropped:
        logger.warning(
            "Campaign analysis: %s enrolled row(s) of customers not active on their treatment "
            "date are left out (they could not be kept or lost by the action)",
            f"{dropped:,}",
        )
    end = outcomes["episode_end"].where(outcomes["episode_end"] <= as_of)
    outcomes = outcomes.assign(
        churned=end.notna(),
        days_observed=((end.fillna(as_of) - outcomes["treated_at"]).dt.days).clip(lower=1),
    )
    known = outcomes["churned"] & (end <= outcomes["treated_at"] + horizon)
    complete = outcomes["treated_at"] + horizon <= as_of
    outcomes["churned_within_horizon"] = np.where(known, 1.0, np.where(complete, 0.0, np.nan))
    outcomes = _features_before(outcomes[OUTCOME_COLUMNS], customer_snapshots)
    logger.info(
        "Campaign outcomes: %s enrolled customers in %s campaign(s)",
        f"{len(outcomes):,}",
        outcomes["campaign"].nunique(),
    )
    return outcomes.sort_values(["campaign", "customer_id"], ignore_index=True)


def _balance(rows: pd.DataFrame, treated: np.ndarray, params: dict[str, Any]) -> dict:
    covariates = [c for c in rows.columns if c not in OUTCOME_COLUMNS]
    wanted = params.get("balance_covariates", "auto")
    if wanted != "auto":
        covariates = [c for c in wanted if c in rows.columns]
    smd = experiments.standardized_mean_differences(rows[covariates], treated)
    threshold = float(params["balance_threshold"])
    worst = smd.reindex(smd["smd"].abs().sort_values(ascending=False).index).head(5)
    flagged = smd[smd["smd"].abs() > threshold]
    # Random assignment alone gives each SMD a spread of about sqrt(1/n_t + 1/n_c): with a few
    # hundred customers per arm some of many covariates exceed the threshold by chance.
    chance = experiments.chance_imbalance(
        len(smd), int(treated.sum()), int((~treated).sum()), threshold, len(flagged)
    )
    return {
        "covariates_checked": len(smd),
        "threshold": threshold,
        "imbalanced": flagged["covariate"].tolist(),
        **chance,
        "flagged": len(flagged) > 0 and chance["p_value_more_than_chance"] < 0.001,
        "largest": worst.to_dict("records"),
    }


def _cox_hazard_ratio(rows: pd.DataFrame, treated: np.ndarray) -> dict[str, Any]:
    frame = pd.DataFrame(
        {
            "duration": rows["days_observed"].to_numpy(dtype=float),
            "event": rows["churned"].to_numpy(dtype=bool),
            "treatment": treated.astype(float),
        }
    )
    if frame["event"].sum() < 2:
        return {"hazard_ratio": None, "reason": "fewer than two churners"}
    from lifelines import CoxPHFitter  # imported when fitted (start-up time)

    fitted = CoxPHFitter().fit(frame, "duration", "event")
    ci = np.exp(fitted.confidence_intervals_.loc["treatment"].to_numpy())
    return {
        "hazard_ratio": float(fitted.hazard_ratios_["treatment"]),
        "ci_low": float(ci[0]),
        "ci_high": float(ci[1]),
        "p_value": float(fitted.summary.loc["treatment", "p"]),
    }


def _analyse(name: str, rows: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    treated = (rows["arm"] == "treatment").to_numpy()
    n_t, n_c = int(treated.sum()), int((~treated).sum())
    result: dict[str, Any] = {
        "campaign": name,
        "treated_at": str(rows["treated_at"].min().date()),
        "n_treatment": n_t,
        "n_control": n_c,
        "cost": float(rows.loc[treated, "cost"].sum()) if "cost" in rows else None,
    }
    minimum = int(params["min_customers_per_arm"])
    if min(n_t, n_c) < minimum:
        return result | {
            "status": "too small",
            "reason": f"fewer than {minimum} customers in an arm (min_customers_per_arm)",
        }
    srm = experiments.sample_ratio_mismatch(n_t, n_c, float(params["intended_treatment_share"]))
    srm["flagged"] = srm["p_value"] < float(params["srm_alpha"])
    followed = rows["churned_within_horizon"].notna().to_numpy()
    churned = rows["churned_within_horizon"].to_numpy() == 1
    counts = (
        int((churned & treated & followed).sum()),
        int((treated & followed).sum()),
        int((churned & ~treated & followed).sum()),
        int((~treated & followed).sum()),
    )
    alpha = float(params["alpha"])
    effect = (
        experiments.proportion_effect(*counts, alpha=alpha)
        if min(counts[1], counts[3]) > 0
        else {"effect": None, "reason": "the horizon after the treatment date is not over"}
    )
    logrank = logrank_tests(rows["days_observed"], rows["churned"], rows["arm"])[0]
    control_rate = effect.get("churn_control")
    balance = _balance(rows, treated, params)
    status = (
        "flagged: sample ratio mismatch"
        if srm["flagged"]
        else "flagged: covariates imbalanced beyond chance"
        if balance["flagged"]
        else "ok"
    )
    return result | {
        "status": status,
        "horizon_days": int(params["horizon_days"]),
        "followed_up": {"treatment": counts[1], "control": counts[3]},
        "churned": {"treatment": counts[0], "control": counts[2]},
        **effect,
        "significant": effect.get("p_value") is not None and effect["p_value"] < alpha,
        "logrank_p_value": float(logrank["p_value"]),
        "cox": _cox_hazard_ratio(rows, treated),
        "sample_ratio_mismatch": srm,
        "balance": balance,
        "power": {
            "alpha": alpha,
            "power": float(params["power"]),
            "minimum_detectable_reduction": experiments.minimum_detectable_effect(
                counts[1], counts[3], control_rate or 0.0, alpha, float(params["power"])
            ),
            "target_reduction": float(params["target_reduction"]),
            "customers_per_arm_needed": experiments.required_group_size(
                control_rate or 0.0,
                float(params["target_reduction"]),
                alpha,
                float(params["power"]),
            ),
        },
    }


def analyse_campaigns(campaign_outcomes: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """``campaign_effects.json``: one entry per campaign (see the module docstring)."""
    if campaign_outcomes.empty:
        return {"status": "skipped", "reason": "no interventions table", "campaigns": []}
    results = []
    for name, rows in campaign_outcomes.groupby("campaign", sort=True):
        result = _analyse(str(name), rows, params)
        results.append(result)
        logger.info(
            "Campaign %s: %s treated / %s control, churn effect %s (95%% CI %s to %s), sample ratio %s",
            name,
            result["n_treatment"],
            result["n_control"],
            _points(result.get("effect")),
            _points(result.get("ci_low")),
            _points(result.get("ci_high")),
            fmt_p_value(result.get("sample_ratio_mismatch", {}).get("p_value")),
        )
        if result["status"].startswith("flagged"):
            logger.warning(
                "Campaign %s %s: the groups are not comparable, its effect estimate is not "
                "trustworthy",
                name,
                result["status"],
            )
    return jsonable(
        {
            "status": "analysed",
            "definitions": {
                "effect": "churn within horizon_days after the treatment date, treatment minus "
                "control (negative: the action kept customers); 95% Newcombe interval",
                "ratio": "treatment churn / control churn, log-adjusted interval",
                "sample_ratio_mismatch": "chi-square test of the arm sizes against "
                "intended_treatment_share; flagged below srm_alpha",
                "balance": "standardised mean differences of the features at the last snapshot "
                "before the treatment date; flagged above balance_threshold",
            },
            "campaigns": results,
        }
    )


def plot_campaign_survival(
    campaign_outcomes: pd.DataFrame, campaign_effects: dict[str, Any]
) -> Figure:
    """Share of each arm still active against months since the treatment date, per campaign."""
    if campaign_outcomes.empty:
        return charts.note("No campaign data: no interventions table in data/01_raw.")
    return charts.kaplan_meier_grid(*arm_survival_curves(campaign_outcomes, campaign_effects))


def _points(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f} pts"
