"""Takeaways of churn compared between groups (support speed, health-score bands), of the
health score, and of the sBG check of CLV. A difference between two groups is called "not
significant" when the 95% interval of the difference in churn rates includes none; groups
smaller than the report's minimum group size are left out of the comparison."""

from __future__ import annotations

from typing import Any

import pandas as pd

from customer_retention.core.formatting import (
    fmt_int,
    fmt_money,
    fmt_number,
    fmt_pct,
    fmt_share,
    humanize,
    is_missing,
)
from customer_retention.models.experiments import proportion_effect

NOT_SIGNIFICANT = "; the difference is not significant (its 95% interval includes none)"


def _verdict(worse: pd.Series, better: pd.Series, churned: str | None = None) -> str:
    """'' when the two groups' churn rates differ beyond chance, else NOT_SIGNIFICANT.
    ``churned``: the column of churner counts (else from the rate and the group size)."""

    def count(row: pd.Series) -> int:
        if churned:
            return int(row[churned])
        return round(row["churn_rate_pct"] / 100 * row["customers"])

    test = proportion_effect(
        count(worse), int(worse["customers"]), count(better), int(better["customers"])
    )
    return "" if test["ci_low"] > 0 or test["ci_high"] < 0 else NOT_SIGNIFICANT


def _times(worse: float, better: float) -> str:
    return f" ({fmt_number(worse / better)} times as often)" if better else ""


def support_bands(bands: pd.DataFrame, horizon_days: int, min_customers: int = 1) -> str | None:
    """Churn within the horizon in the slowest support band against the fastest one."""
    if bands is None or bands.empty:
        return None
    answered = bands[
        (bands["support_response_band"] != "no tickets") & (bands["customers"] >= min_customers)
    ].dropna(subset=["churn_rate_pct"])
    if len(answered) < 2:
        return None
    fast, slow = answered.iloc[0], answered.iloc[-1]
    return (
        f"Customers whose median first support response took {slow['support_response_band']} "
        f"churned within {horizon_days} days at {fmt_pct(slow['churn_rate_pct'])}, against "
        f"{fmt_pct(fast['churn_rate_pct'])} for {fast['support_response_band']}"
        f"{_times(slow['churn_rate_pct'], fast['churn_rate_pct'])}{_verdict(slow, fast)}."
    )


def health_bands(bands: pd.DataFrame, horizon_days: int, min_customers: int = 1) -> str | None:
    """Churn within the horizon in the lowest health-score band against the highest, among
    the bands with at least ``min_customers`` rows (``bands``: worst band first, as
    :func:`customer_retention.core.chart_data.health_band_churn` makes it)."""
    if bands is None or bands.empty:
        return None
    rated = bands.dropna(subset=["churn_rate_pct"])
    usable = rated[rated["customers"] >= min_customers]
    small = [b for b in rated["band"] if b not in set(usable["band"])]
    left_out = (
        f" Too few to compare (under {fmt_int(min_customers)}): scores {_join_or(small)}."
        if small
        else ""
    )
    if len(usable) < 2:
        return f"Too few labelled customers in all but one health-score band.{left_out}".strip()
    low, high = usable.iloc[0], usable.iloc[-1]
    sentence = (
        f"Customers scoring {low['band']} churned within {horizon_days} days at "
        f"{fmt_pct(low['churn_rate_pct'])} (95% CI {fmt_pct(low['churn_rate_ci_low_pct'])}–"
        f"{fmt_pct(low['churn_rate_ci_high_pct'])}), "
        f"against {fmt_pct(high['churn_rate_pct'])} ({fmt_pct(high['churn_rate_ci_low_pct'])}–"
        f"{fmt_pct(high['churn_rate_ci_high_pct'])}) for those scoring {high['band']}"
        f"{_times(low['churn_rate_pct'], high['churn_rate_pct'])}"
        f"{_verdict(low, high, 'churned')}."
    )
    return sentence + left_out


def _join_or(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def health_scores(
    scores: pd.Series, health_summary: dict[str, Any] | None, low: float, horizon_days: int
) -> str | None:
    """Share of active customers under the ``low`` health score, and the score's track record."""
    scores = scores.dropna() if scores is not None else pd.Series(dtype=float)
    if scores.empty:
        return None
    under = int((scores < low).sum())
    sentence = (
        f"{fmt_int(under)} of {fmt_int(len(scores))} active customers "
        f"({fmt_share(under / len(scores))}) have a health score below {low:g}"
    )
    summary = health_summary or {}
    churned, stayed = summary.get("mean_score_churned"), summary.get("mean_score_retained")
    if is_missing(churned) or is_missing(stayed):
        return sentence + "."
    return (
        f"{sentence}; in past snapshots, customers who churned within {horizon_days} days had "
        f"scored {fmt_number(churned)} on average, those who stayed {fmt_number(stayed)}."
    )


def sbg_fit(fit: pd.DataFrame, check: dict[str, Any], currency: str) -> str | None:
    """How closely the sBG curves follow the observed retention of their cohorts, and how
    far the sBG CLV is from the landmark CLV that the report uses."""
    if fit is None or fit.empty:
        return None
    gaps = (fit["observed"] - fit["fitted"]).abs() * 100
    worst = fit.loc[gaps.idxmax()]
    segment = humanize(check.get("segment", ""))
    levels = fit["level"].nunique()
    fitted = (
        "one sBG curve for all customers"
        if check.get("segment") == "all_customers"
        else f"an sBG curve for each {segment} ({levels})"
    )
    sentence = (
        f"Over the first {int(fit['month'].max())} months after signup, {fitted} stays within "
        f"{fmt_number(gaps.max())} points of the share observed still active (largest gap: "
        f"{humanize(worst['level'])}, month {int(worst['month'])})"
    )
    clv = [
        (humanize(level), v["mean_clv_sbg"], v["mean_clv_landmark"])
        for level, v in (check.get("by_level") or {}).items()
        if not is_missing(v.get("mean_clv_sbg")) and v.get("mean_clv_landmark")
    ]
    if not clv:
        return sentence + "."
    name, sbg, landmark = max(clv, key=lambda c: abs(c[1] / c[2] - 1))
    apart = fmt_pct(abs(sbg / landmark - 1) * 100, 0)
    amounts = f"{fmt_money(sbg, currency)} against {fmt_money(landmark, currency)}"
    if len(clv) == 1:
        return (
            f"{sentence}. Its mean CLV of the active customers is {amounts} from the landmark "
            f"model the report uses ({apart} apart)."
        )
    return (
        f"{sentence}. Its mean CLV of the active customers is within {apart} of the landmark "
        f"model's (the report's) for every {segment} (largest difference: {name}, {amounts})."
    )
