"""The summary: headline cards and what changed since the previous run."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import numpy as np

from customer_retention.core.formatting import (
    fmt_int,
    fmt_money,
    fmt_month,
    fmt_number,
    fmt_pct,
    fmt_share,
    fmt_signed,
    is_missing,
)

from .blocks import _timestamp_text

logger = logging.getLogger(__name__)


HEADLINES = (
    # key, label, formatter of a value, formatter of a change
    ("active_customers", "Active customers", fmt_int, lambda d: fmt_signed(d, 0)),
    ("churn_rate_pct", "Monthly churn rate", fmt_pct, lambda d: fmt_signed(d, 1, " pts")),
    ("retention_rate_pct", "Monthly retention rate", fmt_pct, lambda d: fmt_signed(d, 1, " pts")),
    (
        "net_revenue_retention_pct",
        "Net revenue retention",
        fmt_pct,
        lambda d: fmt_signed(d, 1, " pts"),
    ),
    (
        "gross_revenue_retention_pct",
        "Gross revenue retention",
        fmt_pct,
        lambda d: fmt_signed(d, 1, " pts"),
    ),
    ("nps", "NPS", lambda v: fmt_number(v), lambda d: fmt_signed(d, 1)),
    ("high_risk_customers", "Customers at high risk", fmt_int, lambda d: fmt_signed(d, 0)),
    ("value_at_risk", "Total value at risk", None, None),
    (
        "churn_model_roc_auc",
        "Churn model ROC-AUC",
        lambda v: fmt_number(v, 3),
        lambda d: fmt_signed(d, 3),
    ),
)


def _changes(
    numbers: dict[str, Any], previous: dict[str, Any] | None, currency: str
) -> list[dict[str, str]]:
    """Each headline number now, in the previous run, and the change."""

    def money(value: Any) -> str:
        return fmt_money(value, currency)

    def money_change(delta: float) -> str:
        return ("+" if delta > 0 else "") + fmt_money(delta, currency)

    rows = []
    for key, label, show, delta in HEADLINES:
        show, delta = show or money, delta or money_change
        now = numbers.get(key)
        before = (previous or {}).get(key)
        change = delta(now - before) if now is not None and before is not None else "n/a"
        rows.append({"metric": label, "previous": show(before), "now": show(now), "change": change})
    return rows


def _cards(
    retention: dict[str, Any],
    value: dict[str, Any],
    run: dict[str, Any],
    scoring_absent: str | None,
    horizon_days: int,
    params: dict[str, Any],
) -> dict[str, Any]:
    """The Summary's headline cards, formatted."""
    has_nps = retention["nps"] is not None
    scored = value["high_risk_customers"] is not None
    return {
        "as_of": run["as_of_date"],
        "active_customers": fmt_int(run["active_customers"]),
        "latest_month": fmt_month(retention["latest_month"]),
        "churn_rate": fmt_pct(retention["churn_rate_pct"]),
        "churn_detail": (
            f"{fmt_int(retention['churned_from_start'])} of "
            f"{fmt_int(retention['customers_start'])} customers"
        ),
        "retention_rate": fmt_pct(retention["retention_rate_pct"]),
        "retention_detail": (
            f"({fmt_int(retention['customers_end'])} − {fmt_int(retention['new_customers'])}) ÷ "
            f"{fmt_int(retention['customers_start'])}"
        ),
        "nrr": fmt_pct(retention["net_revenue_retention_pct"]),
        "grr": fmt_pct(retention["gross_revenue_retention_pct"]),
        "has_revenue": retention["net_revenue_retention_pct"] is not None,
        "nps": fmt_number(retention["nps"]) if has_nps else "n/a",
        "nps_detail": (
            f"{fmt_month(retention['nps_month'])}, {fmt_int(retention['nps_responses'])} answers"
            if has_nps
            else "no NPS answers in the data"
        ),
        "high_risk": fmt_int(value["high_risk_customers"]) if scored else "not scored",
        "high_risk_detail": (
            f"churn probability ≥ {fmt_share(value['high_risk_threshold'])} within "
            f"{horizon_days} days ({float(params['high_risk_multiple']):g}× the average)"
            if scored
            else scoring_absent or ""
        ),
        "value_at_risk": fmt_money(value["value_at_risk"], params["currency"]),
        "value_at_risk_detail": f"from the {value['value_at_risk_source']}",
    }


def _driver_words(driver: dict[str, str]) -> str:
    label, direction = driver["feature"], driver.get("direction") or ""
    if direction == "higher raises risk":
        return f"higher {label}"
    if direction == "lower raises risk":
        return f"lower {label}"
    if direction.endswith(" raises risk"):
        return f"{label}: {direction.removesuffix(' raises risk')}"
    return label


