"""Churn-model charts: ROC, precision-recall, calibration, gains, drivers, backtest."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from .style import (
    BLACK,
    BLUE,
    GREY,
    PURPLE,
    THOUSANDS,
    VERMILLION,
    _figure,
    _styled,
    _wrap,
    chart_text,
)


def _percent_axes(ax: Axes, xlabel: str, ylabel: str, title: str, legend: str) -> None:
    """Both axes 0-100%, labelled, with the legend at ``legend``."""
    ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set(xlim=(0, 100), ylim=(0, 100), xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(loc=legend, fontsize=10)


@_styled
def roc_curves(curves: dict[str, pd.DataFrame]) -> Figure:
    """ROC curve of each scorer: {label: frame with fpr, tpr}."""
    figure = _figure(5.2, width=6.6)
    ax = figure.subplots()
    for label, curve in curves.items():
        ax.plot(curve["fpr"] * 100, curve["tpr"] * 100, lw=2, label=label)
    ax.plot([0, 100], [0, 100], color=GREY, ls=":", lw=1.5, label="random")
    _percent_axes(
        ax,
        "stayers wrongly flagged",
        "churners caught",
        "ROC: churners caught vs stayers flagged",
        "lower right",
    )
    return figure


@_styled
def calibration_curves(tables: dict[str, pd.DataFrame]) -> Figure:
    """Observed churn against predicted probability per bin: {label: reliability table}."""
    figure = _figure(6.2, width=6.6)
    ax, counts = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [4, 1]})
    top = 0.0
    for label, table in tables.items():
        line = ax.plot(
            table["mean_predicted"] * 100,
            table["observed_rate"] * 100,
            "o-",
            lw=2,
            ms=5,
            label=label,
        )[0]
        if "observed_ci_low" in table:
            ax.errorbar(
                table["mean_predicted"] * 100,
                table["observed_rate"] * 100,
                yerr=np.clip(
                    [
                        (table["observed_rate"] - table["observed_ci_low"]) * 100,
                        (table["observed_ci_high"] - table["observed_rate"]) * 100,
                    ],
                    0,
                    None,
                ),
                fmt="none",
                ecolor=line.get_color(),
                elinewidth=1,
                capsize=2,
                alpha=0.7,
            )
            top = max(top, table["observed_ci_high"].max())
        top = max(top, table["mean_predicted"].max(), table["observed_rate"].max())
        if "bin_lower" in table:
            # Customers per percentage point of predicted probability: a histogram of the
            # predictions (equal-count bins are narrow where predictions crowd).
            widths = (table["bin_upper"] - table["bin_lower"]).clip(lower=1e-4) * 100
            density = table["rows"] / widths
            edges = np.r_[table["bin_lower"].to_numpy(), table["bin_upper"].iat[-1]] * 100
            counts.stairs(density, edges, color=line.get_color(), lw=1.5)
    counts.set(ylabel="customers\nper point", xlabel="predicted churn probability (bin average)")
    counts.yaxis.set_major_formatter(THOUSANDS)
    top = min(100.0, top * 110 + 1)
    ax.plot([0, top], [0, top], color=GREY, ls=":", lw=1.5, label="perfect calibration")
    ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set(
        xlim=(0, top),
        ylim=(0, top),
        ylabel="share that actually churned",
        title="Calibration: predicted vs actual churn (95% intervals)",
    )
    ax.legend(loc="upper left", fontsize=10)
    return figure


@_styled
def gains_chart(tables: dict[str, pd.DataFrame], top_fraction: float) -> Figure:
    """Share of churners reached against share of customers contacted, ranked by each score."""
    figure = _figure(5.2, width=6.6)
    ax = figure.subplots()
    for label, table in tables.items():
        ax.plot(table["population_share"] * 100, table["captured_share"] * 100, lw=2, label=label)
    ax.plot([0, 100], [0, 100], color=GREY, ls=":", lw=1.5, label="random order")
    ax.axvline(
        top_fraction * 100, color=BLACK, lw=1, ls="--", label=f"top {top_fraction:.0%} contacted"
    )
    _percent_axes(
        ax,
        "customers contacted, riskiest first",
        "churners reached",
        "Gains: who to contact first",
        "lower right",
    )
    return figure


def _push(direction: Any) -> tuple[int, str, str]:
    """A driver's ``direction`` (from the churn model's feature importance) as the sign of
    its bar (+1: higher values or the level named raise the churn score, -1: lower values
    raise it, 0: no single direction), its colour and its words."""
    text = direction if isinstance(direction, str) else ""
    if text == "higher raises risk":
        return 1, VERMILLION, "higher → more churn"
    if text == "lower raises risk":
        return -1, BLUE, "lower → more churn"
    if text.endswith(" raises risk"):
        return 1, PURPLE, f"{chart_text(text.removesuffix(' raises risk'))} → more churn"
    return 0, GREY, "no single direction"


PUSH_LEGEND = (
    (VERMILLION, "+: higher value → more churn"),
    (BLUE, "−: lower value → more churn"),
    (PURPLE, "+: this level → more churn"),
    (GREY, "no single direction (drawn +)"),
)


@_styled
def driver_bars(importance: pd.DataFrame, labels: dict[str, str], top: int = 12) -> Figure:
    """The strongest drivers and which way each pushes the churn score, as signed mean |SHAP|
    (log-odds): the size of the feature's average push, positive where higher values (or the
    level named) raise the score, negative where lower values raise it (the sign of the rank
    correlation between the feature's value and its SHAP value: the ``direction`` column);
    grey and positive when the push has no single direction. ``labels``: feature -> name."""
    data = importance.sort_values("mean_abs_shap", ascending=False).head(top).iloc[::-1]
    pushes = [_push(d) for d in data.get("direction", pd.Series([""] * len(data)))]
    signs = np.array([p[0] or 1 for p in pushes], dtype=float)
    values = data["mean_abs_shap"].to_numpy(dtype=float) * signs
    names = [
        f"{_wrap(labels.get(f, chart_text(f)), 38)}\n{words}"
        for f, (_, _, words) in zip(data["feature"], pushes, strict=True)
    ]
    figure = _figure(0.62 * len(data) + 2.2, width=9.0)
    ax = figure.subplots()
    positions = np.arange(len(data))
    ax.barh(positions, values, color=[p[1] for p in pushes], height=0.65)
    ax.set_yticks(positions, names, fontsize=10)  # one driver per row
    span = float(np.abs(values).max()) if len(values) else 1.0
    for y, value in zip(positions, values, strict=True):
        ax.annotate(
            f"{value:+.3f}".replace("-", "−"),
            (value, y),
            xytext=(4 if value >= 0 else -4, 0),
            textcoords="offset points",
            ha="left" if value >= 0 else "right",
            va="center",
            fontsize=10.5,
        )
    ax.set_xlim(-span * 1.3 if (values < 0).any() else 0.0, span * 1.3)
    ax.axvline(0, color=BLACK, lw=1)
    ax.grid(axis="y", visible=False)
    shown = {p[1] for p in pushes}
    figure.legend(
        handles=[Patch(color=c, label=t) for c, t in PUSH_LEGEND if c in shown],
        loc="outside lower center",
        ncols=2,
        fontsize=10,
    )
    ax.set(
        xlabel="signed mean |SHAP| (log-odds): average push on the churn score",
        title=f"Top {len(data)} drivers of predicted churn and their direction",
    )
    return figure


@_styled
def precision_recall_curves(curves: dict[str, pd.DataFrame], base_rate: float) -> Figure:
    """Precision against recall of each scorer: {label: frame with recall, precision}; the
    dotted line is the churn rate (a random ranking's precision)."""
    figure = _figure(5.2, width=6.6)
    ax = figure.subplots()
    for label, curve in curves.items():
        ax.plot(curve["recall"] * 100, curve["precision"] * 100, lw=2, label=label)
    ax.axhline(base_rate * 100, color=GREY, ls=":", lw=1.5, label="random")
    _percent_axes(
        ax,
        "churners caught (recall)",
        "flagged who churn (precision)",
        "Precision and recall",
        "upper right",
    )
    return figure


@_styled
def backtest_lines(table: pd.DataFrame, metric_label: str, chosen: str) -> Figure:
    """A metric of each candidate at each backtest cutoff: columns cutoff, model, value; the
    deployed model (``chosen``) drawn bold, each candidate's mean dotted."""
    figure = _figure(4.2, width=7.5)
    ax = figure.subplots()
    cutoffs = list(dict.fromkeys(table["cutoff"]))
    for model, rows in table.groupby("model", sort=False):
        bold = model == chosen
        line = ax.plot(
            [cutoffs.index(c) for c in rows["cutoff"]],
            rows["value"],
            marker="o",
            lw=2.6 if bold else 1.6,
            label=f"{model}{' (deployed)' if bold else ''}",
        )[0]
        ax.axhline(rows["value"].mean(), color=line.get_color(), ls=":", lw=1.2)
    ax.set_xticks(range(len(cutoffs)), cutoffs)
    ax.set(
        xlabel="cutoff (test snapshot)",
        ylabel=metric_label,
        title=f"{metric_label} at each backtest cutoff",
    )
    ax.legend(loc="best", fontsize=10)
    return figure


@_styled
def qini_curves(curves: dict[str, pd.DataFrame]) -> Figure:
    """Qini curve of each campaign's uplift model (share targeted, incremental customers kept
    per customer) with the straight line of random targeting."""
    figure = _figure(4.4, width=7.5)
    ax = figure.subplots()
    for key, curve in curves.items():
        name = chart_text(key)
        x = curve["share_targeted"] * 100
        line = ax.plot(x, curve["incremental_kept"] * 100, lw=2, label=name)[0]
        end = float(curve["incremental_kept"].iloc[-1]) * 100
        ax.plot([0, 100], [0, end], color=line.get_color(), ls=":", lw=1.2)
    ax.axhline(0, color=GREY, lw=1)
    ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set(
        xlabel="customers contacted, by expected uplift",
        ylabel="incremental customers kept (per 100)",
        title="Qini curves, held-out campaign customers",
    )
    ax.plot([], [], color=GREY, ls=":", lw=1.2, label="dotted: random targeting")
    ax.legend(loc="best", fontsize=10)
    return figure
