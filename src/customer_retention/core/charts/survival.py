"""Survival charts: Kaplan-Meier curves by segment, hazard ratios, the landmark model check."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from ..formatting import fmt_p_value, humanize
from .style import (
    BLACK,
    BLUE,
    GREY,
    PALETTE,
    VERMILLION,
    _figure,
    _styled,
    _wrap,
)


@_styled
def kaplan_meier_grid(curves: pd.DataFrame, segments: dict[str, dict[str, Any]]) -> Figure:
    """Share still active against months, one panel per segment, one line per group (in the
    order of ``curves``). ``segments``: segment -> {"origin": text, "p_value": p or None}."""
    names = list(segments)
    columns = 3 if len(names) > 4 else 2 if len(names) > 1 else 1
    rows = int(np.ceil(len(names) / columns))
    figure = _figure(3.9 * rows + 0.3)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False).ravel())
    for ax, segment in zip(axes, names, strict=False):
        data = curves[curves["segment"] == segment]
        for colour, (group, line) in zip(PALETTE, data.groupby("group", sort=False), strict=False):
            ax.step(
                line["months"],
                line["survival"] * 100,
                where="post",
                color=colour,
                lw=2,
                label=_wrap(group, 16),
            )
        info = segments[segment]
        p = info.get("p_value")
        ax.set_title(humanize(segment) + (f"\nlog-rank {fmt_p_value(p)}" if p is not None else ""))
        ax.set_xlabel(f"months after {info['origin']}")
        lowest = float(data["survival"].min()) * 100 if len(data) else 0.0
        ax.set_ylim(max(0.0, np.floor((lowest - 5) / 10) * 10), 101)
        ax.set_xlim(left=0)
        ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
        ax.legend(loc="lower left", fontsize=10)
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
    ax.set_xticks(ticks, [f"{t:g}×" for t in ticks])
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))
    ax.set_yticks(positions, labels)
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
