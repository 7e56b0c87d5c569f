"""The report's charts: one consistent, readable style.

Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), 12 pt text at
the size the report shows them, people-formatted axes (%, thousands, money) and no label that
can overlap another (long category names are wrapped, date ticks thinned). Every function takes
a small prepared table and returns a :class:`matplotlib.figure.Figure` (no pyplot state).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from .formatting import fmt_money, fmt_number, fmt_p_value, humanize

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


def _bar_labels(ax: Any, bars: Any, texts: list[str], horizontal: bool = False) -> None:
    """Value labels just outside the end of each bar."""
    for bar, text in zip(bars, texts, strict=True):
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
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
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


# ----------------------------------------------------------------------------- retention
@_styled
def monthly_churn(months: pd.DataFrame) -> Figure:
    """Monthly churn rate (bars) with its 3-month average; NRR / GRR beside it when known."""
    dates = pd.to_datetime(months["month"])
    has_revenue = (
        "net_revenue_retention" in months and months["net_revenue_retention"].notna().any()
    )
    figure = _figure(4.2)
    axes = figure.subplots(1, 2 if has_revenue else 1, squeeze=False)[0]
    ax = axes[0]
    ax.bar(dates, months["churn_rate"], width=20, color=SKY, label="monthly churn")
    ax.plot(
        dates,
        months["churn_rate"].rolling(3, min_periods=1).mean(),
        color=BLUE,
        lw=2.5,
        label="3-month average",
    )
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=1))
    ax.set(title="Customers lost per month", ylabel="churn rate (% of customers at start)")
    _month_axis(ax, dates, 12 if len(axes) == 1 else 6)
    ax.legend(loc="upper right")
    if has_revenue:
        ax = axes[1]
        ax.plot(dates, months["net_revenue_retention"], color=GREEN, lw=2, label="net (NRR)")
        ax.plot(
            dates, months["gross_revenue_retention"], color=VERMILLION, lw=2, label="gross (GRR)"
        )
        ax.axhline(100, color=BLACK, lw=1, ls=":")
        ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
        ax.set(title="Revenue kept per month", ylabel="% of MRR at start of month")
        _month_axis(ax, dates, 6)
        ax.legend(loc="lower right")
    return figure


@_styled
def cohort_heatmap(cohorts: pd.DataFrame) -> Figure:
    """Share of each signup-month cohort still active k months after its signup month."""
    columns = sorted((c for c in cohorts.columns if str(c).isdigit()), key=int)
    matrix = cohorts[columns].to_numpy(dtype=float) * 100
    labels = pd.to_datetime(cohorts["signup_month"]).dt.strftime("%b %Y").tolist()
    height = min(9.0, max(3.5, 0.22 * len(labels) + 1.8))
    figure = _figure(height)
    ax = figure.subplots()
    image = ax.imshow(matrix, aspect="auto", cmap="cividis", vmin=0, vmax=100)
    ax.grid(False)
    step_y = max(1, int(np.ceil(len(labels) / 18)))
    ax.set_yticks(range(0, len(labels), step_y), labels[::step_y])
    ticks = [i for i, c in enumerate(columns) if (int(c) + 1) % 3 == 0 or i == 0]
    ax.set_xticks(ticks, [str(int(columns[i]) + 1) for i in ticks])
    ax.set(
        xlabel="months after the signup month",
        ylabel="signup month (cohort)",
        title="Share of each signup cohort still active",
    )
    colorbar = figure.colorbar(image, ax=ax, shrink=0.9)
    colorbar.ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    colorbar.set_label("still active")
    return figure


@_styled
def exit_reasons_pareto(reasons: pd.DataFrame) -> Figure:
    """Exit-survey reasons, most frequent first, with the cumulative share (Pareto)."""
    data = reasons.sort_values("responses", ascending=False).reset_index(drop=True)
    figure = _figure(4.4)
    ax = figure.subplots()
    positions = np.arange(len(data))
    bars = ax.bar(positions, data["responses"], color=BLUE, width=0.65)
    _bar_labels(ax, bars, [f"{v:,.0f}" for v in data["responses"]])
    ax.set_xticks(positions, [_wrap(r, 12) for r in data["reason"]])
    ax.yaxis.set_major_formatter(THOUSANDS)
    ax.set(
        ylabel="exit-survey answers",
        title="Why customers say they leave (bars: answers; line: cumulative share)",
    )
    ax.set_ylim(0, data["responses"].max() * 1.15)
    share = ax.twinx()
    cumulative = data["responses"].cumsum() / data["responses"].sum() * 100
    share.plot(positions, cumulative, color=ORANGE, marker="o", lw=2)
    for x, y in zip(positions, cumulative, strict=True):
        share.annotate(
            f"{y:.0f}%",
            (x, y),
            xytext=(0, 7),
            textcoords="offset points",
            ha="center",
            fontsize=10.5,
            color=ORANGE,
            fontweight="bold",
        )
    share.set_ylim(0, 115)
    share.set_yticks([0, 25, 50, 75, 100])
    share.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    share.set_ylabel("cumulative %", color=ORANGE)
    share.grid(False)
    share.spines["right"].set_visible(True)
    return figure


@_styled
def nps_trend(months: pd.DataFrame) -> Figure:
    """Monthly NPS with the shares of promoters and detractors."""
    dates = pd.to_datetime(months["month"])
    figure = _figure(4.2)
    left, right = figure.subplots(1, 2)
    left.plot(dates, months["nps"], color=BLUE, lw=2.5, marker="o", ms=4)
    left.axhline(0, color=BLACK, lw=1, ls=":")
    left.set(title="Net Promoter Score", ylabel="NPS (−100 to +100)")
    _month_axis(left, dates, 6)
    right.plot(dates, months["promoters_pct"], color=GREEN, lw=2, label="promoters (9–10)")
    right.plot(dates, months["detractors_pct"], color=VERMILLION, lw=2, label="detractors (0–6)")
    right.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    right.set(title="Promoters and detractors", ylabel="% of answers")
    right.set_ylim(0, max(60, float(np.nanmax(months[["promoters_pct", "detractors_pct"]])) + 10))
    _month_axis(right, dates, 6)
    right.legend(loc="upper left")
    return figure


@_styled
def support_bands(bands: pd.DataFrame, horizon_days: int) -> Figure:
    """Churn within the horizon by band of median first-response time."""
    figure = _figure(4.0, width=8.0)
    ax = figure.subplots()
    colours = [GREY if b == "no tickets" else BLUE for b in bands["support_response_band"]]
    positions = np.arange(len(bands))
    bars = ax.bar(positions, bands["churn_rate_pct"], color=colours, width=0.6)
    _bar_labels(
        ax,
        bars,
        [
            f"{r:.1f}%\n({n:,.0f})"
            for r, n in zip(bands["churn_rate_pct"], bands["customers"], strict=True)
        ],
    )
    ax.set_xticks(positions, [humanize(b) for b in bands["support_response_band"]])
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_ylim(0, float(bands["churn_rate_pct"].max()) * 1.3)
    ax.set(
        xlabel="median time to first support response",
        ylabel=f"churned within {horizon_days} days",
        title="Churn by support response speed",
    )
    return figure


@_styled
def health_histogram(scores: pd.Series, low: float, high: float) -> Figure:
    """Health scores of the active customers, coloured by band."""
    figure = _figure(4.0, width=8.0)
    ax = figure.subplots()
    edges = np.arange(0, 105, 5)
    counts, _ = np.histogram(scores.clip(0, 100), bins=edges)
    colours = [VERMILLION if e < low else (ORANGE if e < high else GREEN) for e in edges[:-1]]
    ax.bar(edges[:-1], counts, width=5, align="edge", color=colours, edgecolor="white")
    ax.yaxis.set_major_formatter(THOUSANDS)
    ax.set(
        xlim=(0, 100),
        xlabel="health score (0 = worst, 100 = best)",
        ylabel="active customers",
        title="Health score of active customers",
    )
    handles = [
        mpl.patches.Patch(color=VERMILLION, label=f"below {low:g}"),
        mpl.patches.Patch(color=ORANGE, label=f"{low:g}–{high:g}"),
        mpl.patches.Patch(color=GREEN, label=f"{high:g} and above"),
    ]
    ax.legend(handles=handles, loc="upper left")
    return figure


# ----------------------------------------------------------------------------- survival
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


# ----------------------------------------------------------------------------- churn model
@_styled
def roc_curves(curves: dict[str, pd.DataFrame]) -> Figure:
    """ROC curve of each scorer: {label: frame with fpr, tpr}."""
    figure = _figure(5.2, width=6.6)
    ax = figure.subplots()
    for label, curve in curves.items():
        ax.plot(curve["fpr"] * 100, curve["tpr"] * 100, lw=2, label=label)
    ax.plot([0, 100], [0, 100], color=GREY, ls=":", lw=1.5, label="random")
    ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set(
        xlim=(0, 100),
        ylim=(0, 100),
        xlabel="stayers wrongly flagged",
        ylabel="churners caught",
        title="ROC: churners caught vs stayers flagged",
    )
    ax.legend(loc="lower right", fontsize=10)
    return figure


@_styled
def calibration_curves(tables: dict[str, pd.DataFrame]) -> Figure:
    """Observed churn against predicted probability per bin: {label: reliability table}."""
    figure = _figure(5.2, width=6.6)
    ax = figure.subplots()
    top = 0.0
    for label, table in tables.items():
        ax.plot(
            table["mean_predicted"] * 100,
            table["observed_rate"] * 100,
            "o-",
            lw=2,
            ms=5,
            label=label,
        )
        top = max(top, table["mean_predicted"].max(), table["observed_rate"].max())
    top = min(100.0, top * 110 + 1)
    ax.plot([0, top], [0, top], color=GREY, ls=":", lw=1.5, label="perfect calibration")
    ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set(
        xlim=(0, top),
        ylim=(0, top),
        xlabel="predicted churn probability (bin average)",
        ylabel="share that actually churned",
        title="Calibration: predicted vs actual churn",
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
    ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set(
        xlim=(0, 100),
        ylim=(0, 100),
        xlabel="customers contacted, riskiest first",
        ylabel="churners reached",
        title="Gains: who to contact first",
    )
    ax.legend(loc="lower right", fontsize=10)
    return figure


@_styled
def driver_bars(importance: pd.DataFrame, labels: dict[str, str], top: int = 12) -> Figure:
    """Mean |SHAP| contribution of the strongest features."""
    data = importance.sort_values("mean_abs_shap", ascending=False).head(top).iloc[::-1]
    figure = _figure(0.42 * len(data) + 1.4, width=8.5)
    ax = figure.subplots()
    names = [labels.get(f, humanize(f)) for f in data["feature"]]
    bars = ax.barh(names, data["mean_abs_shap"], color=BLUE, height=0.65)
    _bar_labels(ax, bars, [f"{v:.3f}" for v in data["mean_abs_shap"]], horizontal=True)
    ax.set_xlim(0, float(data["mean_abs_shap"].max()) * 1.15)
    ax.grid(axis="y", visible=False)
    ax.set(
        xlabel="average effect on the churn score (mean |SHAP|, log-odds)",
        title=f"Top {len(data)} drivers of predicted churn",
    )
    return figure


# ----------------------------------------------------------------------------- value
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
    """Value at risk per level, one panel per segment."""
    segments = list(dict.fromkeys(by_segment["segment"]))
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
        ax.set_xlim(0, float(data["value_at_risk"].max()) * 1.35 or 1)
        ax.xaxis.set_major_formatter(formatter)
        ax.xaxis.set_major_locator(MaxNLocator(3))
        ax.grid(axis="y", visible=False)
        ax.set_title(humanize(segment))
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


# ----------------------------------------------------------------------------- monitoring
@_styled
def drift_bars(features: pd.DataFrame, labels: dict[str, str], top: int = 15) -> Figure:
    """Population stability index of the most shifted features (0.1 moderate, 0.25 large)."""
    data = features.sort_values("psi", ascending=False).head(top).iloc[::-1]
    figure = _figure(0.4 * len(data) + 1.5, width=8.5)
    ax = figure.subplots()
    colours = [VERMILLION if d else BLUE for d in data["drifted"]]
    names = [labels.get(f, humanize(f)) for f in data["feature"]]
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
    ax.set(
        xlabel="population stability index (PSI)",
        title="Feature drift since training (red: drifted)",
    )
    return figure