def _decision(
    value: dict[str, Any],
    model: dict[str, Any],
    horizon_days: int,
    currency: str,
    active: Any,
    single_snapshot: bool = False,
) -> list[str]:
    """The first screen: who will leave, what it costs, where, why, and what to do. With one
    snapshot of data the model predicts the export's churn flag, not churn within the
    horizon, and the sentence says so."""
    lines = []
    churners, lost = value.get("expected_churners"), value.get("expected_value_lost")
    if churners:
        period = (
            "As the export's churn flag defines churn (one snapshot: no horizon of its own)"
            if single_snapshot
            else f"Over the next {horizon_days} days"
        )
        line = (
            f"{period} we expect {fmt_int(churners['expected'])} of the "
            f"{fmt_int(active)} active customers to churn (90% interval "
            f"{fmt_int(churners['low'])}–{fmt_int(churners['high'])})"
        )
        if lost:
            line += (
                f", taking {fmt_money(lost['expected'], currency)} of lifetime value with them "
                f"({fmt_money(lost['low'], currency)}–{fmt_money(lost['high'], currency)})"
            )
        lines.append(line + ".")
    segments = value.get("top_value_segments") or []
    total = value.get("value_at_risk")
    if segments and total:
        parts = [
            f"{s['segment']} = {s['level']} ({fmt_money(s['value_at_risk'], currency)}, "
            f"{fmt_share(s['value_at_risk'] / total, 0)} of the value at risk)"
            for s in segments
        ]
        lines.append("Most value at risk: " + "; ".join(parts) + ".")
    drivers = model.get("drivers") or []
    if drivers:
        lines.append("What drives the risk: " + ", ".join(_driver_words(d) for d in drivers) + ".")
    plan = value.get("plan") or {}
    chosen = plan.get("plan") or {}
    if chosen.get("contacts"):
        basis = str(plan.get("basis", ""))
        control = (plan.get("control_group") or {}).get("control", 0)
        line = (
            f"What to do: contact {fmt_int(chosen['contacts'])} customers for "
            f"{fmt_money(chosen['cost'], currency)}, expected to save "
            f"{fmt_money(chosen['expected_saved_value'], currency)} of value"
        )
        if basis.startswith("measured"):
            line += " (uplift measured on randomised campaigns)"
        elif plan.get("plan_range"):
            low = plan["plan_range"]["low"]["expected_saved_value"]
            high = plan["plan_range"]["high"]["expected_saved_value"]
            line += (
                f" (assumed save rates: {fmt_money(low, currency)}–{fmt_money(high, currency)} "
                "at half to 1.5 times them)"
            )
        if control:
            line += f"; {fmt_int(control)} of them held back as a control group"
        lines.append(line + ".")
    return lines


def summarise_report_headlines(
    retention_section: dict[str, Any],
    model_section: dict[str, Any],
    value_section: dict[str, Any],
    run_section: dict[str, Any],
    previous_report_summary: dict[str, Any] | None,
    horizon_days: int,
    params: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The headline numbers (saved as ``report_summary.json`` for the next run) and the Summary
    section, with what changed since the previous run's summary (None on the first run)."""
    retention, value = retention_section["headline"], value_section["headline"]
    run = run_section["headline"]
    numbers = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "as_of_date": run["as_of_date"],
        "active_customers": run["active_customers"],
        "latest_month": retention["latest_month"],
        "churn_rate_pct": retention["churn_rate_pct"],
        "retention_rate_pct": retention["retention_rate_pct"],
        "net_revenue_retention_pct": retention["net_revenue_retention_pct"],
        "gross_revenue_retention_pct": retention["gross_revenue_retention_pct"],
        "nps": retention["nps"],
        "high_risk_customers": value["high_risk_customers"],
        "value_at_risk": value["value_at_risk"],
        "value_at_risk_source": value["value_at_risk_source"],
        "churn_model_roc_auc": model_section["headline"]["roc_auc"],
        "promoted_model_id": run["promoted_model_id"],
    }
    numbers = {
        k: None if is_missing(v) else v.item() if isinstance(v, np.generic) else v
        for k, v in numbers.items()
    }
    previous = previous_report_summary or None
    cards = _cards(retention, value, run, value_section["scoring_absent"], horizon_days, params)
    section = {
        "decision": _decision(
            value,
            model_section["headline"],
            horizon_days,
            params["currency"],
            run["active_customers"],
            bool((run_section.get("plan") or {}).get("single_snapshot")),
        ),
        "cards": cards,
        "changes": _changes(numbers, previous, params["currency"]),
        "previous": None
        if previous is None
        else {
            "generated_at": _timestamp_text(previous.get("generated_at")),
            "as_of": previous.get("as_of_date", "n/a"),
        },
    }
    logger.info(
        "Report headlines as of %s: %s active customers, churn %s, value at risk %s",
        cards["as_of"],
        cards["active_customers"],
        cards["churn_rate"],
        cards["value_at_risk"],
    )
    return numbers, section
