"""The churn-model section: every scorer's metrics, ROC, calibration, gains, drivers, the
backtest of the candidates, and the model card (an appendix)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from customer_retention.core import charts
from customer_retention.core.chart_data import SCORER_NAMES, evaluation_curves
from customer_retention.core.features import FEATURE_LABELS
from customer_retention.core.formatting import (
    fmt_int,
    fmt_number,
    fmt_share,
    humanize,
)
from customer_retention.core.phrases import driver_name

from . import takeaways
from .blocks import (
    CANDIDATE_NAMES,
    LABEL,
    _chart,
    _collect,
    _frame,
    deployed_scorer,
)

BACKTEST_COLUMNS = (("roc_auc", 3), ("pr_auc", 3), ("top_decile_lift", 2), ("ece", 3))


def _metric_row(name: str, result: dict[str, Any], deployed: str) -> dict[str, Any]:
    ok = result.get("status") == "ok"

    def show(key: str, decimals: int) -> str:
        if not ok or key not in result:
            return ""
        text = fmt_number(result.get(key), decimals)
        low, high = result.get(f"{key}_ci_low"), result.get(f"{key}_ci_high")
        if low is None or high is None:
            return text
        return f"{text} ({fmt_number(low, decimals)}–{fmt_number(high, decimals)})"

    return {
        "name": SCORER_NAMES.get(name, humanize(name)),
        "description": result.get("description", ""),
        "status": "" if ok else result.get("status", ""),
        "roc_auc": show("roc_auc", 3),
        "pr_auc": show("pr_auc", 3),
        "lift": show("top_decile_lift", 2),
        "capture": fmt_share(result.get("top_decile_capture_rate"), 0) if ok else "",
        "log_loss": show("log_loss", 3),
        "brier": show("brier_score", 4),
        "ece": show("ece", 3),
        "is_model": name == deployed,
    }


def _backtest_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per cutoff and candidate, then each candidate's mean ± sd."""
    chosen = (result.get("selection") or {}).get("chosen")
    rows = []
    for cutoff in result.get("cutoffs") or []:
        for kind, name in CANDIDATE_NAMES.items():
            metrics = cutoff.get(kind) or {}
            rows.append(
                {
                    "cutoff": cutoff["cutoff"],
                    "model": name,
                    "is_model": kind == chosen,
                    **{k: fmt_number(metrics.get(k), d) for k, d in BACKTEST_COLUMNS},
                }
            )
    for kind, name in CANDIDATE_NAMES.items():
        summary = (result.get("summary") or {}).get(kind) or {}

        def spread(key: str, decimals: int, summary: dict = summary) -> str:
            value = summary.get(key) or {}
            sd = value.get("sd")
            mean = fmt_number(value.get("mean"), decimals)
            return mean if sd is None else f"{mean} ± {fmt_number(sd, decimals)}"

        rows.append(
            {
                "cutoff": "mean ± sd",
                "model": name,
                "is_model": kind == chosen,
                **{k: spread(k, d) for k, d in BACKTEST_COLUMNS},
            }
        )
    return rows


def _backtest_table(result: dict[str, Any]) -> pd.DataFrame:
    """ROC-AUC per cutoff and candidate, for the chart."""
    return pd.DataFrame(
        [
            {"cutoff": c["cutoff"], "model": name, "value": (c.get(kind) or {}).get("roc_auc")}
            for c in result.get("cutoffs") or []
            for kind, name in CANDIDATE_NAMES.items()
        ]
    ).dropna()


def _card_facts(card: dict[str, Any]) -> dict[str, Any] | None:
    """The model card's facts as text for the appendix."""
    if not card:
        return None
    window = card.get("training_window") or {}
    snapshots = window.get("snapshots") or []
    age = card.get("data_age_at_scoring") or {}
    evaluation = (card.get("evaluation_split") or {}).get("metrics") or {}
    return {
        "model_id": card.get("model_id"),
        "kind": CANDIDATE_NAMES.get(card.get("model_kind"), card.get("model_kind")),
        "intended_use": card.get("intended_use"),
        "training_window": (
            f"{snapshots[0]} to {snapshots[-1]} ({len(snapshots)} snapshots)"
            if snapshots
            else "n/a"
        ),
        "training_how": window.get("how", ""),
        "data_age": (
            f"the newest training snapshot ({age['latest_training_snapshot']}) is "
            f"{age['days_from_latest_training_snapshot_to_as_of']} days before the as-of date "
            f"({age['as_of_date']})"
            if age
            else "n/a"
        ),
        "features": [f"{f['name']} ({f['source']})" for f in card.get("features") or []],
        "evaluation": (
            f"ROC-AUC {fmt_number(evaluation.get('roc_auc'), 3)}, PR-AUC "
            f"{fmt_number(evaluation.get('pr_auc'), 3)}, calibration error "
            f"{fmt_number(evaluation.get('ece'), 3)}"
            if evaluation
            else "n/a"
        ),
        "calibration": (card.get("calibration") or {}).get("method", "n/a"),
        "lead_time": takeaways.lead_time(card.get("lead_time") or {})
        or (card.get("lead_time") or {}).get("reason", "not measured"),
        "limitations": card.get("known_limitations") or [],
        "promotion": (card.get("promotion") or {}).get("reason", "n/a"),
        "decision": (card.get("promotion") or {}).get("decision", "n/a"),
    }


