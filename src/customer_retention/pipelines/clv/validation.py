"""How well the purchase model predicts what customers then did: a calibration / holdout check.

The standard test of BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way",
figure 4 and table 2): split the purchase history at a calibration end, fit BG/NBD and
Gamma-Gamma on the calibration period only, and compare their predictions with the holdout:

- tracking: cumulative repeat purchases by week over the whole history, actual against
  expected, E[X(t)] summed over customers from each one's first purchase (the FHL tracking
  plot; the holdout weeks are the out-of-sample part);
- conditional expectations: mean holdout purchases by number of calibration repeat purchases
  (0..7+), actual against E[Y(t) | x, t_x, T];
- spend: Gamma-Gamma's expected average spend per purchase day against the actual holdout
  average, for customers with repeat purchases in calibration and purchases in the holdout;
- per-customer error: mean absolute error of holdout purchases against two baselines (the
  calibration purchase rate carried forward, and zero).

Then both models are refitted on the whole history: those are the values CLV deploys. Time is
in weeks; purchases on the same day count once.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from customer_retention.models import BetaGeo, GammaGamma, rfm_summary

logger = logging.getLogger(__name__)
MAX_FREQUENCY_GROUP = 7  # calibration repeat purchases grouped 0, 1, ..., 7+


def calibration_end(
    first_purchase: pd.Timestamp, as_of: pd.Timestamp, setting: Any
) -> pd.Timestamp:
    """The first day of the holdout: ``setting``, else the as-of date minus a third of the
    history, rounded to whole weeks."""
    if setting:
        return pd.Timestamp(setting).normalize()
    weeks = int(round((as_of - first_purchase).days / 3 / 7))
    return as_of - pd.Timedelta(weeks=weeks)


def cohort_purchases(daily: pd.DataFrame, cohort: dict[str, Any] | None) -> pd.DataFrame:
    """The per-customer-day purchases of the customers whose first purchase falls in the
    acquisition cohort (``clv.bg_nbd.cohort``: ``first_purchase_from`` / ``first_purchase_to``,
    inclusive, either optional); every customer's without one."""
    if not cohort:
        return daily
    first = daily.groupby("customer_id")["day"].transform("min")
    keep = pd.Series(True, index=daily.index)
    if cohort.get("first_purchase_from"):
        keep &= first >= pd.Timestamp(cohort["first_purchase_from"])
    if cohort.get("first_purchase_to"):
        keep &= first <= pd.Timestamp(cohort["first_purchase_to"])
    return daily[keep.to_numpy()]


def bg_nbd_record(model: BetaGeo) -> dict[str, Any]:
    return {
        **{k: float(v) for k, v in model.params_.items()},
        "log_likelihood": float(model.log_likelihood_),
        "time_unit": "W",
        "n_customers": int(model.n_customers_),
    }


def gamma_gamma_record(model: GammaGamma) -> dict[str, Any]:
    return {
        **{k: float(v) for k, v in model.params_.items()},
        "log_likelihood": float(model.log_likelihood_),
        "n_customers": int(model.n_customers_),
    }


def fit_purchase_models(summary: pd.DataFrame) -> tuple[BetaGeo, GammaGamma]:
    """BG/NBD on every customer of ``summary`` (lapsed ones included: dropout is estimated from
    them) and Gamma-Gamma on those with repeat purchases."""
    bg = BetaGeo().fit(summary["frequency"], summary["recency"], summary["T"])
    repeat = summary[summary["frequency"] > 0]
    gg = GammaGamma().fit(repeat["frequency"], repeat["monetary_value"])
    return bg, gg


def _tracking(
    daily: pd.DataFrame,
    bg: BetaGeo,
    start: pd.Timestamp,
    cal_end: pd.Timestamp,
    as_of: pd.Timestamp,
) -> list[dict[str, Any]]:
    """Cumulative repeat purchases at the end of each week since ``start``: actual, and
    expected from the calibration fit (sum over customers of E[X(t)] since their first
    purchase)."""
    first = daily.groupby("customer_id")["day"].transform("min")
    repeat_days = daily.loc[daily["day"] > first, "day"]
    weeks = int(np.ceil((as_of - start).days / 7))
    ends = start + pd.to_timedelta(np.arange(1, weeks + 1) * 7, unit="D")
    ends = ends.where(ends <= as_of, as_of)
    actual = np.searchsorted(np.sort(repeat_days.to_numpy()), ends.to_numpy(), side="left")
    # Customers born on the same day share E[X(t)]: one column per first-purchase day.
    births, count = np.unique(
        daily.groupby("customer_id")["day"].min().to_numpy(), return_counts=True
    )
    age = (ends.to_numpy()[:, None] - births[None, :]) / np.timedelta64(7, "D")
    expected_x = np.asarray(bg.expected_purchases(np.clip(age, 0, None).ravel())).reshape(age.shape)
    expected = np.where(age > 0, expected_x, 0.0) @ count
    return [
        {
            "week": int(k + 1),
            "period": "calibration" if end <= cal_end else "holdout",
            "actual": int(a),
            "expected": float(e),
        }
        for k, (end, a, e) in enumerate(zip(ends, actual, expected, strict=True))
    ]


