"""Churn-model charts: ROC, precision-recall, calibration, gains, drivers, backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from ..formatting import humanize
from .style import (
    BLACK,
    BLUE,
    GREY,
    THOUSANDS,
    _bar_labels,
    _figure,
    _styled,
    _wrap,
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
    ax.axvline(top_fraction * 100, color=BLACK, lw=1, ls="--")
    _percent_axes(
        ax,
        "customers contacted, riskiest first",
        "churners reached",
        "Gains: who to contact first",
        "lower right",
    )
    return figure


@_styled
def driver_bars(importance: pd.DataFrame, labels: dict[str, str], top: int = 12) -> Figure:
    """Mean |SHAP| contribution of the strongest features."""
    data = importance.sort_values("mean_abs_shap", ascending=False).head(top).iloc[::-1]
    figure = _figure(0.5 * len(data) + 1.4, width=8.5)
    ax = figure.subplots()
    names = [labels.get(f, humanize(f)) for f in data["feature"]]
    if (
        "direction" in data
    ):  # which way each driver pushes: "lower raises risk", "monthly raises risk"
        names = [
            _wrap(f"{name} ({direction})", 30) if isinstance(direction, str) and direction else name
            for name, direction in zip(names, data["direction"], strict=True)
        ]
    bars = ax.barh(names, data["mean_abs_shap"], color=BLUE, height=0.65)
    _bar_labels(ax, bars, [f"{v:.3f}" for v in data["mean_abs_shap"]], horizontal=True)
    ax.set_xlim(0, float(data["mean_abs_shap"].max()) * 1.15)
    ax.grid(axis="y", visible=False)
    ax.set(
        xlabel="average effect on the churn score (mean |SHAP|, log-odds)",
        title=f"Top {len(data)} drivers of predicted churn",
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
    for label, curve in curves.items():
        x = curve["share_targeted"] * 100
        line = ax.plot(x, curve["incremental_kept"] * 100, lw=2, label=label)[0]
        end = float(curve["incremental_kept"].iloc[-1]) * 100
        ax.plot([0, 100], [0, end], color=line.get_color(), ls=":", lw=1.2)
    ax.axhline(0, color=GREY, lw=1)
    ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set(
        xlabel="customers contacted, by expected uplift",
        ylabel="incremental customers kept (per 100)",
        title="Qini curves on held-out campaign customers (dotted: random targeting)",
    )
    ax.legend(loc="best", fontsize=10)
    return figure