DEFAULT_EVALUATION = {"top_fraction": 0.1, "ece_bins": 10, "ece_strategy": "quantile"}


def build_model_section(
    churn_model_metrics: dict[str, Any],
    churn_test_scores: pd.DataFrame,
    churn_feature_importance: pd.DataFrame,
    churn_backtest: dict[str, Any] | None,
    model_card: dict[str, Any] | None,
    horizon_days: int,
    run_plan: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Figure]]:
    """Metrics of every scorer, ROC, calibration, gains, the top drivers and the backtest,
    evaluated with the settings the churn model was evaluated with (``evaluation`` in its
    metrics); the deployed model (the model card's kind) is the one highlighted and described."""
    metrics = churn_model_metrics or {}
    evaluation = DEFAULT_EVALUATION | (metrics.get("evaluation") or {})
    scorers = metrics.get("scorers") or {}
    deployed = deployed_scorer(model_card)
    model = scorers.get(deployed, {})
    backtest_result = churn_backtest or {}
    backtest_table = _backtest_table(backtest_result)
    top_fraction = float(evaluation["top_fraction"])
    scores = _frame(churn_test_scores)
    usable = bool(len(scores)) and LABEL in scores and scores[LABEL].nunique() == 2
    roc, precision_recall, calibration, gains = (
        evaluation_curves(scores, scorers, evaluation) if usable else ({}, {}, {}, {})
    )
    missing = None if usable else "No test snapshot with both churners and stayers to evaluate on."
    importance = _frame(churn_feature_importance)
    contract = (run_plan or {}).get("contract")
    names = {
        f: driver_name(f, FEATURE_LABELS.get(f, humanize(f)), contract)
        for f in importance.get("feature", [])
    }
    blocks, figures = _collect(
        (
            _chart(
                "roc",
                "How well the model ranks customers (ROC)",
                takeaways.model_ranking(scorers, deployed, metrics.get("comparisons")),
                missing or (None if roc else "No scorer to evaluate."),
                "Higher and further left is better; the dotted diagonal is a random guess.",
            ),
            charts.roc_curves(roc) if roc else None,
        ),
        (
            _chart(
                "precision_recall",
                "How many flagged customers really leave? (precision-recall)",
                takeaways.precision_at_top(model, top_fraction),
                missing or (None if precision_recall else "No scorer to evaluate."),
                "Share of the flagged customers who churned (precision) against the share of all "
                "churners found (recall); the dotted line is the churn rate, a random pick.",
            ),
            charts.precision_recall_curves(precision_recall, float(scores[LABEL].mean()))
            if precision_recall
            else None,
        ),
        (
            _chart(
                "calibration",
                "Are the probabilities right? (calibration)",
                takeaways.calibration(model, horizon_days),
                missing or (None if calibration else "No probability scorer to check."),
                "Points on the diagonal mean that customers given a 10% risk churn 10% of the time.",
            ),
            charts.calibration_curves(calibration) if calibration else None,
        ),
        (
            _chart(
                "gains",
                "Who to contact first (gains)",
                takeaways.gains(model, top_fraction),
                missing or (None if gains else "No scorer to evaluate."),
                "Share of all churners reached when contacting customers riskiest first.",
            ),
            charts.gains_chart(gains, top_fraction) if gains else None,
        ),
        (
            _chart(
                "drivers",
                "Top drivers of predicted churn",
                takeaways.drivers(importance, names),
                None if len(importance) else "No feature importance available.",
                "Bar length: average size of each feature's push on a customer's churn score "
                "(mean |SHAP|, log-odds, test rows); side and colour: which way it pushes (the "
                "sign of the rank correlation between the feature's value and its push). In "
                "brackets, what a feature stands for where that is not what it measures"
                + (
                    " (with subscriptions, purchases are mostly invoices)."
                    if contract == "contractual"
                    else "."
                ),
            ),
            charts.driver_bars(importance, names) if len(importance) else None,
        ),
        (
            _chart(
                "backtest",
                "How steady is the model over time? (backtest)",
                takeaways.backtest(backtest_result),
                None if len(backtest_table) else "No backtest: the churn model has not run.",
                "Each cutoff: both candidates trained on what was known then and tested on the "
                "snapshot at the cutoff; dotted lines are the means.",
            ),
            charts.backtest_lines(
                backtest_table,
                "ROC-AUC",
                CANDIDATE_NAMES.get((backtest_result.get("selection") or {}).get("chosen"), ""),
            )
            if len(backtest_table)
            else None,
        ),
    )
    return {
        "charts": blocks,
        "metrics_table": [_metric_row(name, result, deployed) for name, result in scorers.items()],
        "backtest_table": _backtest_rows(backtest_result),
        "backtest_kind": backtest_result.get("description", ""),
        "card": _card_facts(model_card or {}),
        "split": metrics.get("split_reason", ""),
        "test_window": ", ".join((metrics.get("windows") or {}).get("test", [])),
        "test_rows": fmt_int((metrics.get("rows") or {}).get("test")),
        "test_churn_rate": fmt_share(metrics.get("test_churn_rate")),
        "headline": {
            "roc_auc": model.get("roc_auc"),
            "drivers": [
                {
                    "feature": names[row["feature"]],
                    "direction": row.get("direction", ""),
                }
                for row in importance.head(3).to_dict("records")
            ]
            if len(importance)
            else [],
        },
    }, figures
