"""Reading the run plan (written by the ``preflight`` stage): each stage asks it whether to run."""

from __future__ import annotations

from typing import Any

PLAN_STAGES = (
    "retention_kpis",
    "cox_and_aft",
    "kaplan_meier_segments",
    "landmark_model",
    "sbg_cross_check",
    "clv",
    "churn_model",
)
"""The analyses the run plan decides on (``run_plan["stages"]``)."""


def skip_reason(run_plan: dict[str, Any] | None, stage: str) -> str | None:
    """Why the run plan skips ``stage``; None when it runs (or when a node is called without a
    plan, as in unit tests)."""
    if stage not in PLAN_STAGES:
        raise KeyError(f"{stage!r} is not a run-plan stage; expected one of {PLAN_STAGES}")
    decision = ((run_plan or {}).get("stages") or {}).get(stage) or {"run": True}
    return None if decision["run"] else decision["why"]
