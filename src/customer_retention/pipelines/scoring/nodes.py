"""Score every active customer at the as-of snapshot with the promoted churn model.

No training happens here: the model (XGBoost booster or logistic regression), its calibration
and its feature spec (feature list, dtypes, categorical levels) come from the promoted model
(``data/06_models/promoted``).

Input checks: a feature the model was trained on but absent from the snapshots stops the run
with an error naming the columns; columns the model does not use are ignored (logged); a
categorical level unseen in training is treated as missing (logged with its count), see
``customer_retention.core.model_frame``. ``latest_theme`` is computed from the comments with
the promoted model's own themes (``core.comment_themes.attach_latest_theme``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from customer_retention.core.calibration import apply_calibrator
from customer_retention.core.comment_themes import (  # node: with the model's own themes
    attach_latest_theme as attach_latest_theme,
)
from customer_retention.core.errors import ActionableError
from customer_retention.core.features import DRIVER_GROUPS
from customer_retention.core.model_frame import feature_array
from customer_retention.core.reasons import explain
from customer_retention.models.churn_classifier import (
    contributions,
    mean_probability_check,
    model_kind,
    predict_raw,
)
from customer_retention.models.clv import plan_retention_budget
from customer_retention.models.uplift import TwoModelUplift

logger = logging.getLogger(__name__)


def select_as_of_snapshot(customer_snapshots: pd.DataFrame) -> pd.DataFrame:
    """The rows of the newest snapshot (every customer active at the as-of date)."""
    if "is_as_of_snapshot" not in customer_snapshots:
        raise ValueError("customer_snapshots lack the column is_as_of_snapshot")
    rows = customer_snapshots[customer_snapshots["is_as_of_snapshot"].astype(bool)]
    if rows.empty:
        raise ValueError("customer_snapshots hold no as-of snapshot rows: nobody to score")
    if rows["customer_id"].duplicated().any():
        raise ValueError("The as-of snapshot holds duplicate customer_id values")
    logger.info(
        "Scoring %s active customers at %s",
        f"{len(rows):,}",
        pd.Timestamp(rows["snapshot_date"].iat[0]).date(),
    )
    return rows.reset_index(drop=True)


def risk_deciles(probability: pd.Series) -> pd.Series:
    """1 = the riskiest 10% of customers ... 10 = the safest; ties broken by position."""
    rank = probability.rank(method="first", ascending=False)
    return np.ceil(rank * 10 / len(probability)).astype(int)


class ImplausibleScoresError(ActionableError, ValueError):
    """The scores are far from the churn rate the model was trained on (scoring.sanity)."""


def _use_approximate_shap(params: dict[str, Any], rows: int) -> bool:
    """``approximate_shap``: true / false, or ``auto`` = approximate above exact_shap_max_rows."""
    setting = params.get("approximate_shap", "auto")
    if setting == "auto":
        approximate = rows > int(params.get("exact_shap_max_rows", 100_000))
        if approximate:
            logger.info("%s customers: reasons from approximate (Saabas) contributions", rows)
        return approximate
    return bool(setting)


def _stop_on_implausible_scores(
    probability: np.ndarray, metadata: dict[str, Any], params: dict[str, Any]
) -> None:
    """Stop rather than write a believable wrong at-risk list: the mean churn probability of
    the scored customers must lie within ``sanity.max_mean_ratio`` times the churn rate the
    model was trained on (either way)."""
    check = mean_probability_check(
        float(np.mean(probability)), metadata, (params.get("sanity") or {}).get("max_mean_ratio")
    )
    if check["status"] == "implausible":
        raise ImplausibleScoresError(
            f"The promoted model {metadata.get('model_id')} gives the {len(probability):,} "
            f"scored customers a mean churn probability of {check['mean_probability']:.1%}, "
            f"{check['ratio']:.1f} times the churn rate of its training data "
            f"({check['training_churn_rate']:.1%}); more than scoring.sanity.max_mean_ratio "
            f"({check['max_ratio']:g}) allows. The scored data are probably not what the model "
            "was trained on (another business, a feature computed differently, a changed "
            "unit): retrain (kedro run --pipelines retrain), or raise or null the limit if the "
            "churn rate really moved that far."
        )


def score_customers(
    scoring_input: pd.DataFrame, promoted_churn_model: dict[str, Any], params: dict[str, Any]
) -> pd.DataFrame:
    """At-risk list: calibrated churn probability, risk decile, top reasons and an action.

    Sorted by churn probability, highest first. Reasons come from the SHAP contributions of the
    promoted model (only drivers that push the risk up); the action follows the top driver.
    """
    model = promoted_churn_model["model"]
    metadata = promoted_churn_model["metadata"]
    spec = metadata["feature_spec"]
    if model_kind(model) == "xgboost":
        # One float array for both calls, no DMatrix copy for the probabilities; raises,
        # naming missing feature columns.
        features = feature_array(scoring_input, spec)
        approximate = _use_approximate_shap(params, len(scoring_input))
    else:
        features, approximate = scoring_input, False
    probability = apply_calibrator(
        promoted_churn_model["calibrator"], predict_raw(model, features, spec)
    )
    _stop_on_implausible_scores(probability, metadata, params)
    shares = contributions(model, features, spec, approximate)
    k = int(params["top_reasons"])
    reasons = explain(scoring_input, shares, spec["features"], params["actions"], k)
    scored = pd.DataFrame(
        {
            "customer_id": scoring_input["customer_id"].astype(str),
            "as_of_date": pd.to_datetime(scoring_input["snapshot_date"]).dt.date.astype(str),
            "churn_probability": probability,
        }
    )
    scored = pd.concat([scored, reasons], axis=1)
    scored["model_id"] = metadata["model_id"]
    scored = scored.sort_values(
        ["churn_probability", "customer_id"], ascending=[False, True], ignore_index=True
    )
    scored.insert(3, "risk_decile", risk_deciles(scored["churn_probability"]))
    top = scored[scored["risk_decile"] == 1]
    logger.info(
        "At-risk list: %s customers, mean churn probability %.3f; top decile %.3f; "
        "most common top driver there: %s",
        f"{len(scored):,}",
        scored["churn_probability"].mean(),
        top["churn_probability"].mean(),
        top["top_driver"].mode().iat[0] if top["top_driver"].notna().any() else "-",
    )
    return scored


def estimate_uplift(
    scoring_input: pd.DataFrame, uplift_models: dict[str, Any] | None
) -> pd.DataFrame:
    """Each active customer's ``expected_uplift`` -- P(churn | no action) - P(churn | action)
    within the horizon -- under the best of the campaigns' uplift models (campaign_analysis),
    with that campaign and its cost per contact. Empty without uplift models."""
    columns = ["customer_id", "expected_uplift", "uplift_campaign", "uplift_cost_per_contact"]
    campaigns = (uplift_models or {}).get("campaigns") or {}
    if not campaigns:
        logger.info(
            "No uplift model (no randomised campaign data): the plan uses assumed save rates"
        )
        return pd.DataFrame(columns=columns)
    estimates = pd.DataFrame(
        {
            name: TwoModelUplift.from_json(entry["model"]).predict(scoring_input)
            for name, entry in campaigns.items()
        }
    )
    best = estimates.idxmax(axis=1)
    costs = {name: entry.get("cost_per_contact") for name, entry in campaigns.items()}
    result = pd.DataFrame(
        {
            "customer_id": scoring_input["customer_id"].astype(str).to_numpy(),
            "expected_uplift": estimates.max(axis=1).to_numpy(),
            "uplift_campaign": best.to_numpy(),
            "uplift_cost_per_contact": best.map(costs).to_numpy(dtype=float),
        }
    )
    logger.info(
        "Expected uplift of %s customers from %s campaign model(s): %s would be kept more "
        "likely by an action, %s less (do not contact)",
        f"{len(result):,}",
        len(campaigns),
        f"{int((result['expected_uplift'] > 0).sum()):,}",
        f"{int((result['expected_uplift'] < 0).sum()):,}",
    )
    return result[columns]


def rank_by_value_at_risk(
    churn_scores: pd.DataFrame,
    customer_value: pd.DataFrame,
    customer_uplift: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The at-risk list: scores plus CLV and value_at_risk = churn_probability x CLV, sorted by
    value at risk (highest first), and the expected uplift when campaign models exist. A scored
    customer without a value keeps NaN (logged)."""
    if customer_value is None:
        raise FileNotFoundError(
            "customer_value (data/07_model_output/customer_value.parquet) is absent: the CLV "
            "stage has not run. Run `kedro run --pipelines retrain` (or `--pipelines clv`) first."
        )
    value = customer_value[["customer_id", "clv"]].astype({"customer_id": str})
    ranked = churn_scores.merge(value, on="customer_id", how="left")
    missing = ranked["clv"].isna().sum()
    if missing:
        logger.warning("%s scored customers have no CLV (not in customer_value)", f"{missing:,}")
    ranked["value_at_risk"] = ranked["churn_probability"] * ranked["clv"]
    if customer_uplift is not None and len(customer_uplift):
        ranked = ranked.merge(customer_uplift, on="customer_id", how="left")
    return ranked.sort_values(
        ["value_at_risk", "churn_probability"],
        ascending=False,
        ignore_index=True,
        na_position="last",
    )


