"""Score every active customer at the as-of snapshot with the promoted churn model.

No training happens here: the model (XGBoost booster or logistic regression), its calibration
and its feature spec (feature list, dtypes, categorical levels) come from the promoted model
(``data/06_models/promoted``).

Input checks: a feature the model was trained on but absent from the snapshots stops the run
with an error naming the columns; columns the model does not use are ignored (logged); a
categorical level unseen in training is treated as missing (logged with its count), see
``customer_retention.core.model_frame``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from customer_retention.core.calibration import apply_calibrator
from customer_retention.core.features import DRIVER_GROUPS
from customer_retention.core.model_frame import feature_array
from customer_retention.core.reasons import explain
from customer_retention.models.churn_classifier import contributions, model_kind, predict_raw
from customer_retention.models.clv import plan_retention_budget

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


def _use_approximate_shap(params: dict[str, Any], rows: int) -> bool:
    """``approximate_shap``: true / false, or ``auto`` = approximate above exact_shap_max_rows."""
    setting = params.get("approximate_shap", "auto")
    if setting == "auto":
        approximate = rows > int(params.get("exact_shap_max_rows", 100_000))
        if approximate:
            logger.info("%s customers: reasons from approximate (Saabas) contributions", rows)
        return approximate
    return bool(setting)


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


def rank_by_value_at_risk(churn_scores: pd.DataFrame, customer_value: pd.DataFrame) -> pd.DataFrame:
    """The at-risk list: scores plus CLV and value_at_risk = churn_probability x CLV, sorted by
    value at risk (highest first). A scored customer without a value keeps NaN (logged)."""
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
    return ranked.sort_values(
        ["value_at_risk", "churn_probability"],
        ascending=False,
        ignore_index=True,
        na_position="last",
    )


def build_retention_plan(
    at_risk_customers: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Whom to contact under the budget (max expected saved value - cost), and its expected
    return against contacting the same number of customers ranked by churn probability.

    The save rate of a contact depends on the action, i.e. on the driver group of the
    customer's top reason (``save_rate_by_driver_group``, else ``default_save_rate``).
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
        ]
    ].copy()
    plan["value_at_risk"] = plan["value_at_risk"].fillna(0.0)
    group = plan["top_driver"].map(DRIVER_GROUPS)
    plan["save_rate"] = group.map(params["save_rate_by_driver_group"]).fillna(
        params["default_save_rate"]
    )
    plan["expected_saved_value"] = plan["save_rate"] * plan["value_at_risk"]
    plan["net_value"] = plan["expected_saved_value"] - cost
    plan["contact"] = plan_retention_budget(
        plan["value_at_risk"], plan["save_rate"], cost, params["budget"]
    )
    contacts = int(plan["contact"].sum()) or int(params["budget"] // cost)
    by_churn = plan.nlargest(contacts, "churn_probability")

    def outcome(chosen: pd.DataFrame) -> dict[str, Any]:
        spent = cost * len(chosen)
        saved = float(chosen["expected_saved_value"].sum())
        return {
            "contacts": len(chosen),
            "cost": spent,
            "expected_saved_value": saved,
            "expected_net_return": saved - spent,
            "return_on_spend": (saved - spent) / spent if spent else None,
        }

    summary = {
        "budget": params["budget"],
        "cost_per_contact": cost,
        "default_save_rate": params["default_save_rate"],
        "save_rate_by_driver_group": params["save_rate_by_driver_group"],
        "plan": outcome(plan[plan["contact"]]),
        "top_n_by_churn_probability": outcome(by_churn),
        "contacts_by_action": plan.loc[plan["contact"], "recommended_action"]
        .value_counts()
        .to_dict(),
        "note": "Both use the same number of contacts; the plan ranks by expected saved value net of cost.",
    }
    logger.info(
        "Retention plan: %s contacts, expected net return %s (same number by churn probability: %s)",
        summary["plan"]["contacts"],
        f"{summary['plan']['expected_net_return']:,.0f}",
        f"{summary['top_n_by_churn_probability']['expected_net_return']:,.0f}",
    )
    plan = plan.sort_values("net_value", ascending=False, ignore_index=True)
    plan.insert(0, "priority", np.arange(1, len(plan) + 1))
    return plan, summary
