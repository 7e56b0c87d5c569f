"""Retention charts: monthly churn, cohorts, exit reasons, NPS, support speed, health."""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from .style import (
    BLACK,
    BLUE,
    GREEN,
    GREY,
    ORANGE,
    SKY,
    THOUSANDS,
    VERMILLION,
    _bar_labels,
    _figure,
    _month_axis,
    _styled,
    _wrap,
    chart_text,
)


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
    """Share of each signup-month cohort still active k months after its signup month.

    Column ``k`` of the table is measured when month signup + k + 1 starts: the x axis is in
    months after the signup month (k + 1), so each tick's label is its position (no column
    index relabelled), and a month missing from the table is an empty column, not a shift."""
    present = sorted(int(c) for c in cohorts.columns if str(c).isdigit())
    columns = [str(k) for k in range(present[-1] + 1)] if present else []
    matrix = cohorts.reindex(columns=columns).to_numpy(dtype=float) * 100
    labels = pd.to_datetime(cohorts["signup_month"]).dt.strftime("%b %Y").tolist()
    height = min(9.0, max(3.5, 0.22 * len(labels) + 1.8))
    figure = _figure(height)
    ax = figure.subplots()
    image = ax.imshow(
        matrix,
        aspect="auto",
        cmap="cividis",
        vmin=0,
        vmax=100,
        extent=(0.5, len(columns) + 0.5, len(labels) - 0.5, -0.5),
    )
    ax.grid(False)
    step_y = max(1, int(np.ceil(len(labels) / 18)))
    ax.set_yticks(range(0, len(labels), step_y), labels[::step_y])  # one label per row shown
    ax.xaxis.set_major_locator(MaxNLocator(nbins=12, integer=True, steps=[1, 2, 3, 6, 10]))
    ax.set_xlim(0.5, len(columns) + 0.5)
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
    if "nps_ci_low" in months:
        left.fill_between(
            dates,
            months["nps_ci_low"],
            months["nps_ci_high"],
            color=BLUE,
            alpha=0.15,
            lw=0,
            label="95% interval",
        )
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


def _rate_bars(
    ax: Any,
    names: list[str],
    rates: pd.Series,
    low: pd.Series | None,
    high: pd.Series | None,
    counts: pd.Series,
    colours: list[str],
    small: np.ndarray,
) -> None:
    """Churn rates (%) as bars with 95% whiskers (when ``low`` / ``high`` are given), each
    labelled with its rate and, in brackets, how many it rests on; ``small`` bars drawn pale."""
    positions = np.arange(len(names))
    bars = ax.bar(positions, rates, color=colours, width=0.6)
    for bar, pale in zip(bars, small, strict=True):
        if pale:
            bar.set_alpha(0.3)
    if low is not None and high is not None:
        ax.errorbar(
            positions,
            rates,
            yerr=np.clip([rates - low, high - rates], 0, None),
            fmt="none",
            ecolor=BLACK,
            elinewidth=1.2,
            capsize=4,
        )
    _bar_labels(
        ax,
        bars,
        [f"{r:.1f}%\n({n:,.0f})" for r, n in zip(rates, counts, strict=True)],
        ends=high,
    )
    ax.set_xticks(positions, names)
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    top = float((rates if high is None else high).max())
    ax.set_ylim(0, top * 1.3 or 1)


@_styled
def support_bands(bands: pd.DataFrame, horizon_days: int, min_customers: int = 0) -> Figure:
    """Churn within the horizon by band of median first-response time, with 95% intervals
    when the table has them; bands with fewer than ``min_customers`` rows drawn pale."""
    figure = _figure(4.0, width=8.0)
    ax = figure.subplots()
    small = (bands["customers"] < min_customers).to_numpy()
    _rate_bars(
        ax,
        [chart_text(b) for b in bands["support_response_band"]],
        bands["churn_rate_pct"],
        bands.get("churn_rate_ci_low_pct"),
        bands.get("churn_rate_ci_high_pct"),
        bands["customers"],
        [GREY if b == "no tickets" else BLUE for b in bands["support_response_band"]],
        small,
    )
    ax.set(
        xlabel="median time to first support response"
        + (f" (pale: fewer than {min_customers:,} observed)" if small.any() else ""),
        ylabel=f"churned within {horizon_days} days",
        title="Churn by support response speed",
    )
    return figure


