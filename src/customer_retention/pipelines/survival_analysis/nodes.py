"""Time to churn: Kaplan-Meier by segment, Cox PH, Weibull AFT and a landmark model.

Durations are integer days. Active customers are right-censored at the as-of date, never
dropped and never counted as churned. One module per model (``km``, ``cox`` and ``cox_nodes``,
``landmark``; shared design matrices in ``design``); this module is the index of the nodes.
"""

from __future__ import annotations

from typing import Any

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
from .landmark import fit_landmark_model, plot_landmark_check, select_survival_curves

__all__ = [
    "build_survival_table",
    "cox_churn_probability",
    "design_matrix",
    "estimate_km_curves",
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
    curves_source: dict[str, Any],
) -> dict[str, Any]:
    """Everything the report shows about time to churn, in one JSON."""
    models = {"cox": cox_summary, "weibull_aft": aft_summary, "landmark": landmark_summary}
    return {
        "kaplan_meier": km_summary,
        **models,
        "survival_curves_for_clv": curves_source,
        "model_comparison": {
            "c_index_test": {name: summary.get("c_index_test") for name, summary in models.items()},
            "note": "Cox and AFT use static attributes from signup; the landmark model uses snapshot features.",
        },
    }
