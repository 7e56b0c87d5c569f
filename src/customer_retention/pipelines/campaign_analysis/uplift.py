"""Which customers does each action keep? An uplift model per campaign, judged on held-out
customers of the randomised campaign (``models/uplift.py``).

Per campaign with at least ``uplift.min_customers`` followed-up customers:

1. a seeded, arm-stratified ``uplift.holdout_share`` of its customers is held out;
2. the meta-learner (``uplift.learner``: ``x`` or ``t``) is fitted on the rest, on the features
   of the snapshot before the treatment date;
3. on the held-out customers: the Qini curve and coefficient of its ranking and, for
   comparison, of the ranking by churn risk without the action (mu_0); the incremental value
   of two plans contacting the same share (``uplift.target_share``) -- by expected uplift x value
   and by risk x value -- estimated from the held-out randomised outcomes, not from the plans'
   own assumptions; on demo data, the Spearman correlation with the planted per-customer effects;
4. the model is refitted on every customer of the campaign; ``uplift_models`` holds it for
   scoring (``expected_uplift`` of the active customers).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from customer_retention.core.formatting import fmt_money
from customer_retention.core.model_frame import build_feature_spec
from customer_retention.core.serialization import jsonable
from customer_retention.models import uplift

from .nodes import OUTCOME_COLUMNS

logger = logging.getLogger(__name__)


def _holdout(rows: pd.DataFrame, share: float, seed: int) -> np.ndarray:
    """A seeded ``share`` of the customers of each arm (boolean mask)."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(rows), dtype=bool)
    for _, positions in rows.reset_index(drop=True).groupby("arm").indices.items():
        chosen = rng.choice(positions, size=int(round(share * len(positions))), replace=False)
        held[chosen] = True
    return held


def _learner(params: dict[str, Any]) -> uplift.TwoModelUplift:
    settings = params["uplift"]
    learner = uplift.LEARNERS[settings.get("learner", "x")]
    return learner(settings["rounds"], int(params["seed"]), settings.get("booster"))


VALUED, UNVALUED = "customer_value", "one_per_customer"
"""``value_basis`` of the plans: each customer's CLV, or 1 each (no customer_value)."""


def _value_of(rows: pd.DataFrame, customer_value: pd.DataFrame | None) -> np.ndarray:
    """Each customer's CLV (customer_value, today's valuation); 1 each without values (None:
    ``fit_uplift_models`` passes None for an absent or empty table, and says so)."""
    if customer_value is None:
        return np.ones(len(rows))
    clv = customer_value.astype({"customer_id": str}).set_index("customer_id")["clv"]
    value = rows["customer_id"].astype(str).map(clv).to_numpy(dtype=float)
    return np.where(np.isfinite(value) & (value > 0), value, np.nanmedian(value))


def _true_effects(ground_truth: dict[str, Any] | None, campaign: str) -> pd.Series | None:
    planted = ((ground_truth or {}).get("campaigns") or {}).get("campaigns", {}).get(campaign)
    if not planted:
        return None
    customers = planted["customers"]
    ids = [str(i) for i in customers["customer_id"]]
    # The planted effect is P(churn | treated) - P(churn | control); uplift is its negative.
    return pd.Series(-np.asarray(customers["true_effect"], dtype=float), index=ids)


