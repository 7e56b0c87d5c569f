"""Step 9: the model card (``data/08_reporting/model_card.json``): what the deployed model is for,
what it learned from, how good it is with what spread, how early it warns, what it cannot do and
why it was promoted (Mitchell et al. 2019, "Model cards for model reporting", FAT*)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from customer_retention.core.features import FEATURES
from customer_retention.core.serialization import jsonable

SOURCE_OF_ATTRIBUTES = "customers (attribute)"


def _features(spec: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for name in spec["features"]:
        feature = FEATURES.get(name)
        rows.append(
            {
                "name": name,
                "source": feature.source if feature else SOURCE_OF_ATTRIBUTES,
                "meaning": feature.meaning if feature else "static customer attribute",
                "type": spec["dtypes"][name],
            }
        )
    return rows


def _data_age(window: dict[str, Any]) -> dict[str, Any]:
    as_of, latest = window.get("as_of_date"), window.get("latest_training_snapshot")
    if not (as_of and latest):
        return {}
    return {
        "as_of_date": as_of,
        "latest_training_snapshot": latest,
        "days_from_latest_training_snapshot_to_as_of": int(
            (pd.Timestamp(as_of) - pd.Timestamp(latest)).days
        ),
    }


def _limitations(
    metadata: dict[str, Any], backtest: dict[str, Any], lead_time: dict[str, Any]
) -> list[str]:
    notes = []
    if metadata["training_window"]["split"] != "temporal":
        notes.append(
            "Too few labelled snapshots for a temporal backtest: customers were split into "
            "folds, so the metrics do not show how the model ages as behaviour drifts."
        )
    cutoffs = len(backtest.get("cutoffs", []))
    if cutoffs < 4:
        notes.append(f"Only {cutoffs} backtest cutoff(s): the spread of the metrics is rough.")
    flagged = lead_time.get("share_of_flagged_churners_with_signal")
    if flagged is not None:
        notes.append(
            f"{flagged:.0%} of the churners the model flags already carried a leaving signal "
            f"({', '.join(lead_time['signals'])}); for them the warning comes late. ROC-AUC "
            f"without them: {lead_time['without_signal'].get('roc_auc', float('nan')):.3f}."
        )
    elif lead_time.get("status") != "measured":
        notes.append(
            "Lead time not measured ("
            + str(lead_time.get("reason", "no signal"))
            + "): part of the lift may come from customers already leaving."
        )
    notes.append(
        f"Calibrated on held-out customers of {metadata['training_window'].get('valid', ['?'])[-1]}: "
        "a change of the churn rate since then shifts the probabilities (see the score drift "
        "in monitoring)."
    )
    notes.append(
        "The drivers explain the model's scores, not what an action would change: they are "
        "associations, not causal effects."
    )
    return notes


def write_model_card(
    churn_model_metadata: dict[str, Any],
    churn_backtest: dict[str, Any],
    churn_lead_time: dict[str, Any],
    treated_labels: dict[str, Any],
    horizon_days: int,
) -> dict[str, Any]:
    """The model card of the model this run trained (promoted or not, said so)."""
    metadata = churn_model_metadata
    window = metadata["training_window"]
    chosen = churn_backtest["selection"]["chosen"]
    other = next(k for k in churn_backtest["summary"] if k != chosen)
    evaluation = metadata.get("metrics", {})
    scorer = "xgboost_calibrated" if chosen == "xgboost" else "logistic_baseline"
    card = {
        "model_id": metadata["model_id"],
        "created_at": metadata["created_at"],
        "model_kind": metadata["model_kind"],
        "intended_use": (
            f"Rank the customers active at the as-of date by their probability of churning "
            f"within {horizon_days} days, to decide whom a retention action should reach "
            "first. Not for: decisions about one customer without review, horizons other "
            f"than {horizon_days} days, customers unlike those in the training data, or "
            "estimating what an action would change."
        ),
        "training_window": {
            "snapshots": window.get("train", []),
            "calibration_snapshot": (window.get("valid") or [None])[-1],
            "rows": (metadata.get("data_fingerprint") or {}).get("rows"),
            "how": window.get("reason"),
            "treated_customers": treated_labels,
        },
        "data_age_at_scoring": _data_age(window),
        "features": _features(metadata["feature_spec"]),
        "backtest": {
            "kind": churn_backtest["kind"],
            "cutoffs": [c["cutoff"] for c in churn_backtest["cutoffs"]],
            "chosen": {"model": chosen, **churn_backtest["summary"][chosen]},
            "alternative": {"model": other, **churn_backtest["summary"][other]},
            "selection": churn_backtest["selection"],
        },
        "evaluation_split": {
            "windows": metadata.get("evaluation_window"),
            "metrics": evaluation.get(scorer, {}),
        },
        "calibration": {
            "method": metadata["calibration"].get("method"),
            "fitted_on": metadata["calibration"].get("fitted_on"),
            "backtest_ece": churn_backtest["summary"][chosen].get("ece"),
        },
        "lead_time": churn_lead_time,
        "known_limitations": _limitations(metadata, churn_backtest, churn_lead_time),
        "promotion": metadata.get("promotion"),
    }
    return jsonable(card)
