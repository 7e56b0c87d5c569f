"""What a tracked run logs (``hooks.tracking``): the metrics taken from the datasets a run
saves, the JSON summaries and charts kept as artifacts, the flattened parameters and the data
fingerprint. Plain functions of the data: no MLflow here."""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a parameter value
SUMMARIES = (
    "churn_model_metrics",
    "churn_backtest",
    "model_card",
    "survival_summary",
    "clv_validation",
    "sbg_cross_check",
    "report_summary",
    "retention_summary",
    "data_quality",
    "run_plan",
    "drift_report",
    "retention_plan_summary",
    "uplift_metrics",
    "campaign_effects",
    "comment_themes_report",
)
"""JSON datasets logged as ``summaries/<name>.json`` when a run saves them."""
KEY_CHARTS = (
    "roc.png",
    "calibration.png",
    "gains.png",
    "backtest.png",
    "drivers.png",
    "kaplan_meier.png",
    "hazard_ratios.png",
    "clv_distribution.png",
    "value_at_risk.png",
    "budget_plan.png",
    "drift.png",
)


def metric_key(key: str) -> str:
    """An MLflow metric or parameter name: letters, digits and ``_-. :/``; others become ``_``."""
    return re.sub(r"[^A-Za-z0-9_\-. :/]", "_", key)[:250]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def numeric_leaves(value: Any, prefix: str, depth: int = 3) -> dict[str, float]:
    """Finite numbers (and flags as 0/1) of nested mappings, at most ``depth`` levels down."""
    out: dict[str, float] = {}
    if isinstance(value, dict) and depth > 0:
        for key, item in value.items():
            out.update(numeric_leaves(item, f"{prefix}.{key}", depth - 1))
    elif (number := _number(value)) is not None:
        out[prefix] = number
    return out


def flatten_parameters(value: Any, prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}``; lists and scalars as JSON, text as it is."""
    if isinstance(value, dict) and value:
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(flatten_parameters(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return {prefix: text[:MAX_PARAM_LENGTH]}


def churn_model_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for scorer, result in (metrics.get("scorers") or {}).items():
        if isinstance(result, dict) and result.get("status", "ok") == "ok":
            out.update(numeric_leaves(result, f"test.{scorer}", 1))
    differences = (metrics.get("comparisons") or {}).get("differences") or {}
    out.update(numeric_leaves(differences, "test.difference", 3))
    out.update(numeric_leaves(metrics.get("rows"), "test.rows", 1))
    if (rate := _number(metrics.get("test_churn_rate"))) is not None:
        out["test.churn_rate"] = rate
    promotion = metrics.get("promotion") or {}
    for key in ("challenger_score", "champion_score"):
        if (number := _number(promotion.get(key))) is not None:
            out[f"promotion.{key}"] = number
    return out


def backtest_metrics(backtest: dict[str, Any]) -> dict[str, float]:
    return numeric_leaves(backtest.get("summary"), "backtest", 3)


def survival_metrics(summary: dict[str, Any]) -> dict[str, float]:
    out = numeric_leaves((summary.get("kaplan_meier") or {}).get("overall"), "survival.km", 1)
    for model in ("cox", "weibull_aft", "landmark", "boosted"):
        out.update(numeric_leaves(summary.get(model), f"survival.{model}", 1))
    out.update(numeric_leaves(summary.get("model_comparison"), "survival.comparison", 2))
    return out


def frame_metrics(frame: Any, prefix: str, sums: tuple[str, ...], means: tuple[str, ...]) -> dict:
    out: dict[str, float] = {f"{prefix}.customers": float(len(frame))}
    for column in sums:
        if column in frame:
            out[f"{prefix}.{column}_total"] = float(frame[column].sum())
    for column in means:
        if column in frame:
            out[f"{prefix}.{column}_mean"] = float(frame[column].mean())
            out[f"{prefix}.{column}_median"] = float(frame[column].median())
    return {k: v for k, v in out.items() if math.isfinite(v)}


EXTRACTORS = {
    "churn_model_metrics": churn_model_metrics,
    "churn_backtest": backtest_metrics,
    "survival_summary": survival_metrics,
    "customer_value": lambda f: frame_metrics(
        f, "clv", ("clv", "value_at_risk"), ("clv", "churn_probability")
    ),
    "clv_validation": lambda d: numeric_leaves(d, "clv.validation", 2),
    "report_summary": lambda d: numeric_leaves(d, "report", 1),
    "at_risk_customers": lambda f: frame_metrics(
        f, "scoring", ("value_at_risk",), ("churn_probability",)
    ),
    "drift_report": lambda d: numeric_leaves(
        {k: d.get(k) for k in ("retraining_recommended", "model_age_days", "data_age_days")}
        | {"score_psi": (d.get("score_shift") or {}).get("psi")},
        "drift",
    ),
    "retention_plan_summary": lambda d: numeric_leaves(d.get("plan"), "plan", 1),
}
"""Dataset name -> the metrics taken from the data a run saves."""


def data_fingerprint(inputs: dict[str, Any]) -> str:
    """SHA-256 of the run manifest's input fingerprints without modification times: the same
    tables give the same fingerprint, wherever and whenever they were written."""
    kept = {
        name: {k: v for k, v in (info or {}).items() if k not in ("modified_at", "file")}
        for name, info in sorted(inputs.items())
    }
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
