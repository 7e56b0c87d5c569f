"""The run section: what this run did, data quality, data window, model versions, parameters,
code version and drift."""

from __future__ import annotations

from typing import Any

import pandas as pd
import yaml
from matplotlib.figure import Figure

import customer_retention
from customer_retention.core import charts
from customer_retention.core.features import FEATURE_LABELS
from customer_retention.core.formatting import (
    fmt_date,
    fmt_int,
    fmt_month,
    fmt_number,
    fmt_p_value,
    fmt_share,
    humanize,
)
from customer_retention.provenance import git_commit

from . import takeaways
from .blocks import (
    _as_of_health,
    _chart,
    _frame,
)

KEY_PARAMETERS = (
    ("feature_engineering", "horizon_days", "churn horizon (days)"),
    ("feature_engineering", "n_snapshots", "snapshots"),
    ("feature_engineering", "grace_days", "grace days between subscriptions"),
    ("feature_engineering", "inactivity_days", "inactivity days (no subscriptions)"),
    ("churn_model", "promotion", "model promotion rule"),
    ("clv", "gross_margin", "gross margin"),
    ("clv", "annual_discount_rate", "annual discount rate"),
    ("clv", "horizon_months", "CLV horizon (months)"),
    ("retention_plan", "budget", "retention budget"),
    ("retention_plan", "cost_per_contact", "cost per contact"),
    (
        "retention_metrics",
        "health_score",
        "health-score weights (configured; as applied: Retention)",
    ),
)


def _parameter_text(value: Any) -> str:
    if isinstance(value, dict):
        if "weights" in value:
            value = value["weights"]
        return ", ".join(f"{humanize(k)} {v}" for k, v in value.items())
    return (
        f"{value:,}"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else str(value)
    )


