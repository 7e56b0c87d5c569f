"""The one chart style: Okabe-Ito colours, readable text, people-formatted axes.

Fonts: text is drawn with DejaVu Sans (matplotlib's own font: Latin, Greek, Cyrillic, the
arrows and maths signs of the labels, and a few emoji) and, glyph by glyph, IPAexGothic for
what DejaVu lacks (Japanese kana and kanji, most CJK ideographs, full-width forms), shipped by
the pinned package ``matplotlib-fontja`` (its font file is registered; the package is not
imported, since importing it switches every later plot of the process to its font).
Characters that neither font can draw (most emoji, variation selectors) are removed from the
chart's text before drawing, with one WARNING per new character per process, instead of an
empty box and a missing-glyph warning per character and per draw.
"""

from __future__ import annotations

import importlib.util
import logging
import textwrap
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import matplotlib as mpl
import matplotlib.dates as mdates
import pandas as pd
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter

from ..formatting import humanize

logger = logging.getLogger(__name__)

# Okabe & Ito (2008), "Color universal design": blue, orange, bluish green, vermillion,
# reddish purple, sky blue, yellow, black.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, YELLOW, BLACK = PALETTE
GREY = "#8C8C8C"
WIDTH = 10.0  # inches; the report shows charts at 100 dpi, so 1,000 px wide

LATIN_FONT = "DejaVu Sans"
CJK_FONT = "IPAexGothic"  # matplotlib-fontja's font file


def _cjk_font_file() -> Path | None:
    """matplotlib-fontja's IPAexGothic file, found without importing the package."""
    spec = importlib.util.find_spec("matplotlib_fontja")
    for folder in (spec and spec.submodule_search_locations) or []:
        path = Path(folder) / "fonts" / "ipaexg.ttf"
        if path.is_file():
            return path
    return None


class _NoBoldNotice(logging.Filter):
    """Drops matplotlib's notice that IPAexGothic has no bold weight (bold CJK text, e.g. in a
    title, is drawn in the regular weight), logged once per font size otherwise."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (CJK_FONT in message and "Failed to find font weight" in message)


def _font_families() -> list[str]:
    """DejaVu Sans first, IPAexGothic as the glyph fallback when matplotlib-fontja is there."""
    path = _cjk_font_file()
    if path is None:
        logger.warning(
            "matplotlib-fontja is not installed: Japanese and Chinese chart text cannot be drawn"
        )
        return [LATIN_FONT]
    font_manager.fontManager.addfont(str(path))
    logging.getLogger("matplotlib.font_manager").addFilter(_NoBoldNotice())
    return [LATIN_FONT, CJK_FONT]


FONT_FAMILIES = _font_families()

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
    "font.family": FONT_FAMILIES,
}


@cache
def _drawable_codepoints() -> frozenset[int]:
    """Every character one of the chart fonts (regular or bold) has a glyph for."""
    covered: set[int] = set()
    for family in FONT_FAMILIES:
        for weight in ("normal", "bold") if family == LATIN_FONT else ("normal",):
            try:
                path = font_manager.findfont(
                    font_manager.FontProperties(family=family, weight=weight),
                    fallback_to_default=False,
                )
            except ValueError:
                continue
            covered.update(font_manager.get_font(path).get_charmap())
    return frozenset(covered)


_REPORTED: set[str] = set()


def drawable(text: str) -> str:
    """``text`` without the characters no chart font can draw (reported once per character
    per process); line breaks and tabs are kept."""
    covered = _drawable_codepoints()
    if all(ord(c) in covered or c in "\n\t" for c in text):
        return text
    dropped = {c for c in text if ord(c) not in covered and c not in "\n\t"}
    new = sorted(dropped - _REPORTED)
    if new:
        _REPORTED.update(new)
        logger.warning(
            "Chart text: left out %s character(s) that no chart font (%s) can draw: %s",
            len(new),
            ", ".join(FONT_FAMILIES),
            ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, '?')}" for c in new),
        )
    return "".join(c for c in text if c not in dropped).strip()


def chart_text(value: Any) -> str:
    """A name from the data as chart text: underscores as spaces, known words cased,
    undrawable characters left out."""
    return drawable(humanize(value))


@contextmanager
def _style() -> Iterator[None]:
    with mpl.rc_context(STYLE):
        yield


def _figure(height: float, width: float = WIDTH) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def money_formatter(currency: str) -> FuncFormatter:
    """Axis ticks like $0, $250k, $1.5M."""
    currency = drawable(currency)

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


def _wrap(name: Any, width: int = 14) -> str:
    """Chart text of ``name`` in lines of about ``width`` Latin characters (CJK characters are
    twice as wide, and words without spaces are broken)."""
    text = chart_text(name)
    if any(unicodedata.east_asian_width(c) in "WF" for c in text):
        width = max(4, width // 2)
    return "\n".join(textwrap.wrap(text, width)) or text


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
            figure = draw(*args, **kwargs)
        for text in figure.findobj(Text):  # titles, legends, annotations built from data
            content = text.get_text()
            if content:
                text.set_text(drawable(content))
        return figure

    wrapper.__name__ = draw.__name__
    wrapper.__doc__ = draw.__doc__
    return wrapper


def note(text: str) -> Figure:
    """A small figure that says why a chart has nothing to show (its versioned file keeps its
    place, so a reader finds the reason where the chart should be)."""
    with _style():
        figure = _figure(1.2, width=8.0)
        ax = figure.subplots()
        ax.text(0.5, 0.5, "\n".join(textwrap.wrap(drawable(text), 90)), ha="center", va="center")
        ax.set_axis_off()
    return figure
