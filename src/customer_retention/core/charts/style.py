"""The one chart style: Okabe-Ito colours, readable text, people-formatted axes."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl
import matplotlib.dates as mdates
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ..formatting import humanize

# Okabe & Ito (2008), "Color universal design": blue, orange, bluish green, vermillion,
# reddish purple, sky blue, yellow, black.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, YELLOW, BLACK = PALETTE
GREY = "#8C8C8C"
WIDTH = 10.0  # inches; the report shows charts at 100 dpi, so 1,000 px wide

STYLE = {
    "font.size": 12,
    "axes.titlesize": 13,
    "axes.titleweight": "bold",
    "axes.labelsize": 12,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 11,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#E5E5E5",
    "grid.linewidth": 0.8,
    "axes.axisbelow": True,
    "axes.prop_cycle": mpl.cycler(color=PALETTE),
    "figure.dpi": 100,
    "savefig.dpi": 100,
}


@contextmanager
def _style() -> Iterator[None]:
    with mpl.rc_context(STYLE):
        yield


def _figure(height: float, width: float = WIDTH) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def money_formatter(currency: str) -> FuncFormatter:
    """Axis ticks like $0, $250k, $1.5M."""

    def format_tick(value: float, _position: Any) -> str:
        sign = "-" if value < 0 else ""
        value = abs(value)
        if value >= 1e6:
            text = f"{value / 1e6:.1f}M".replace(".0M", "M")
        elif value >= 1e3:
            text = f"{value / 1e3:.0f}k"
        else:
            text = f"{value:.0f}"
        return f"{sign}{currency}{text}"

    return FuncFormatter(format_tick)


THOUSANDS = FuncFormatter(lambda value, _position: f"{value:,.0f}")


def _wrap(label: Any, width: int = 14) -> str:
    return "\n".join(textwrap.wrap(humanize(label), width)) or str(label)


def _month_axis(ax: Any, months: pd.Series, max_ticks: int = 12) -> None:
    """Month ticks thinned to at most ``max_ticks``, labelled 'Jan\\n2025'."""
    dates = pd.to_datetime(months)
    span = (dates.max().year - dates.min().year) * 12 + dates.max().month - dates.min().month + 1
    interval = next(i for i in (1, 2, 3, 4, 6, 12, 24) if span / i <= max_ticks or i == 24)
    ax.xaxis.set_major_locator(mdates.MonthLocator(interval=interval))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b\n%Y"))


def _bar_labels(
    ax: Any, bars: Any, texts: list[str], horizontal: bool = False, ends: Any = None
) -> None:
    """Value labels just outside the end of each bar (or of ``ends``, e.g. the tops of error
    bars, when given)."""
    ends = [None] * len(texts) if ends is None else list(ends)
    for bar, text, end in zip(bars, texts, ends, strict=True):
        if horizontal:
            ax.annotate(
                text,
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=10.5,
            )
        else:
            ax.annotate(
                text,
                (bar.get_x() + bar.get_width() / 2, bar.get_height() if end is None else end),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                fontsize=10.5,
            )


def _styled(draw: Callable[..., Figure]) -> Callable[..., Figure]:
    """Run a drawing function inside the report style."""

    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with _style():
            return draw(*args, **kwargs)

    wrapper.__name__ = draw.__name__
    wrapper.__doc__ = draw.__doc__
    return wrapper


def note(text: str) -> Figure:
    """A small figure that says why a chart has nothing to show (its versioned file keeps its
    place, so a reader finds the reason where the chart should be)."""
    with _style():
        figure = _figure(1.2, width=8.0)
        ax = figure.subplots()
        ax.text(0.5, 0.5, "\n".join(textwrap.wrap(text, 90)), ha="center", va="center")
        ax.set_axis_off()
    return figure