def _conditional(summary: pd.DataFrame, expected: np.ndarray) -> list[dict[str, Any]]:
    group = summary["frequency"].clip(upper=MAX_FREQUENCY_GROUP).astype(int)
    frame = pd.DataFrame(
        {"group": group, "actual": summary["frequency_holdout"], "expected": expected}
    )
    table = frame.groupby("group").agg(
        customers=("actual", "size"), actual=("actual", "mean"), expected=("expected", "mean")
    )
    return [
        {
            "calibration_repeat_purchases": f"{g}+" if g == MAX_FREQUENCY_GROUP else str(g),
            "customers": int(row.customers),
            "actual_mean": float(row.actual),
            "expected_mean": float(row.expected),
        }
        for g, row in table.iterrows()
    ]


def _spend(summary: pd.DataFrame, gg: GammaGamma) -> dict[str, Any]:
    both = summary[(summary["frequency"] > 0) & (summary["frequency_holdout"] > 0)]
    expected = gg.conditional_expected_value(both["frequency"], both["monetary_value"])
    return {
        "customers": len(both),
        "expected_mean_spend": float(np.mean(expected)) if len(both) else None,
        "actual_mean_spend": float(both["monetary_value_holdout"].mean()) if len(both) else None,
    }


def validate_purchase_model(
    daily: pd.DataFrame, as_of: pd.Timestamp, cal_end: pd.Timestamp
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The calibration / holdout check (module docstring) on per-customer-day purchases
    (``customer_id``, ``day``, ``amount``) before ``as_of``; customers whose first purchase is
    before ``cal_end`` form the calibration cohort. Returns the record and the tracking table."""
    summary = rfm_summary(
        daily,
        "customer_id",
        "day",
        "amount",
        cal_end - pd.Timedelta(days=1),
        time_unit="W",
        observation_end=as_of - pd.Timedelta(days=1),
    )
    bg, gg = fit_purchase_models(summary)
    holdout_weeks = float(summary["duration_holdout"].iat[0])
    expected = np.asarray(
        bg.conditional_expected_purchases(
            holdout_weeks, summary["frequency"], summary["recency"], summary["T"]
        )
    )
    actual = summary["frequency_holdout"].to_numpy(dtype=float)
    rate = summary["frequency"] / summary["T"].where(summary["T"] > 0)
    carried = (rate.fillna(0.0) * holdout_weeks).to_numpy()
    start = daily["day"].min()
    cohort = daily[daily["customer_id"].isin(summary.index)]
    tracking = pd.DataFrame(_tracking(cohort, bg, start, cal_end, as_of))
    holdout = tracking[tracking["period"] == "holdout"]
    record = {
        "end": str(cal_end.date()),
        "bg_nbd": bg_nbd_record(bg),
        "gamma_gamma": gamma_gamma_record(gg),
        "holdout": {
            "weeks": [int(holdout["week"].min()), int(holdout["week"].max())]
            if len(holdout)
            else None,
            "holdout_length_weeks": holdout_weeks,
            "customers": len(summary),
            "repeat_purchases_actual": int(actual.sum()),
            "repeat_purchases_expected": float(expected.sum()),
            "conditional_expectations": _conditional(summary, expected),
            "spend": _spend(summary, gg),
            "mean_absolute_error": {
                "bg_nbd": float(np.mean(np.abs(actual - expected))),
                "calibration_rate_carried_forward": float(np.mean(np.abs(actual - carried))),
                "zero": float(np.mean(actual)),
            },
        },
    }
    total = record["holdout"]
    logger.info(
        "BG/NBD holdout (%s weeks from %s): %s repeat purchases expected, %s actual; MAE %.3f "
        "(rate carried forward %.3f, zero %.3f)",
        f"{holdout_weeks:.0f}",
        cal_end.date(),
        f"{total['repeat_purchases_expected']:,.0f}",
        f"{total['repeat_purchases_actual']:,}",
        total["mean_absolute_error"]["bg_nbd"],
        total["mean_absolute_error"]["calibration_rate_carried_forward"],
        total["mean_absolute_error"]["zero"],
    )
    return record, tracking