def _evaluate(
    model: uplift.TwoModelUplift,
    held: pd.DataFrame,
    value: np.ndarray,
    truth: pd.Series | None,
    target_share: float,
) -> dict[str, Any]:
    treated = (held["arm"] == "treatment").to_numpy()
    churned = held["churned_within_horizon"].to_numpy(dtype=float)
    predicted = model.predict(held)
    risk = model.churn_if_untreated(held)
    curve = uplift.qini_curve(predicted, treated, churned)
    count = max(1, int(round(target_share * len(held))))

    def top(score: np.ndarray) -> np.ndarray:
        chosen = np.zeros(len(score), dtype=bool)
        chosen[np.argsort(-score, kind="stable")[:count]] = True
        return chosen

    result = {
        "held_out_customers": len(held),
        "qini_coefficient": uplift.qini_coefficient(curve),
        "qini_coefficient_of_risk_ranking": uplift.qini_coefficient(
            uplift.qini_curve(risk, treated, churned)
        ),
        "qini_curve": curve.iloc[:: max(1, len(curve) // 50)].to_dict("list"),
        "plans": {
            "target_share": target_share,
            "by_uplift_x_value": uplift.policy_value(
                top(predicted * value), treated, churned, value
            ),
            "by_risk_x_value": uplift.policy_value(top(risk * value), treated, churned, value),
            "everyone": uplift.policy_value(np.ones(len(held), bool), treated, churned, value),
        },
    }
    if truth is not None:
        planted = held["customer_id"].astype(str).map(truth).to_numpy(dtype=float)
        known = np.isfinite(planted)
        if known.sum() > 10:
            result["spearman_with_planted_effect"] = float(
                stats.spearmanr(predicted[known], planted[known]).statistic
            )
            # Demo data: each plan's value under the planted effects (no outcome noise).
            kept = np.where(known, planted, 0.0) * value
            for name, score in (
                ("by_uplift_x_value", predicted * value),
                ("by_risk_x_value", risk * value),
            ):
                result["plans"][name]["planted_incremental_value"] = float(kept[top(score)].sum())
    return result


def fit_uplift_models(
    campaign_outcomes: pd.DataFrame,
    customer_value: pd.DataFrame | None,
    ground_truth: dict[str, Any] | None,
    params: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(uplift models for scoring, ``uplift_metrics.json``) per campaign (module docstring)."""
    settings = params["uplift"]
    if campaign_outcomes.empty:
        reason = "no interventions table"
        return {"campaigns": {}}, {"status": "skipped", "reason": reason, "campaigns": {}}
    models, metrics = {}, {}
    valued = customer_value is not None and not customer_value.empty
    if not valued:
        customer_value = None
        logger.warning(
            "Uplift plans weigh every customer 1: there is no customer_value (the CLV stage "
            "has not run or valued no one), so their incremental values count customers "
            "kept, not money"
        )
    for campaign, rows in campaign_outcomes.groupby("campaign", sort=True):
        rows = rows[rows["churned_within_horizon"].notna()].reset_index(drop=True)
        if len(rows) < int(settings["min_customers"]) or rows["arm"].nunique() < 2:
            metrics[campaign] = {
                "status": "skipped",
                "reason": f"{len(rows)} followed-up customers (uplift.min_customers: "
                f"{settings['min_customers']}) or a single arm",
            }
            continue
        features = rows.drop(columns=[c for c in OUTCOME_COLUMNS if c != "customer_id"])
        spec = build_feature_spec(features, settings.get("exclude_features") or [])
        treated = (rows["arm"] == "treatment").to_numpy()
        churned = rows["churned_within_horizon"].to_numpy(dtype=float)
        held = _holdout(rows, float(settings["holdout_share"]), int(params["seed"]))
        model = _learner(params).fit(rows[~held], treated[~held], churned[~held], spec)
        evaluation = _evaluate(
            model,
            rows[held],
            _value_of(rows[held], customer_value),
            _true_effects(ground_truth, str(campaign)),
            float(settings["target_share"]),
        )
        deployed = _learner(params).fit(rows, treated, churned, spec)
        cost = rows.loc[treated, "cost"].median() if "cost" in rows else np.nan
        models[campaign] = {
            "learner": deployed.learner,
            "model": deployed.to_json(),
            "cost_per_contact": None if not np.isfinite(cost) else float(cost),
            "trained_on_customers": len(rows),
        }
        metrics[campaign] = {"status": "fitted", "learner": deployed.learner, **evaluation}
        plans = evaluation["plans"]
        logger.info(
            "Uplift %s: held-out Qini %.4f (risk ranking %.4f); incremental value of the top "
            "%.0f%%: by uplift %s, by risk %s",
            campaign,
            evaluation["qini_coefficient"],
            evaluation["qini_coefficient_of_risk_ranking"],
            100 * plans["target_share"],
            fmt_money(plans["by_uplift_x_value"].get("incremental_value")),
            fmt_money(plans["by_risk_x_value"].get("incremental_value")),
        )
    status = "fitted" if models else "skipped"
    return {"campaigns": models}, jsonable(
        {
            "status": status,
            "value_basis": VALUED if valued else UNVALUED,
            "definitions": {
                "expected_uplift": "P(churn | no action) - P(churn | action) within the horizon",
                "qini_coefficient": "area between the Qini curve (incremental customers kept "
                "per customer, by share targeted) and random targeting, held-out customers",
                "plans": "incremental value (value-weighted retention, treated minus control, "
                "among the customers each plan would contact x their value), held-out "
                "randomised customers",
            },
            "campaigns": metrics,
        }
    )
