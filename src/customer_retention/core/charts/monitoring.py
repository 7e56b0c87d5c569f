"""Monitoring charts: feature drift."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..formatting import fmt_number
from .style import (
    BLUE,
    GREY,
    VERMILLION,
    _bar_labels,
    _figure,
    _styled,
    chart_text,
)


@_styled
def drift_bars(features: pd.DataFrame, labels: dict[str, str], top: int = 15) -> Figure:
    """Population stability index of the most shifted features (0.1 moderate, 0.25 large),
    coloured by the monitoring stage's verdict (``drifted``), with a legend naming only the
    colours drawn (the title names none)."""
    data = features.sort_values("psi", ascending=False).head(top).iloc[::-1]
    figure = _figure(0.4 * len(data) + 1.5, width=8.5)
    ax = figure.subplots()
    drifted = data["drifted"].astype(bool).to_numpy()
    colours = [VERMILLION if d else BLUE for d in drifted]
    names = [labels.get(f, chart_text(f)) for f in data["feature"]]
    bars = ax.barh(names, data["psi"], color=colours, height=0.6)
    _bar_labels(ax, bars, [fmt_number(v, 2) for v in data["psi"]], horizontal=True)
    for threshold, text in ((0.1, "moderate"), (0.25, "large")):
        ax.axvline(threshold, color=GREY, ls="--", lw=1)
        ax.annotate(
            text,
            (threshold, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            fontsize=10,
            color=GREY,
        )
    ax.set_xlim(0, max(0.3, float(data["psi"].max()) * 1.2))
    ax.grid(axis="y", visible=False)
    handles = [
        Patch(color=colour, label=text)
        for colour, text, shown in (
            (VERMILLION, "drifted (monitoring threshold)", drifted.any()),
            (BLUE, "not drifted", (~drifted).any()),
        )
        if shown
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=10)
    ax.set(xlabel="population stability index (PSI)", title="Feature drift since training")
    return figure