def _band_colours(low: float, high: float) -> tuple[list[str], list[str]]:
    """Band names and colours of the health histogram: below ``low``, between, ``high`` up."""
    return (
        [f"below {low:g}", f"{low:g}–{high:g}", f"{high:g} and above"],
        [VERMILLION, ORANGE, GREEN],
    )


@_styled
def health_band_churn(
    bands: pd.DataFrame, horizon_days: int, low: float, high: float, min_customers: int = 0
) -> Figure:
    """Churn within the horizon by health-score band (``band``, ``customers``,
    ``churn_rate_pct``, ``churn_rate_ci_low_pct``, ``churn_rate_ci_high_pct``; the bands of
    :func:`health_histogram`, in its colours), with 95% intervals; bands with fewer than
    ``min_customers`` rows drawn pale."""
    figure = _figure(4.0, width=8.0)
    ax = figure.subplots()
    names, colours = _band_colours(low, high)
    colour_of = dict(zip(names, colours, strict=True))
    small = (bands["customers"] < min_customers).to_numpy()
    _rate_bars(
        ax,
        [f"score {b}" for b in bands["band"]],
        bands["churn_rate_pct"],
        bands["churn_rate_ci_low_pct"],
        bands["churn_rate_ci_high_pct"],
        bands["customers"],
        [colour_of.get(b, GREY) for b in bands["band"]],
        small,
    )
    ax.set(
        xlabel="health score at the snapshot"
        + (f" (pale: fewer than {min_customers:,} observed)" if small.any() else ""),
        ylabel=f"churned within {horizon_days} days",
        title="Churn by health-score band",
    )
    return figure


@_styled
def health_histogram(scores: pd.Series, low: float, high: float) -> Figure:
    """Health scores of the active customers, coloured by band."""
    figure = _figure(4.0, width=8.0)
    ax = figure.subplots()
    edges = np.arange(0, 105, 5)
    counts, _ = np.histogram(scores.clip(0, 100), bins=edges)
    names, band_colours = _band_colours(low, high)
    colours = [
        band_colours[0] if e < low else (band_colours[1] if e < high else band_colours[2])
        for e in edges[:-1]
    ]
    ax.bar(edges[:-1], counts, width=5, align="edge", color=colours, edgecolor="white")
    ax.yaxis.set_major_formatter(THOUSANDS)
    ax.set(
        xlim=(0, 100),
        xlabel="health score (0 = worst, 100 = best)",
        ylabel="active customers",
        title="Health score of active customers",
    )
    handles = [
        mpl.patches.Patch(color=c, label=n) for n, c in zip(names, band_colours, strict=True)
    ]
    ax.legend(handles=handles, loc="upper left")
    return figure


@_styled
def theme_churn(
    themes: pd.DataFrame, baseline: float, horizon_days: int, min_customers: int
) -> Figure:
    """Churn within the horizon after an NPS comment, by comment theme (``label``,
    ``customers``, ``churn_rate_pct``, ``churn_rate_ci_low_pct``, ``churn_rate_ci_high_pct``),
    with 95% intervals and the rate of all commenting customers (``baseline``, %) as a dashed
    line; themes with fewer than ``min_customers`` customers drawn pale."""
    figure = _figure(4.2, width=9.0)
    ax = figure.subplots()
    small = (themes["customers"] < min_customers).to_numpy()
    _rate_bars(
        ax,
        [_wrap(chart_text(label), 16) for label in themes["label"]],
        themes["churn_rate_pct"],
        themes["churn_rate_ci_low_pct"],
        themes["churn_rate_ci_high_pct"],
        themes["customers"],
        [BLUE] * len(themes),
        small,
    )
    ax.axhline(baseline, color=GREY, linestyle="--", linewidth=1.2, label="all NPS comments")
    ax.legend(loc="upper right")
    ax.set(
        xlabel="theme of the NPS comment"
        + (f" (pale: fewer than {min_customers:,} customers)" if small.any() else ""),
        ylabel=f"churned within {horizon_days} days",
        title="Churn after an NPS comment, by what the comment is about",
    )
    return figure
