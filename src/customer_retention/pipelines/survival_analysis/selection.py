"""The survival curves CLV uses, and the rule that picks between the landmark Weibull PH model
and the boosted AFT model.

Rule: the landmark model (simpler: one Weibull baseline and a hazard ratio per input, readable
and stable) feeds CLV unless the boosted model, on the same test snapshot, has an integrated
Brier score lower by more than ``boosted.min_brier_improvement`` AND a C-index that is not
lower. The boosted model must be better calibrated over the first months (IBS) by a margin
worth its opacity, without ranking customers worse (C-index). Without a landmark model the
order is: boosted model (the landmark model failed), Cox model, Kaplan-Meier curve.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from customer_retention.models.clv import DAYS_PER_MONTH
from customer_retention.models.kaplan_meier import kaplan_meier

from .cox import curves_frame
from .design import DURATION, EVENT

logger = logging.getLogger(__name__)

SOURCES = {
    "landmark": "landmark model",
    "boosted": "boosted AFT model (XGBoost, snapshot features)",
}
METRICS = ("integrated_brier_score_test", "c_index_test")


def _metrics(summary: dict[str, Any] | None) -> dict[str, Any]:
    summary = summary or {}
    return {"status": summary.get("status")} | {m: summary.get(m) for m in METRICS}


def choose_snapshot_model(
    landmark_summary: dict[str, Any] | None,
    boosted_summary: dict[str, Any] | None,
    min_brier_improvement: float,
) -> dict[str, Any]:
    """Which snapshot-feature model feeds CLV, why, and the numbers behind the decision."""
    landmark, boosted = _metrics(landmark_summary), _metrics(boosted_summary)
    decision = {
        "landmark": landmark,
        "boosted": boosted,
        "min_brier_improvement": float(min_brier_improvement),
    }
    fitted = [
        name
        for name, m in (("landmark", landmark), ("boosted", boosted))
        if m["status"] == "fitted"
    ]
    if len(fitted) < 2:  # the caller has the curves of at least one of them
        chosen = fitted[0] if fitted else "landmark"
        other = "boosted" if chosen == "landmark" else "landmark"
        summary = (boosted_summary if other == "boosted" else landmark_summary) or {}
        status = summary.get("status") or "not run"
        reason = f"{status}: {summary['reason']}" if summary.get("reason") else status
        return decision | {
            "chosen_model": chosen,
            "why": f"the {other} model is not available ({reason})",
        }
    improvement = landmark["integrated_brier_score_test"] - boosted["integrated_brier_score_test"]
    better_ranking = boosted["c_index_test"] >= landmark["c_index_test"]
    chosen = "boosted" if improvement > min_brier_improvement and better_ranking else "landmark"
    why = (
        f"integrated Brier score on the test snapshot: boosted "
        f"{boosted['integrated_brier_score_test']:.4f} vs landmark "
        f"{landmark['integrated_brier_score_test']:.4f} (improvement {improvement:+.4f}, "
        f"required > {min_brier_improvement:g}); C-index: boosted {boosted['c_index_test']:.3f} "
        f"vs landmark {landmark['c_index_test']:.3f} (required: not lower)"
    )
    return decision | {"chosen_model": chosen, "why": why, "brier_improvement": improvement}


def select_survival_curves(
    landmark_curves: pd.DataFrame,
    boosted_curves: pd.DataFrame,
    cox_curves: pd.DataFrame,
    survival_table: pd.DataFrame,
    as_of_snapshot: pd.DataFrame,
    landmark_summary: dict[str, Any],
    boosted_summary: dict[str, Any],
    params: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The survival curves CLV uses (module docstring: the landmark model unless the boosted
    model beats it; else the Cox model; else the Kaplan-Meier curve of all customers,
    conditional on each customer's tenure: S(a + k months) / S(a)); the source says which
    model and why."""
    boosted_curves = boosted_curves if boosted_curves is not None else pd.DataFrame()
    if len(landmark_curves) or len(boosted_curves):
        decision = choose_snapshot_model(
            landmark_summary, boosted_summary, params["boosted"]["min_brier_improvement"]
        )
        chosen = decision["chosen_model"]
        logger.info("Survival curves for CLV from the %s model: %s", chosen, decision["why"])
        curves = landmark_curves if chosen == "landmark" else boosted_curves
        return curves, {"source": SOURCES[chosen], **decision}
    if len(cox_curves):
        logger.info("Survival curves for CLV from the Cox model (no landmark model)")
        return cox_curves, {"source": "Cox model (static attributes, conditional on tenure)"}
    logger.warning(
        "Survival curves for CLV from the Kaplan-Meier curve of all customers (no landmark "
        "or Cox model): every customer of the same tenure gets the same curve"
    )
    km = kaplan_meier(survival_table[DURATION], survival_table[EVENT])
    tenure = as_of_snapshot["tenure_days"].to_numpy(dtype=float)
    months = np.arange(1, params["landmark"]["horizon_months"] + 1) * DAYS_PER_MONTH
    now = np.maximum(km.at(tenure), 1e-12)
    later = km.at((tenure[:, None] + months[None, :]).ravel()).reshape(len(tenure), -1)
    curves = curves_frame(as_of_snapshot, later / now[:, None])
    return curves, {"source": "Kaplan-Meier curve of all customers, conditional on tenure"}
