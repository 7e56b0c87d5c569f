"""Time to churn: Kaplan-Meier by segment, Cox PH, Weibull AFT, a landmark model and its
boosted challenger.

Durations are integer days. Active customers are right-censored at the as-of date, never
dropped and never counted as churned. One module per model (``km``, ``cox`` and ``cox_nodes``,
``landmark``, ``boosted``; shared design matrices in ``design``, the snapshot models' shared
evaluation in ``evaluation``, the choice of the CLV curves in ``selection``); this module is
the index of the nodes.
"""

from __future__ import annotations

from typing import Any

from .boosted import fit_boosted_survival
from .cox import cox_churn_probability
from .cox_nodes import fit_cox_model, fit_weibull_aft, plot_hazard_ratios
from .design import design_matrix, static_design
from .km import (
    build_survival_table,
    estimate_km_curves,
    fit_kaplan_meier_by_segment,
    km_sources,
    plot_kaplan_meier,
)
from .landmark import fit_landmark_model, plot_landmark_check
from .selection import select_survival_curves

__all__ = [
    "build_survival_table",
    "cox_churn_probability",
    "design_matrix",
    "estimate_km_curves",
    "fit_boosted_survival",
    "fit_cox_model",
    "fit_landmark_model",
    "fit_weibull_aft",
    "fit_kaplan_meier_by_segment",
    "km_sources",
    "plot_hazard_ratios",
    "plot_kaplan_meier",
    "plot_landmark_check",
    "select_survival_curves",
    "static_design",
    "summarise_survival",
]


def summarise_survival(
    km_summary: dict[str, Any],
    cox_summary: dict[str, Any],
    aft_summary: dict[str, Any],
    landmark_summary: dict[str, Any],
    boosted_summary: dict[str, Any],
    curves_source: dict[str, Any],
) -> dict[str, Any]:
    """Everything the report shows about time to churn, in one JSON. ``model_comparison``
    puts the landmark and boosted models' test-snapshot metrics side by side (same rows, same
    grid) with the decision on which feeds CLV (``selection``)."""
    models = {
        "cox": cox_summary,
        "weibull_aft": aft_summary,
        "landmark": landmark_summary,
        "boosted": boosted_summary,
    }
    snapshot_models = {"landmark": landmark_summary or {}, "boosted": boosted_summary or {}}
    return {
        "kaplan_meier": km_summary,
        **models,
        "survival_curves_for_clv": curves_source,
        "model_comparison": {
            "c_index_test": {
                name: (summary or {}).get("c_index_test") for name, summary in models.items()
            },
            "integrated_brier_score_test": {
                name: summary.get("integrated_brier_score_test")
                for name, summary in snapshot_models.items()
            }
            | {
                "kaplan_meier_reference": snapshot_models["landmark"].get(
                    "integrated_brier_score_kaplan_meier_reference"
                )
            },
            "decision": {
                key: curves_source.get(key)
                for key in ("source", "chosen_model", "why", "min_brier_improvement")
            },
            "note": (
                "Cox and AFT use static attributes from signup; the landmark and boosted "
                "models use snapshot features and are tested on the same snapshot."
            ),
        },
    }
