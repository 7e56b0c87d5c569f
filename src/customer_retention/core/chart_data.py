"""The small tables the charts draw, prepared from stage outputs in one place, so that a
stage's versioned chart and the report's chart of the same thing are the same picture."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from customer_retention.models.clv import DAYS_PER_MONTH
from customer_retention.models.evaluation import (
    cumulative_gains,
    proportion_interval,
    reliability_table,
    thin_curve,
)
from customer_retention.models.kaplan_meier import kaplan_meier

from .formatting import fmt_number, humanize


def overall_logrank(logrank: pd.DataFrame) -> pd.Series:
    """Segment -> p-value of the log-rank test across all its groups."""
    if logrank is None or logrank.empty:
        return pd.Series(dtype=float)
    return logrank[logrank["comparison"] == "all groups"].set_index("segment")["p_value"]


def kaplan_meier_panels(curves: pd.DataFrame, logrank: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """One panel per segment of the Kaplan-Meier curves table: its time origin and its overall
    log-rank p-value (None when not tested)."""
    overall = overall_logrank(logrank)
    return {
        segment: {
            "origin": curves.loc[curves["segment"] == segment, "origin"].iat[0],
            "p_value": float(overall[segment]) if segment in overall else None,
        }
        for segment in dict.fromkeys(curves["segment"] if len(curves) else [])
    }


def reference_levels(
    cox_summary: dict[str, Any], km_summary: dict[str, Any], hazard_ratios: pd.DataFrame
) -> dict[str, str | None]:
    """Reference level of each attribute of the Cox model: from parameters, else the one level
    of a Kaplan-Meier segment without a ratio."""
    references = dict((cox_summary or {}).get("reference_levels") or {})
    segments = (km_summary or {}).get("segments") or {}
    for attribute, level in list(references.items()):
        if level is None and attribute in segments:
            with_ratio = {
                c.partition("=")[2]
                for c in hazard_ratios["covariate"]
                if c.partition("=")[0] == attribute
            }
            rest = [g for g in segments[attribute]["groups"] if g not in with_ratio]
            references[attribute] = rest[0] if len(rest) == 1 else None
    return references


def hazard_labels(hazard_ratios: pd.DataFrame, references: dict[str, str | None]) -> list[str]:
    """A readable label per covariate: 'Plan: pro vs basic', 'Age (per unit)', with
    '(PH violated)' where the ratio is an average over time."""
    labels = []
    for _, row in hazard_ratios.iterrows():
        attribute, is_level, level = str(row["covariate"]).partition("=")
        reference = references.get(attribute)
        versus = f" vs {humanize(reference)}" if reference else ""
        label = (
            f"{humanize(attribute)}: {humanize(level)}{versus}"
            if is_level
            else f"{humanize(attribute)} (per unit)"
        )
        if str(row.get("ph_violated", False)).lower() == "true":
            label += " (PH violated)"
        labels.append(label)
    return labels


def segment_values(
    values: pd.DataFrame, attributes: pd.DataFrame, segments: list[str]
) -> pd.DataFrame:
    """Customers and value at risk per (segment, level) of the customers' attributes
    (``values``: customer_id, value_at_risk; ``attributes``: customer_id and the segments)."""
    present = [s for s in segments if s in attributes]
    if not present or values.empty or "customer_id" not in attributes:
        return pd.DataFrame(columns=["segment", "level", "customers", "value_at_risk"])
    attributes = attributes.assign(customer_id=attributes["customer_id"].astype(str))
    values = values.assign(customer_id=values["customer_id"].astype(str))
    frame = values.merge(attributes[["customer_id", *present]], on="customer_id", how="left")
    parts = []
    for segment in present:
        grouped = frame.groupby(frame[segment].astype(str))["value_at_risk"].agg(["size", "sum"])
        parts.append(
            pd.DataFrame(
                {
                    "segment": segment,
                    "level": grouped.index,
                    "customers": grouped["size"].to_numpy(),
                    "value_at_risk": grouped["sum"].to_numpy(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------- health score
HEALTH_LABEL = "churned_within_horizon"
HEALTH_BAND_COLUMNS = [
    "band",
    "customers",
    "churned",
    "churn_rate_pct",
    "churn_rate_ci_low_pct",
    "churn_rate_ci_high_pct",
]


def health_band_names(low: float, high: float) -> list[str]:
    """The three health-score bands, worst first: below ``low``, ``low``-``high``, ``high`` up."""
    return [f"below {low:g}", f"{low:g}–{high:g}", f"{high:g} and above"]


def health_band_churn(
    customer_health: pd.DataFrame | None, low: float, high: float
) -> pd.DataFrame:
    """Churn within the horizon by health-score band over the labelled snapshot rows of
    ``customer_health`` (health_score, churned_within_horizon), with the 95% Wilson interval
    of each rate; every band listed, worst first, empty ones with 0 customers. Empty when the
    table has no labelled rows (or no label column: a customer_health written before the
    retention-metrics stage kept it). A customer counts once per labelled snapshot (the
    intervals treat the rows as independent, so they are somewhat narrow)."""
    if customer_health is None or HEALTH_LABEL not in customer_health:
        return pd.DataFrame(columns=HEALTH_BAND_COLUMNS)
    rows = customer_health.dropna(subset=[HEALTH_LABEL, "health_score"])
    if rows.empty:
        return pd.DataFrame(columns=HEALTH_BAND_COLUMNS)
    names = health_band_names(low, high)
    score = rows["health_score"].to_numpy(dtype=float)
    band = pd.Categorical.from_codes((score >= low).astype(int) + (score >= high), names)
    grouped = rows[HEALTH_LABEL].astype(float).groupby(band, observed=False).agg(["size", "sum"])
    customers, churned = grouped["size"].to_numpy(), grouped["sum"].to_numpy()
    ci_low, ci_high = proportion_interval(churned, customers)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(customers > 0, churned / customers, np.nan)
    return pd.DataFrame(
        {
            "band": names,
            "customers": customers.astype(int),
            "churned": churned.astype(int),
            "churn_rate_pct": rate * 100,
            "churn_rate_ci_low_pct": ci_low * 100,
            "churn_rate_ci_high_pct": ci_high * 100,
        }
    )


HEALTH_COMPONENTS = {
    # What each component of the retention-metrics health score measures (its docstring).
    "usage": "recent product events, as a percentile among customers of the same snapshot",
    "engagement_trend": "recent against previous product usage",
    "feedback": "latest NPS × 10; 0 once an exit survey is started",
    "support": "speed of first support responses",
    "revenue_trend": "MRR change over the previous window",
    "purchase_recency": "days since the last purchase",
}


def health_weights(
    summary: dict[str, Any] | None, customer_health: pd.DataFrame | None
) -> pd.DataFrame:
    """The health score's weights as the retention-metrics stage applied them (its summary's
    renormalised ``weights``), with the components it computed but gave no weight (a
    ``component_*`` column of ``customer_health`` without a weight): component, meaning,
    weight (share of the score)."""
    weights = dict((summary or {}).get("weights") or {})
    computed = [
        c.removeprefix("component_")
        for c in (customer_health.columns if customer_health is not None else [])
        if str(c).startswith("component_")
    ]
    names = list(weights) + [c for c in computed if c not in weights]
    return pd.DataFrame(
        {
            "component": names,
            "meaning": [HEALTH_COMPONENTS.get(n, "") for n in names],
            "weight": [float(weights.get(n, 0.0)) for n in names],
        },
        columns=["component", "meaning", "weight"],
    )


# ----------------------------------------------------------------------------- churn model
LABEL = "churned_within_horizon"
SCORER_NAMES = {
    "xgboost_calibrated": "Churn model (XGBoost, calibrated)",
    "xgboost_raw": "Churn model before calibration",
    "logistic_baseline": "Logistic regression (calibrated)",
    "health_score": "Health score",
    "cox_risk": "Cox survival model",
    "cox_risk_rank_only": "Cox survival model (ranking only)",
    "oracle": "Oracle: true probability (demo data only)",
    "bg_nbd": "BG/NBD purchase model",
}

ROC_SCORERS = (
    "xgboost_calibrated",
    "logistic_baseline",
    "health_score",
    "cox_risk",
    "cox_risk_rank_only",
    "bg_nbd",
    "oracle",
)
GAINS_SCORERS = ("xgboost_calibrated", "logistic_baseline", "health_score")
CALIBRATION_SCORERS = ("xgboost_calibrated", "logistic_baseline")


def evaluation_curves(
    scores: pd.DataFrame, scorers: dict[str, Any], evaluation: dict[str, Any]
) -> tuple[dict[str, pd.DataFrame], ...]:
    """ROC, precision-recall, reliability and gains tables of the scorers present in the
    churn model's test scores, keyed by the scorer's display name (ROC and precision-recall
    with their areas from ``scorers``, the metrics of churn_model_metrics.json); curves thinned
    to a quarter pixel, not one point per test row."""
    y = scores[LABEL].astype(float)
    roc, precision_recall, calibration, gains = {}, {}, {}, {}
    for name in ROC_SCORERS:
        column = "health_risk" if name == "health_score" else name
        if column not in scores or scores[column].isna().all():
            continue
        ok = scores[column].notna()
        label = SCORER_NAMES[name]
        auc = scorers.get(name, {}).get("roc_auc")
        fpr, tpr, _ = roc_curve(y[ok], scores.loc[ok, column])
        keep = thin_curve(fpr, tpr)  # a quarter pixel apart, not one point per test row
        roc[f"{label} ({fmt_number(auc, 3)})" if auc else label] = pd.DataFrame(
            {"fpr": fpr[keep], "tpr": tpr[keep]}
        )
        precision, recall, _ = precision_recall_curve(y[ok], scores.loc[ok, column])
        keep = thin_curve(recall, precision)
        area = scorers.get(name, {}).get("pr_auc")
        precision_recall[f"{label} ({fmt_number(area, 3)})" if area else label] = pd.DataFrame(
            {"recall": recall[keep], "precision": precision[keep]}
        )
        if name in GAINS_SCORERS:
            gains[label] = cumulative_gains(y[ok], scores.loc[ok, column])
        if name in CALIBRATION_SCORERS:
            calibration[label] = reliability_table(
                y[ok],
                scores.loc[ok, column],
                int(evaluation["ece_bins"]),
                evaluation["ece_strategy"],
            )
    return roc, precision_recall, calibration, gains


VALUE_BAND = "value band"


def value_bands(values: pd.DataFrame) -> pd.DataFrame:
    """Customers in CLV quartiles (customer_id, ``value band``): the breakdown of value at
    risk when the data have no segment attribute (a purchase log without attributes)."""
    labels = ["lowest 25% by CLV", "second 25%", "third 25%", "top 25% by CLV"]
    rank = values["clv"].rank(method="first")
    band = (
        pd.qcut(rank, 4, labels=labels)
        if len(values) >= 4
        else pd.Series("all", index=values.index)
    )
    return pd.DataFrame({"customer_id": values["customer_id"], VALUE_BAND: band.astype(str)})


def arm_survival_curves(
    campaign_outcomes: pd.DataFrame, campaign_effects: dict[str, Any] | None
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Kaplan-Meier curves of each campaign's arms from the treatment date (months), and the
    panels' descriptions (log-rank p-value), as ``charts.kaplan_meier_grid`` takes them."""
    p_values = {
        c["campaign"]: c.get("logrank_p_value")
        for c in (campaign_effects or {}).get("campaigns", [])
    }
    frames, panels = [], {}
    for (campaign, arm), rows in campaign_outcomes.groupby(["campaign", "arm"], sort=True):
        curve = kaplan_meier(rows["days_observed"], rows["churned"])
        frames.append(curve.frame(DAYS_PER_MONTH).assign(segment=campaign, group=arm))
        panels[campaign] = {"origin": "the treatment date", "p_value": p_values.get(campaign)}
    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return curves, panels
