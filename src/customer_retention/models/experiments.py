"""Statistics of randomised retention campaigns: did the action change churn, was the split
sound, and how many customers does the next test need.

* ``proportion_effect``: churn within the horizon, treatment minus control, as a difference
  (Newcombe's hybrid score interval, Newcombe 1998, Statistics in Medicine 17: 873-890) and a
  ratio (log-adjusted interval), with the two-sided score test's p-value -- statsmodels'
  ``confint_proportions_2indep`` / ``test_proportions_2indep``.
* ``sample_ratio_mismatch``: chi-square goodness of fit of the arm sizes against the intended
  split (Fabijan et al. 2019, "Diagnosing sample ratio mismatch in online controlled
  experiments", KDD). A p-value below ~0.001 means the assignment or the logging is broken and
  the effect estimate cannot be trusted.
* ``standardized_mean_differences``: covariate balance, SMD = (mean_t - mean_c) /
  sqrt((var_t + var_c) / 2) (Austin 2009, Statistics in Medicine 28: 3083-3107); |SMD| > 0.1 is
  the usual flag.
* ``minimum_detectable_effect`` / ``required_group_size``: power of the two-proportion z-test on
  Cohen's h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p2)) (statsmodels ``NormalIndPower``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    test_proportions_2indep,
)


def proportion_effect(
    churned_treatment: int,
    n_treatment: int,
    churned_control: int,
    n_control: int,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Churn rates per arm, their difference (treatment - control) and ratio with
    (1 - alpha) intervals, and the two-sided p-value of no difference."""
    if min(n_treatment, n_control) == 0:
        raise ValueError("both arms need customers to compare churn")
    p_t, p_c = churned_treatment / n_treatment, churned_control / n_control
    counts = (churned_treatment, n_treatment, churned_control, n_control)
    low, high = confint_proportions_2indep(*counts, method="newcomb", compare="diff", alpha=alpha)
    result = {
        "churn_treatment": p_t,
        "churn_control": p_c,
        "effect": p_t - p_c,
        "ci_low": float(low),
        "ci_high": float(high),
        "p_value": float(test_proportions_2indep(*counts, method="score").pvalue),
        "ratio": p_t / p_c if p_c > 0 else None,
        "ratio_ci_low": None,
        "ratio_ci_high": None,
    }
    if churned_control > 0 and churned_treatment > 0:
        r_low, r_high = confint_proportions_2indep(
            *counts, method="log-adjusted", compare="ratio", alpha=alpha
        )
        result |= {"ratio_ci_low": float(r_low), "ratio_ci_high": float(r_high)}
    return result


def sample_ratio_mismatch(
    n_treatment: int, n_control: int, intended_treatment_share: float
) -> dict[str, Any]:
    """Chi-square test of the arm sizes against the intended treatment share."""
    total = n_treatment + n_control
    expected = [total * intended_treatment_share, total * (1 - intended_treatment_share)]
    statistic, p_value = stats.chisquare([n_treatment, n_control], f_exp=expected)
    return {
        "intended_treatment_share": intended_treatment_share,
        "observed_treatment_share": n_treatment / total if total else None,
        "chi_square": float(statistic),
        "p_value": float(p_value),
    }


def standardized_mean_differences(
    covariates: pd.DataFrame, treated: np.ndarray | pd.Series
) -> pd.DataFrame:
    """SMD of every numeric covariate and of every level of every categorical one (its
    share), treatment vs control; columns: covariate, smd. A covariate constant within each
    arm is scaled by its standard deviation over both arms together."""
    treated = np.asarray(treated, dtype=bool)
    rows = []
    for column in covariates.columns:
        series = covariates[column]
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            indicators = {column: pd.to_numeric(series, errors="coerce").astype(float)}
        else:
            text = series.astype("string").fillna("(blank)")
            indicators = {
                f"{column}={level}": (text == level).astype(float)
                for level in text.value_counts().index[:20]
            }
        for name, values in indicators.items():
            t, c = values[treated].dropna(), values[~treated].dropna()
            if len(t) < 2 or len(c) < 2:
                continue
            pooled = math.sqrt((t.var() + c.var()) / 2)
            if pooled == 0:  # constant within each arm: scale by the spread of both together
                pooled = float(pd.concat([t, c]).std())
            smd = (t.mean() - c.mean()) / pooled if pooled > 0 else 0.0
            rows.append({"covariate": name, "smd": float(smd)})
    return pd.DataFrame(rows, columns=["covariate", "smd"])


def chance_imbalance(
    covariates: int, n_treatment: int, n_control: int, threshold: float, observed: int | None = None
) -> dict[str, Any]:
    """How many of ``covariates`` SMDs exceed ``threshold`` by chance under random assignment
    (each SMD ~ N(0, 1/n_t + 1/n_c)), and -- given the ``observed`` count -- the binomial
    p-value of seeing at least that many (covariates treated as independent: conservative
    for correlated features)."""
    spread = math.sqrt(1 / max(n_treatment, 1) + 1 / max(n_control, 1))
    share = float(2 * stats.norm.sf(threshold / spread))
    result = {"expected_by_chance": covariates * share, "chance_share": share}
    if observed is not None:
        result["p_value_more_than_chance"] = float(stats.binom.sf(observed - 1, covariates, share))
    return result


def _reduced_rate(base_rate: float, h: float) -> float:
    """The rate p with 2 asin(sqrt(base)) - 2 asin(sqrt(p)) = h (lower than base)."""
    angle = math.asin(math.sqrt(base_rate)) - h / 2
    return math.sin(max(angle, 0.0)) ** 2


def minimum_detectable_effect(
    n_treatment: int, n_control: int, base_rate: float, alpha: float = 0.05, power: float = 0.8
) -> float | None:
    """The smallest reduction of the churn rate (in rate points, positive) that a two-sided
    test at ``alpha`` detects with probability ``power`` with these arm sizes."""
    if min(n_treatment, n_control) < 2 or not 0 < base_rate < 1:
        return None
    h = NormalIndPower().solve_power(
        nobs1=n_treatment, ratio=n_control / n_treatment, alpha=alpha, power=power
    )
    return float(base_rate - _reduced_rate(base_rate, float(h)))


def required_group_size(
    base_rate: float, reduction: float, alpha: float = 0.05, power: float = 0.8
) -> int | None:
    """Customers per arm (equal arms) to detect a churn-rate reduction of ``reduction``."""
    target = base_rate - reduction
    if not 0 < target < base_rate < 1:
        return None
    h = abs(proportion_effectsize(base_rate, target))
    n = NormalIndPower().solve_power(effect_size=h, ratio=1.0, alpha=alpha, power=power)
    return int(math.ceil(n))