def _quality_rows(data_quality: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per table: rows in, clean, quarantined by reason, and whether they reconcile."""
    rows = []
    for table, report in (data_quality.get("tables") or {}).items():
        reasons = report.get("quarantined_by_reason") or {}
        clean, quarantined = report.get("rows_clean", 0), report.get("rows_quarantined", 0)
        rows.append(
            {
                "table": humanize(table),
                "status": report.get("status", ""),
                "rows_in": fmt_int(report.get("rows_in")),
                "rows_clean": fmt_int(report.get("rows_clean")),
                "rows_quarantined": fmt_int(report.get("rows_quarantined")),
                "reasons": "; ".join(f"{r}: {n:,}" for r, n in reasons.items()),
                "reconciled": report.get("status") != "present"
                or report.get("rows_in") == clean + quarantined,
            }
        )
    return rows


def _data_window(
    data_quality: dict[str, Any], monthly: pd.DataFrame, snapshot_dates: list
) -> dict[str, str]:
    first, last = (fmt_date(snapshot_dates[i]) if snapshot_dates else "n/a" for i in (0, -1))
    return {
        "contract": data_quality.get("contract", "unknown"),
        "first_month": fmt_month(monthly["month"].iat[0]) if len(monthly) else "n/a",
        "last_month": fmt_month(monthly["month"].iat[-1]) if len(monthly) else "n/a",
        "as_of": last,
        "snapshots": f"{len(snapshot_dates)} ({first} to {last})" if snapshot_dates else "n/a",
    }


def _model_facts(metadata: dict[str, Any], promotion: dict[str, Any]) -> dict[str, Any]:
    """The latest trained model, its windows and the promotion decision."""
    training = metadata.get("training_window") or {}
    return {
        "trained_id": metadata.get("model_id", "n/a"),
        "trained_at": metadata.get("created_at", "n/a"),
        "train": _window_text(training.get("train")),
        "valid": _window_text(training.get("valid")),
        "test": _window_text(
            (metadata.get("evaluation_window") or {}).get("test") or training.get("test")
        ),
        "kind": metadata.get("model_kind", "xgboost"),
        "decision": promotion.get("decision", "n/a"),
        "reason": promotion.get("reason", ""),
        "promoted_id": promotion.get("promoted_model_id", "n/a"),
        "champion_id": promotion.get("champion_model_id"),
        "metric": promotion.get("metric", ""),
        "challenger_score": fmt_number(promotion.get("challenger_score"), 3),
        "champion_score": fmt_number(promotion.get("champion_score"), 3),
        "model_code": (metadata.get("code_version") or {}).get("git_commit", "n/a"),
        "xgboost": (metadata.get("training") or {}).get("xgboost_version", "n/a"),
    }


def _drift_context(drift_report: dict[str, Any]) -> tuple[dict[str, Any], Figure | None]:
    """The Model monitoring subsection from the monitoring stage's drift report."""
    features = pd.DataFrame(drift_report.get("features") or [])
    if "psi" in features:
        features = features.dropna(subset=["psi"]).sort_values("psi", ascending=False)
        features["drifted"] = features.get("drifted", False)
    figure = charts.drift_bars(features, FEATURE_LABELS) if len(features) else None
    rows = [
        {
            "feature": FEATURE_LABELS.get(row["feature"], humanize(row["feature"])),
            "psi": fmt_number(row["psi"], 3),
            "ks": fmt_number(row.get("ks_statistic"), 3),
            "p": fmt_p_value(row.get("ks_pvalue")),
            "drifted": "yes" if row["drifted"] else "no",
        }
        for _, row in features.iterrows()
    ]
    reference = drift_report.get("reference_window") or {}
    shift = drift_report.get("score_shift") or {}
    context = {
        "chart": _chart(
            "drift",
            "Feature drift since training",
            takeaways.drift(drift_report, FEATURE_LABELS),
            None if figure else "The drift check reports no features.",
            "PSI below 0.1: no meaningful shift; 0.1–0.25: moderate; above 0.25: large.",
        ),
        "reference": f"{reference.get('start', 'n/a')} to {reference.get('end', 'n/a')}",
        "scoring_snapshot": drift_report.get("scoring_snapshot", "n/a"),
        "model_age_days": fmt_int(drift_report.get("model_age_days")),
        "data_age_days": fmt_int(drift_report.get("data_age_days"))
        if drift_report.get("data_age_days") is not None
        else None,
        "training_data_end": drift_report.get("training_data_end"),
        "score_mean": (
            f"{fmt_share(shift.get('mean_reference'))} → {fmt_share(shift.get('mean_scoring'))}"
        ),
        "recommended": bool(drift_report.get("retraining_recommended")),
        "reasons": list(drift_report.get("reasons") or []),
        "rows": rows,
    }
    return context, figure


HISTORY_TEXT = {
    "full": "a history of customers' starts and ends",
    "single_snapshot": "one snapshot with a churn flag (the history before it is rebuilt from "
    "tenure): one labelled snapshot, no monthly KPIs",
}


def _quarantine_text(data_quality: dict[str, Any]) -> str:
    """'548 of 436,206 rows quarantined (transactions 300, events 248)', or '' when none."""
    tables = data_quality.get("tables") or {}
    counts = {t: r.get("rows_quarantined", 0) for t, r in tables.items()}
    total = sum(counts.values())
    if not total:
        return ""
    rows_in = (data_quality.get("totals") or {}).get("rows_in", 0)
    parts = ", ".join(
        f"{t} {fmt_int(n)}" for t, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n
    )
    return f"{fmt_int(total)} of {fmt_int(rows_in)} input rows quarantined ({parts})"


def _plan_facts(run_plan: dict[str, Any] | None, data_quality: dict[str, Any]) -> dict[str, Any]:
    """What this run did with these data (the pre-flight run plan) and what each customer
    attribute was taken to be, with its blanks and unparseable values."""
    plan = run_plan or {}
    attributes = ((data_quality.get("tables") or {}).get("customers") or {}).get("attributes")
    columns = (attributes or {}).get("columns") or {}
    stages = plan.get("stages") or {}
    contract = plan.get("contract") or data_quality.get("contract")
    why = plan.get("contract_reason") or data_quality.get("contract_reason")
    return {
        "mode": HISTORY_TEXT.get(plan.get("history"), "n/a (no run plan)"),
        "business_model": f"{contract} ({why})" if contract and why else (contract or "n/a"),
        "quarantine": _quarantine_text(data_quality),
        # One snapshot: the label is the export's churn flag, not churn within horizon_days.
        "single_snapshot": plan.get("history") == "single_snapshot",
        "skipped": [humanize(name) for name, d in stages.items() if not d["run"]],
        "stages": [
            {"stage": humanize(name), "runs": "yes" if d["run"] else "skipped", "why": d["why"]}
            for name, d in stages.items()
        ],
        "attributes": [
            {
                "column": name,
                "kind": humanize(info["kind"]),
                "levels": fmt_int(info["levels"]),
                "blanks": fmt_int(info["blanks"]),
                "unparseable": fmt_int(info["unparseable"]),
                "use": "segment" if info.get("segment") else "",
            }
            for name, info in columns.items()
        ],
    }


def build_run_section(
    data_quality: dict[str, Any],
    churn_model_metrics: dict[str, Any],
    churn_model_metadata: dict[str, Any],
    monthly_retention: pd.DataFrame,
    customer_health: pd.DataFrame,
    drift_report: dict[str, Any] | None,
    parameters: dict[str, Any],
    run_plan: dict[str, Any] | None = None,
    ground_truth: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Figure]]:
    """Reconciliation and quarantine counts, data window, model versions and promotion,
    parameters, code version, and model monitoring (drift) when a drift check has run."""
    data_quality, parameters = data_quality or {}, parameters or {}
    metadata = churn_model_metadata or {}
    promotion = (churn_model_metrics or {}).get("promotion") or metadata.get("promotion") or {}
    as_of_rows = _as_of_health(customer_health)
    health = _frame(customer_health)
    snapshot_dates = sorted(pd.to_datetime(health["snapshot_date"]).unique()) if len(health) else []
    window = _data_window(data_quality, _frame(monthly_retention), snapshot_dates)
    drift, figure = _drift_context(drift_report) if drift_report else (None, None)
    totals = data_quality.get("totals") or {}
    return {
        "plan": _plan_facts(run_plan, data_quality) | {"demo": ground_truth is not None},
        "quality_table": _quality_rows(data_quality),
        "quality_totals": {k: fmt_int(v) for k, v in totals.items()},
        "window": window,
        "model": _model_facts(metadata, promotion),
        "key_parameters": [
            {"name": label, "value": _parameter_text(parameters[group][key])}
            for group, key, label in KEY_PARAMETERS
            if key in (parameters.get(group) or {})
        ],
        "all_parameters": yaml.safe_dump(parameters, sort_keys=True, default_flow_style=False),
        "code_version": {
            "package": customer_retention.__version__,
            "git_commit": git_commit()[:12],
        },
        "drift": drift,
        "headline": {
            "as_of_date": window["as_of"],
            "active_customers": len(as_of_rows) if len(as_of_rows) else None,
            "promoted_model_id": promotion.get("promoted_model_id"),
        },
    }, {"drift": figure} if figure else {}


def _window_text(dates: list[str] | None) -> str:
    if not dates:
        return "n/a"
    return dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]} ({len(dates)} snapshots)"