def _assign_control(contact: pd.Series, share: float, seed: int) -> pd.Series:
    """``treatment`` for the customers to contact, ``control`` for a seeded random ``share`` of
    them held back (the closed loop: every action is measured), ``none`` for the rest."""
    arm = pd.Series("none", index=contact.index, dtype=object)
    chosen = np.flatnonzero(contact.to_numpy())
    held = np.random.default_rng(seed).random(len(chosen)) < share
    arm.iloc[chosen] = np.where(held, "control", "treatment")
    return arm


def build_retention_plan(
    at_risk_customers: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Whom to contact under the budget, and its expected return against contacting the same
    number of customers ranked by churn probability.

    With an uplift model (``expected_uplift`` from randomised campaigns): the expected saved
    value of a contact is expected_uplift x CLV (measured; at most the churn probability), the
    cost the campaign's; customers whom the action would push away (negative uplift) are never
    contacted. Without one: save
    rate x value at risk, the save rate by the driver group of the customer's top reason
    (``save_rate_by_driver_group``, else ``default_save_rate``) -- an assumption, shown with
    the return under ``save_rate_range`` times those rates.

    A seeded ``control_share`` of the chosen customers is held back as a control group
    (``arm``), so that the next retraining measures what the contacts did.
    """
    cost = float(params["cost_per_contact"])
    plan = at_risk_customers[
        [
            "customer_id",
            "churn_probability",
            "clv",
            "value_at_risk",
            "top_driver",
            "recommended_action",
            *[c for c in ("expected_uplift", "uplift_campaign") if c in at_risk_customers],
        ]
    ].copy()
    plan["value_at_risk"] = plan["value_at_risk"].fillna(0.0)
    measured = "expected_uplift" in plan and plan["expected_uplift"].notna().any()
    if measured:
        uplift_cost = at_risk_customers.get("uplift_cost_per_contact")
        if uplift_cost is not None and uplift_cost.notna().any():
            cost = float(uplift_cost.median())
        # An action cannot keep more than the customer's whole churn risk: the per-customer
        # estimates of a few hundred campaign customers are noisy, and the top of a ranked list
        # of noisy estimates overstates (the winner's curse).
        plan["save_rate"] = (
            plan["expected_uplift"]
            .fillna(0.0)
            .clip(lower=0.0)
            .clip(upper=plan["churn_probability"])
        )
        plan["expected_saved_value"] = plan["save_rate"] * plan["clv"].fillna(0.0)
        value_basis = plan["clv"].fillna(0.0)
    else:
        group = plan["top_driver"].map(DRIVER_GROUPS)
        plan["save_rate"] = group.map(params["save_rate_by_driver_group"]).fillna(
            params["default_save_rate"]
        )
        plan["expected_saved_value"] = plan["save_rate"] * plan["value_at_risk"]
        value_basis = plan["value_at_risk"]
    plan["net_value"] = plan["expected_saved_value"] - cost
    plan["contact"] = plan_retention_budget(value_basis, plan["save_rate"], cost, params["budget"])
    plan["arm"] = _assign_control(
        plan["contact"], float(params["control_share"]), int(params["control_seed"])
    )
    contacts = int(plan["contact"].sum()) or int(params["budget"] // cost)
    by_churn = plan.nlargest(contacts, "churn_probability")

    def outcome(chosen: pd.DataFrame, scale: float = 1.0) -> dict[str, Any]:
        spent = cost * len(chosen)
        saved = float(chosen["expected_saved_value"].sum()) * scale
        return {
            "contacts": len(chosen),
            "cost": spent,
            "expected_saved_value": saved,
            "expected_net_return": saved - spent,
            "return_on_spend": (saved - spent) / spent if spent else None,
        }

    chosen = plan[plan["contact"]]
    low, high = (float(x) for x in params["save_rate_range"])
    summary = {
        "budget": params["budget"],
        "cost_per_contact": cost,
        "basis": (
            "measured: expected uplift from the randomised campaigns' uplift models "
            "(campaign_analysis), held-out checks in uplift_metrics.json"
            if measured
            else "assumed: save rates by driver group from parameters (no randomised "
            "campaign data); the range shows the return at "
            f"{low:g}x to {high:g}x those rates"
        ),
        "default_save_rate": params["default_save_rate"],
        "save_rate_by_driver_group": params["save_rate_by_driver_group"],
        "plan": outcome(chosen),
        "plan_range": None
        if measured
        else {
            "low": outcome(chosen, low),
            "high": outcome(chosen, high),
        },
        "top_n_by_churn_probability": outcome(by_churn),
        "contacts_by_action": chosen["recommended_action"].value_counts().to_dict(),
        "control_group": {
            "share": float(params["control_share"]),
            "seed": int(params["control_seed"]),
            "treatment": int((plan["arm"] == "treatment").sum()),
            "control": int((plan["arm"] == "control").sum()),
            "note": "contact only arm = treatment; arm = control customers are held back and "
            "measured: add both to the interventions table with the date of the campaign",
        },
        "note": "Both use the same number of contacts; the plan ranks by expected saved value net of cost.",
    }
    logger.info(
        "Retention plan (%s): %s contacts (%s held back as control), expected net return %s "
        "(same number by churn probability: %s)",
        "measured uplift" if measured else "assumed save rates",
        summary["plan"]["contacts"],
        summary["control_group"]["control"],
        f"{summary['plan']['expected_net_return']:,.0f}",
        f"{summary['top_n_by_churn_probability']['expected_net_return']:,.0f}",
    )
    plan = plan.sort_values("net_value", ascending=False, ignore_index=True)
    plan.insert(0, "priority", np.arange(1, len(plan) + 1))
    return plan, summary
