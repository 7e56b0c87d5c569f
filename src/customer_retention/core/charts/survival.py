"""Survival charts: Kaplan-Meier curves by segment, hazard ratios, the landmark model check."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, PercentFormatter

from ..formatting import fmt_p_value
from .style import (
    BLACK,
    BLUE,
    GREY,
    PALETTE,
    VERMILLION,
    _figure,
    _styled,
    _wrap,
    chart_text,
    drawable,
)


def _at_risk_table(
    ax, data: pd.DataFrame, colours: list[str], ticks: np.ndarray, origin: str
) -> None:
    """Customers still at risk of each group at the x ticks, printed under the panel below
    the axis title (months after ``origin``)."""
    groups = list(dict.fromkeys(data["group"]))
    for row, (group, colour) in enumerate(zip(groups, colours, strict=False)):
        line = data[data["group"] == group]
        counts = []
        for tick in ticks:
            before = line[line["months"] <= tick]
            counts.append(
                ""
                if before.empty or tick > line["months"].max()
                else f"{int(before['at_risk'].iat[-1]):,}"
            )
        for tick, text in zip(ticks, counts, strict=True):
            ax.annotate(
                text,
                xy=(tick, 0),
                xycoords=("data", "axes fraction"),
                xytext=(0, -38 - 13 * row),
                textcoords="offset points",
                ha="center",
                va="top",
                fontsize=9,
                color=colour,
                annotation_clip=False,
            )
    ax.annotate(
        f"months after {origin}; still at risk:",
        xy=(0, 0),
        xycoords="axes fraction",
        xytext=(0, -22),
        textcoords="offset points",
        ha="left",
        va="top",
        fontsize=8.5,
        color=GREY,
        annotation_clip=False,
    )


@_styled
def kaplan_meier_grid(curves: pd.DataFrame, segments: dict[str, dict[str, Any]]) -> Figure:
    """Share still active against months, one panel per segment, one line per group (in the
    order of ``curves``), with 95% bands (``ci_lower`` / ``ci_upper``) and the numbers at risk
    under each panel (``at_risk``) when the table has them. All panels share one y-axis range,
    so panels can be compared. ``segments``: segment -> {"origin": text, "p_value": p}."""
    names = list(segments)
    columns = 3 if len(names) > 4 else 2 if len(names) > 1 else 1
    rows = int(np.ceil(len(names) / columns))
    groups_per_panel = max(
        (curves.loc[curves["segment"] == s, "group"].nunique() for s in names), default=1
    )
    table = "at_risk" in curves
    figure = _figure((3.9 + (0.22 * groups_per_panel + 0.5 if table else 0)) * rows + 0.3)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False).ravel())
    shown = curves[curves["segment"].isin(names)]
    low_col = "ci_lower" if "ci_lower" in shown else "survival"
    lowest = float(shown[low_col].min()) * 100 if len(shown) else 0.0
    bottom = max(0.0, np.floor((lowest - 5) / 10) * 10)
    for ax, segment in zip(axes, names, strict=False):
        data = curves[curves["segment"] == segment]
        colours = []
        for colour, (group, line) in zip(PALETTE, data.groupby("group", sort=False), strict=False):
            colours.append(colour)
            ax.step(
                line["months"],
                line["survival"] * 100,
                where="post",
                color=colour,
                lw=2,
                label=_wrap(group, 16),
            )
            if "ci_lower" in line:
                ax.fill_between(
                    line["months"],
                    line["ci_lower"] * 100,
                    line["ci_upper"] * 100,
                    step="post",
                    color=colour,
                    alpha=0.15,
                    lw=0,
                )
        info = segments[segment]
        p = info.get("p_value")
        ax.set_title(
            chart_text(segment) + (f"\nlog-rank {fmt_p_value(p)}" if p is not None else "")
        )
        if not table:
            ax.set_xlabel(f"months after {info['origin']}")
        ax.set_ylim(bottom, 101)
        ax.set_xlim(left=0)
        ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
        ax.legend(loc="lower left", fontsize=10)
        if table and len(data):
            ticks = MaxNLocator(nbins=5, integer=True).tick_values(0, float(data["months"].max()))
            ticks = ticks[(ticks >= 0) & (ticks <= data["months"].max())]
            ax.set_xticks(ticks)
            _at_risk_table(ax, data, colours, ticks, info["origin"])
    for ax in axes[::columns]:
        ax.set_ylabel("still active")
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    return figure


@_styled
def hazard_forest(ratios: pd.DataFrame, labels: list[str], alpha: float = 0.05) -> Figure:
    """Hazard ratios with 95% confidence intervals on a log scale (1 = same churn rate)."""
    data = ratios.reset_index(drop=True)
    figure = _figure(0.45 * len(data) + 1.6)
    ax = figure.subplots()
    positions = np.arange(len(data))[::-1]
    significant = data["p_value"] < alpha
    colours = np.where(significant, BLUE, GREY)
    ax.hlines(positions, data["ci_lower_95"], data["ci_upper_95"], colors=colours, lw=2.5)
    ax.scatter(data["hazard_ratio"], positions, color=colours, s=45, zorder=3)
    ax.axvline(1, color=BLACK, lw=1, ls=":")
    ax.set_xscale("log")
    low = min(0.5, float(data["ci_lower_95"].min()) * 0.9)
    high = max(2.0, float(data["ci_upper_95"].max()) * 1.1)
    ax.set_xlim(low, high)
    ticks = [t for t in (0.25, 0.33, 0.5, 0.67, 0.8, 1, 1.25, 1.5, 2, 3, 4) if low <= t <= high]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}×"))  # the value
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))
    ax.set_yticks(positions, [drawable(text) for text in labels])  # one covariate per row
    for y, ratio in zip(positions, data["hazard_ratio"], strict=True):
        ax.annotate(
            f"{ratio:.2f}×",
            (high, y),
            xytext=(-4, 0),
            textcoords="offset points",
            ha="right",
            va="center",
            fontsize=10.5,
        )
    ax.set(
        xlabel="churn rate relative to the reference group (log scale; < 1 = churn less)",
        title=f"Hazard ratios, Cox model (grey: not significant at {alpha:g})",
    )
    ax.grid(axis="y", visible=False)
    return figure


@_styled
def landmark_check(check: pd.DataFrame, title: str) -> Figure:
    """Observed share still active (Kaplan-Meier, a step line) against the model's mean
    prediction (points) after a landmark snapshot. ``check``: kind (observed / predicted),
    months, survival."""
    figure = _figure(4.6, width=7.5)
    ax = figure.subplots()
    observed = check[check["kind"] == "observed"]
    predicted = check[check["kind"] == "predicted"]
    ax.step(
        observed["months"],
        observed["survival"] * 100,
        where="post",
        color=BLUE,
        lw=2,
        label="observed (Kaplan-Meier)",
    )
    ax.plot(
        predicted["months"],
        predicted["survival"] * 100,
        "o--",
        color=VERMILLION,
        lw=1.5,
        label="predicted (mean of customers)",
    )
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set(title=title, xlabel="months after the snapshot", ylabel="still active")
    ax.set_xlim(0, float(check["months"].max()) + 0.5 if len(check) else 1)
    ax.legend(loc="lower left")
    return figure
