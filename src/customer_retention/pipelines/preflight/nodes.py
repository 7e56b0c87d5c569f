"""Pre-flight check: what this run will do with these data, decided in seconds, before the
heavy steps.

Written to ``data/04_feature/run_plan.json`` and logged: the effective as-of date, the shape
of the history (a full history, or one snapshot with a churn flag), the snapshot dates with
their customers, labelled rows and churners, the customers' attributes with their kinds, and
which analyses will run or be skipped and why. Stages read their decision from the plan
(``stages``), so the log, the plan and what runs cannot disagree. A run that cannot produce a
meaningful result stops here with a message naming the parameter to change.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from customer_retention.core import attributes as attribute_kinds
from customer_retention.core.errors import ActionableError
from customer_retention.core.splits import temporal_split_possible

logger = logging.getLogger(__name__)


class RunPlanError(ActionableError, ValueError):
    """The data and parameters cannot give a meaningful run; the message says what to change."""


def _snapshot_table(spine: pd.DataFrame) -> list[dict[str, Any]]:
    labels = spine["churned_within_horizon"]
    grouped = spine.assign(labelled=labels.notna(), churners=labels.fillna(0.0) > 0).groupby(
        "snapshot_date"
    )
    table = grouped.agg(
        customers=("customer_id", "size"),
        labelled=("labelled", "sum"),
        churners=("churners", "sum"),
    )
    return [
        {
            "date": str(date.date()),
            "customers": int(row.customers),
            "labelled": int(row.labelled),
            "churners": int(row.churners),
        }
        for date, row in table.iterrows()
    ]


def _check_labels(snapshots: list[dict[str, Any]], as_of: pd.Timestamp, params: dict) -> None:
    """Stop when no model could be trained: no labelled row, or no churner among them."""
    horizon = int(params["horizon_days"])
    if not snapshots:
        raise RunPlanError(
            f"No customer is active at any snapshot date (as-of date {as_of.date()}, "
            f"{params['n_snapshots']} snapshots {params['snapshot_every_months']} month(s) "
            "apart). Check feature_engineering.as_of_date against the dates in the data."
        )
    labelled = [s for s in snapshots if s["labelled"]]
    if not labelled:
        raise RunPlanError(
            f"No labelled snapshot: a snapshot's label needs its {horizon}-day horizon to end "
            f"before the as-of date {as_of.date()}, and the earliest snapshot is "
            f"{snapshots[0]['date']}. Raise feature_engineering.n_snapshots, shorten "
            "feature_engineering.horizon_days, or set a later feature_engineering.as_of_date."
        )
    if not any(s["churners"] for s in labelled):
        raise RunPlanError(
            f"No churner in the labelled snapshots ({', '.join(s['date'] for s in labelled)}): "
            f"nobody left within {horizon} days of them. Raise feature_engineering.n_snapshots "
            "or horizon_days; for one snapshot with a churn flag, end the churners' "
            "subscriptions after the snapshot date (README: bring your own data)."
        )
    if not any(s["date"] == str(as_of.date()) for s in snapshots):
        logger.warning("No customer is active at the as-of date %s: nobody to score", as_of.date())


def _stage(runs: bool, why_it_runs: str, why_not: str) -> dict[str, Any]:
    return {"run": bool(runs), "why": why_it_runs if runs else why_not}


def _landmark(enabled: Any, labelled_with_churners: int) -> dict[str, Any]:
    """The landmark model trains on earlier labelled snapshots and tests on the last: it needs
    two with churners. ``enabled``: auto (fit when possible), true (required), false."""
    needs = 2
    if enabled is False or enabled == "false":
        return _stage(False, "", "survival_analysis.landmark.enabled is false")
    if enabled is True and labelled_with_churners < needs:
        raise RunPlanError(
            f"survival_analysis.landmark.enabled is true, but the landmark model needs {needs} "
            f"labelled snapshots with churners and the data have {labelled_with_churners}. "
            "Set it to auto (the Cox curves then feed CLV) or add snapshots."
        )
    return _stage(
        labelled_with_churners >= needs,
        f"{labelled_with_churners} labelled snapshots with churners",
        f"{labelled_with_churners} labelled snapshot(s) with churners; the landmark model "
        f"needs {needs} (train on earlier, test on the last)",
    )


def _decide(
    history: str,
    contract: str,
    labelled_with_churners: int,
    covariates: list[str],
    segments: list[str],
    survival: dict[str, Any],
    temporal_split: tuple[bool, int],
) -> dict[str, dict[str, Any]]:
    """Which analyses run, and why (or why not). ``temporal_split``: whether the churn model
    gets a temporal split (the rule of ``core.splits``), and how many labelled snapshots."""
    full, contractual = history == "full", contract == "contractual"
    landmark = _landmark(
        (survival.get("landmark") or {}).get("enabled", "auto"), labelled_with_churners
    )
    if not contractual:
        curves = "non-contractual: BG/NBD and Gamma-Gamma"
    elif landmark["run"]:
        curves = "contractual: survival curves from the landmark model"
    elif covariates:
        curves = "contractual: survival curves from the Cox model"
    else:
        curves = "contractual: survival curves from the Kaplan-Meier curve of all customers"
    temporal, labelled = temporal_split
    return {
        "retention_kpis": _stage(
            full,
            "a history of starts and ends",
            "one snapshot with a churn flag: monthly churn, cohorts and revenue retention "
            "need a history (not enough history)",
        ),
        "cox_and_aft": _stage(
            bool(covariates),
            f"covariates: {', '.join(covariates)}",
            "the customers table has no attribute a survival model can use (numeric, or "
            "categorical with few levels)",
        ),
        "kaplan_meier_segments": _stage(
            bool(segments),
            f"segments: {', '.join(segments)}",
            "no categorical attribute with few levels: overall curve only",
        ),
        "landmark_model": landmark,
        "sbg_cross_check": _stage(
            full and contractual,
            "monthly renewals observed over a history",
            "needs a history of monthly renewals" if not full else "needs subscriptions",
        ),
        "clv": _stage(True, curves, ""),
        "churn_model": _stage(
            True,
            "temporal split (train on earlier snapshots, test on the last labelled one)"
            if temporal
            else f"{labelled} labelled snapshot(s): too few for train, valid and test a label "
            "horizon apart (churn_model.split), so a customer-grouped random split",
            "",
        ),
    }


def _temporal_split(
    snapshots: list[dict[str, Any]], params: dict[str, Any], churn_split: dict[str, Any]
) -> tuple[bool, int]:
    dates = [s["date"] for s in snapshots if s["labelled"]]
    possible = temporal_split_possible(
        dates,
        churn_split.get("gap_snapshots", "auto"),
        int(params["horizon_days"]),
        int(churn_split.get("min_labelled_snapshots", 2)),
    )
    return possible, len(dates)


def plan_run(
    customer_timeline: pd.DataFrame,
    snapshot_spine: pd.DataFrame,
    customer_attributes: dict[str, Any],
    params: dict[str, Any],
    survival_params: dict[str, Any],
    churn_params: dict[str, Any],
) -> dict[str, Any]:
    """The run plan (see the module docstring); raises :class:`RunPlanError` when the run
    cannot give a meaningful result."""
    as_of = pd.Timestamp(customer_timeline["as_of_date"].iat[0])
    history = str(customer_timeline["history"].iat[0])
    contract = str(customer_timeline["contract"].iat[0])
    snapshots = _snapshot_table(snapshot_spine)
    _check_labels(snapshots, as_of, params)
    exclude = survival_params.get("exclude_attributes") or []
    covariates = attribute_kinds.covariates(customer_attributes, exclude)
    segments = [
        s
        for s in attribute_kinds.segments(customer_attributes, survival_params.get("km_segments"))
        if s not in exclude
    ]
    with_churners = sum(1 for s in snapshots if s["churners"])
    plan = {
        "as_of_date": str(as_of.date()),
        "history": history,
        "contract": contract,
        "contract_reason": str(customer_timeline["contract_reason"].iat[0]),
        "horizon_days": int(params["horizon_days"]),
        "snapshots": snapshots,
        "labelled_snapshots": sum(1 for s in snapshots if s["labelled"]),
        "labelled_snapshots_with_churners": with_churners,
        "attributes": {
            column: f"{info['kind']} ({info['levels']} values)"
            for column, info in customer_attributes.get("columns", {}).items()
        },
        "covariates": covariates,
        "segments": segments,
        "stages": _decide(
            history,
            contract,
            with_churners,
            covariates,
            segments,
            survival_params,
            _temporal_split(snapshots, params, churn_params),
        ),
    }
    _log_plan(plan)
    return plan


def _log_plan(plan: dict[str, Any]) -> None:
    logger.info(
        "Run plan: as-of date %s, %s history (%s: %s), horizon %s days",
        plan["as_of_date"],
        plan["history"].replace("_", " "),
        plan["contract"],
        plan["contract_reason"],
        plan["horizon_days"],
    )
    logger.info(
        "Snapshots (date: customers / labelled / churners): %s",
        "; ".join(
            f"{s['date']}: {s['customers']:,} / {s['labelled']:,} / {s['churners']:,}"
            for s in plan["snapshots"]
        ),
    )
    for stage, decision in plan["stages"].items():
        logger.log(
            logging.INFO if decision["run"] else logging.WARNING,
            "%s %s: %s",
            "Runs" if decision["run"] else "Skipped",
            stage.replace("_", " "),
            decision["why"],
        )
