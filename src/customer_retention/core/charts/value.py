"""Value charts: CLV, value at risk, the budget plan, the sBG fit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, PercentFormatter

from ..formatting import fmt_money
from .style import (
    BLACK,
    BLUE,
    ORANGE,
    PALETTE,
    THOUSANDS,
    VERMILLION,
    _bar_labels,
    _figure,
    _styled,
    _wrap,
    chart_text,
    money_formatter,
)


@_styled
def clv_histogram(clv: pd.Series, currency: str) -> Figure:
    """Distribution of CLV over active customers (the top 1% gathered in the last bar)."""
    figure = _figure(4.0, width=8.0)
    ax = figure.subplots()
    cap = float(clv.quantile(0.99)) if len(clv) > 100 else float(clv.max())
    ax.hist(clv.clip(upper=cap), bins=40, color=BLUE, edgecolor="white")
    median = float(clv.median())
    ax.axvline(median, color=ORANGE, lw=2.5, label=f"median {fmt_money(median, currency)}")
    ax.xaxis.set_major_formatter(money_formatter(currency))
    ax.yaxis.set_major_formatter(THOUSANDS)
    ax.xaxis.set_major_locator(MaxNLocator(8))
    ax.set(
        xlabel="customer lifetime value (discounted margin; top 1% in the last bar)",
        ylabel="active customers",
        title="What active customers are worth",
    )
    ax.legend(loc="upper right")
    return figure


@_styled
def value_at_risk_bars(by_segment: pd.DataFrame, currency: str) -> Figure:
    """Value at risk per level, one panel per segment. Every panel splits the same total, so
    they share one x scale (a short bar means a small share in every panel)."""
    segments = list(dict.fromkeys(by_segment["segment"]))
    shared = float(by_segment["value_at_risk"].max()) * 1.35 or 1
    figure = _figure(0.35 * by_segment.groupby("segment").size().max() + 2.2)
    axes = figure.subplots(1, len(segments), squeeze=False)[0]
    formatter = money_formatter(currency)
    for ax, segment in zip(axes, segments, strict=True):
        data = by_segment[by_segment["segment"] == segment].sort_values("value_at_risk")
        bars = ax.barh(
            [_wrap(v, 14) for v in data["level"]],
            data["value_at_risk"],
            color=VERMILLION,
            height=0.6,
        )
        _bar_labels(ax, bars, [formatter(v, None) for v in data["value_at_risk"]], horizontal=True)
        ax.set_xlim(0, shared)
        ax.xaxis.set_major_formatter(formatter)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=2, steps=[1, 2, 5, 10]))  # no crowding
        ax.grid(axis="y", visible=False)
        ax.set_title(chart_text(segment))
    figure.suptitle("Value at risk (churn probability × CLV) by segment", fontweight="bold")
    return figure


@_styled
def budget_comparison(summary: dict[str, Any], currency: str) -> Figure:
    """Cost, expected saved value and net return: the plan against contacting by churn risk."""
    plan, naive = summary["plan"], summary["top_n_by_churn_probability"]
    measures = ["cost", "expected_saved_value", "expected_net_return"]
    names = ["cost", "expected value saved", "net return"]
    figure = _figure(4.0, width=8.0)
    ax = figure.subplots()
    positions = np.arange(len(measures))
    formatter = money_formatter(currency)
    for offset, (label, outcome, colour) in enumerate(
        (
            (f"budget plan ({plan['contacts']:,} contacts)", plan, BLUE),
            (f"same number, riskiest first ({naive['contacts']:,})", naive, ORANGE),
        )
    ):
        values = [float(outcome[m] or 0) for m in measures]
        bars = ax.bar(
            positions + (offset - 0.5) * 0.38, values, width=0.38, color=colour, label=label
        )
        _bar_labels(ax, bars, [formatter(v, None) for v in values])
    ax.set_xticks(positions, names)
    ax.yaxis.set_major_formatter(formatter)
    top = max(float(plan["expected_saved_value"] or 0), float(naive["expected_saved_value"] or 0))
    ax.set_ylim(min(0, float(naive["expected_net_return"] or 0)) * 1.2, top * 1.25 or 1)
    ax.axhline(0, color=BLACK, lw=1)
    ax.set(title="Retention budget: expected return")
    ax.legend(loc="upper left")
    return figure


@_styled
def sbg_fit(fit: pd.DataFrame, segment: str) -> Figure:
    """Share of each cohort still active by month since signup: observed (points) and the
    shifted-beta-geometric fit (lines), one colour per level. ``fit``: level, month,
    observed, fitted."""
    figure = _figure(4.6, width=7.5)
    ax = figure.subplots()
    handles = []
    for colour, (level, rows) in zip(PALETTE, fit.groupby("level", sort=False), strict=False):
        ax.plot(rows["month"], rows["observed"] * 100, "o", color=colour)
        ax.plot(rows["month"], rows["fitted"] * 100, "-", color=colour)
        handles.append(Line2D([], [], color=colour, marker="o", label=chart_text(level)))
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    name = "all customers" if segment == "all_customers" else chart_text(segment)
    ax.set(
        title=f"Cohort retention by {name}: observed (points) vs sBG (lines)",
        xlabel="months since signup",
        ylabel="cohort still active",
    )
    ax.legend(handles=handles, loc="upper right", fontsize=10)
    return figure


@_styled
def purchase_tracking(tracking: pd.DataFrame) -> Figure:
    """Cumulative repeat purchases by week: actual (line) against the calibration-period
    model's expectation (dashed); the holdout weeks shaded (Fader, Hardie & Lee 2005, fig. 4).
    ``tracking``: week, period, actual, expected."""
    figure = _figure(4.6, width=8.0)
    ax = figure.subplots()
    ax.plot(tracking["week"], tracking["actual"], color=BLUE, lw=2, label="actual")
    ax.plot(tracking["week"], tracking["expected"], color=VERMILLION, lw=2, ls="--", label="BG/NBD")
    holdout = tracking[tracking["period"] == "holdout"]
    if len(holdout):
        ax.axvspan(holdout["week"].min() - 0.5, holdout["week"].max() + 0.5, color="#EEEEEE")
    ax.yaxis.set_major_formatter(THOUSANDS)
    ax.set(
        title="Cumulative repeat purchases: actual vs model (holdout shaded)",
        xlabel="week",
        ylabel="repeat purchases",
    )
    ax.legend(loc="upper left")
    return figure


@_styled
def conditional_expectations(table: pd.DataFrame) -> Figure:
    """Mean holdout purchases by calibration repeat purchases (0, 1, ..., 7+): actual against
    the model's conditional expectation (Fader, Hardie & Lee 2005, fig. 5). ``table``:
    calibration_repeat_purchases, customers, actual_mean, expected_mean."""
    figure = _figure(4.4, width=7.5)
    ax = figure.subplots()
    x = np.arange(len(table))
    ax.plot(x, table["actual_mean"], "o-", color=BLUE, lw=2, label="actual")
    ax.plot(x, table["expected_mean"], "s--", color=VERMILLION, lw=2, label="BG/NBD")
    ax.set_xticks(x, table["calibration_repeat_purchases"].astype(str))
    ax.set(
        title="Holdout purchases by purchases in the calibration period",
        xlabel="repeat purchases in the calibration period",
        ylabel="mean holdout purchases",
    )
    ax.legend(loc="upper left")
    return figure
