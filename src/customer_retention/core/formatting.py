"""Numbers written for people: thousands separators, percentages, money, months.

Every formatter returns ``"n/a"`` for a missing value (None, NaN), so the report never shows
``nan``. Money is in the currency of the data; the symbol comes from ``reporting.currency``.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from customer_retention.models.clv import DAYS_PER_MONTH

MISSING = "n/a"


def is_missing(value: Any) -> bool:
    """None, NaN, NaT or pandas NA."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def fmt_int(value: Any) -> str:
    """1234.4 -> '1,234'."""
    return MISSING if is_missing(value) else f"{round(float(value)):,}"


def fmt_number(value: Any, decimals: int = 1) -> str:
    """3.14159 -> '3.1' (thousands separators kept)."""
    return MISSING if is_missing(value) else f"{float(value):,.{decimals}f}"


def fmt_pct(value: Any, decimals: int = 1) -> str:
    """A value already in percent: 3.87 -> '3.9%'."""
    return MISSING if is_missing(value) else f"{float(value):,.{decimals}f}%"


def fmt_share(value: Any, decimals: int = 1) -> str:
    """A share in [0, 1]: 0.0387 -> '3.9%'."""
    return MISSING if is_missing(value) else fmt_pct(float(value) * 100, decimals)


def fmt_money(value: Any, currency: str = "", compact: bool = True) -> str:
    """1234.5 -> '$1,235'; 2_345_678 -> '$2.35M' (compact) or '$2,345,678'. Negative: '-$12'."""
    if is_missing(value):
        return MISSING
    amount = float(value)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    text = f"{amount / 1e6:,.2f}M" if compact and amount >= 1e6 else f"{amount:,.0f}"
    return f"{sign}{currency}{text}"


def fmt_signed(value: Any, decimals: int = 1, suffix: str = "") -> str:
    """+1.2 / -0.4 / 0.0 with an explicit sign."""
    if is_missing(value):
        return MISSING
    amount = round(float(value), decimals)
    if amount == 0:
        return f"{0:.{decimals}f}{suffix}"
    return f"{amount:+,.{decimals}f}{suffix}"


def fmt_month(value: Any) -> str:
    """'2025-12' or a timestamp -> 'Dec 2025'."""
    if is_missing(value):
        return MISSING
    return pd.Timestamp(str(value)).strftime("%b %Y")


def fmt_date(value: Any) -> str:
    """A date or timestamp -> '2026-01-01'."""
    if is_missing(value):
        return MISSING
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def fmt_p_value(value: Any) -> str:
    """p-values as people read them: 'p < 0.001', 'p = 0.012', 'p = 0.45'."""
    if is_missing(value):
        return MISSING
    p = float(value)
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


# Words written as people expect them.
WORDS = {
    "nps": "NPS",
    "mrr": "MRR",
    "csat": "CSAT",
    "clv": "CLV",
    "aft": "AFT",
    "psi": "PSI",
    "cox": "Cox",
    "weibull": "Weibull",
}


def humanize(name: Any) -> str:
    """'paid_search' -> 'paid search'; 'nps_class' -> 'NPS class'."""
    return " ".join(WORDS.get(word, word) for word in str(name).replace("_", " ").split(" "))


def months_from_days(days: Any) -> str:
    """627 days -> '20.6 months'; None (not reached) -> 'not reached'."""
    if is_missing(days):
        return "not reached"
    return f"{float(days) / DAYS_PER_MONTH:.1f} months"


def finite(value: Any) -> float | None:
    """float(value), or None when missing or infinite."""
    if is_missing(value):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
