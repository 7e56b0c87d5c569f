"""The boosted model: gradient-boosted accelerated failure time (XGBoost ``survival:aft``) on
the snapshot table, the challenger of the landmark Weibull PH model.

Barnwal, Cho & Hocking (2022), "Survival regression with accelerated failure time model in
XGBoost", Journal of Computational and Graphical Statistics 31(4). The model is

    ln T = mu(x) + sigma Z,

with T the days from a snapshot to churn, mu(x) a sum of regression trees on the snapshot's
features (the margin) and Z a standard normal, logistic or Gumbel-min ("extreme") variable of
CDF F. Each row's label is an interval [lower, upper]: a churn after t days is [t, t], a
customer still active t days after the snapshot is [t, +inf). The trees minimise the negative
log-likelihood of the intervals, with z = (ln t - mu) / sigma:

    churned at t:  -ln( f(z) / (sigma t) )          still active at t:  -ln( 1 - F(z) ),

and the survival curve of a customer is

    S(t | x) = 1 - F((ln t - mu(x)) / sigma)
             = 1 - Phi(z)  (normal),  1 / (1 + e^z)  (logistic),  exp(-e^z)  (extreme).

The extreme distribution makes the model a Weibull AFT (shape 1 / sigma) with a tree-ensemble
predictor, i.e. the landmark model's family with the linear predictor replaced by trees.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from scipy import optimize, stats

from customer_retention.core.model_frame import build_feature_spec, dmatrix
from customer_retention.core.optional import run_or_explain
from customer_retention.core.run_plan import skip_reason
from customer_retention.models.clv import DAYS_PER_MONTH

from .cox import curves_frame
from .design import sample_rows, with_unusable_excluded
from .evaluation import LandmarkSplit, evaluate_on_test_snapshot, outcome_after_snapshot

logger = logging.getLogger(__name__)

# Z's distribution: scipy's gumbel_l is the Gumbel-min law, F(z) = 1 - exp(-e^z), the one
# XGBoost calls "extreme".
DISTRIBUTIONS = {"normal": stats.norm, "logistic": stats.logistic, "extreme": stats.gumbel_l}
TOP_FEATURES = 10  # features listed by total gain in the summary


def aft_survival(
    margin: np.ndarray, times: np.ndarray, distribution: str, scale: float
) -> np.ndarray:
    """S(t | x) = 1 - F((ln t - mu) / sigma) for each row's margin mu (rows x ``times``)."""
    z = (np.log(np.asarray(times, dtype=float))[None, :] - np.asarray(margin)[:, None]) / scale
    return DISTRIBUTIONS[distribution].sf(z)


def aft_intercept(days: np.ndarray, event: np.ndarray, distribution: str, scale: float) -> float:
    """Maximum-likelihood mu of the model without features: the trees' starting margin.

    XGBoost starts AFT boosting from ln(base_score) with base_score 0.5 (half a day) unless
    told otherwise; starting from the intercept spends no trees on the mean."""
    law, log_t = DISTRIBUTIONS[distribution], np.log(days)

    def nll(mu: float) -> float:
        z = (log_t - mu) / scale
        return -(law.logpdf(z[event]).sum() + law.logsf(z[~event]).sum())

    low, high = log_t.min() - 5 * scale, log_t.max() + 20 * scale
    return float(optimize.minimize_scalar(nll, bounds=(low, high), method="bounded").x)


def _grouped_holdout(rows: pd.DataFrame, share: float, seed: int) -> np.ndarray:
    """Rows of a seeded ``share`` of the customers (all their snapshots): the slice early
    stopping watches, so no customer is on both sides."""
    customers = np.unique(rows["customer_id"].astype(str).to_numpy())
    held = customers[np.random.default_rng(seed).random(len(customers)) < share]
    return rows["customer_id"].astype(str).isin(held).to_numpy()


def _aft_matrix(
    rows: pd.DataFrame, days: np.ndarray, event: np.ndarray, spec: dict[str, Any]
) -> xgb.DMatrix:
    """Features with the interval labels: [t, t] for a churn, [t, +inf) for an active customer."""
    matrix = dmatrix(rows[spec["features"]], spec)
    matrix.set_float_info("label_lower_bound", days)
    matrix.set_float_info("label_upper_bound", np.where(event, days, np.inf))
    return matrix


def train_aft(
    rows: pd.DataFrame,
    days: np.ndarray,
    event: np.ndarray,
    spec: dict[str, Any],
    boosted: dict[str, Any],
    seed: int,
) -> tuple[xgb.Booster, dict[str, Any]]:
    """XGBoost AFT on ``rows``, early-stopped on a customer-grouped held-out slice of them (its
    aft-nloglik), trimmed to the best round."""
    held = _grouped_holdout(rows, boosted["early_stopping_share"], seed)
    if held.all() or not held.any():
        raise ValueError(
            f"{rows['customer_id'].nunique()} customer(s): too few to hold out "
            f"{boosted['early_stopping_share']:.0%} of them for early stopping"
        )
    distribution, scale = boosted["distribution"], float(boosted["distribution_scale"])
    intercept = aft_intercept(days[~held], event[~held], distribution, scale)
    booster_params = {
        "objective": "survival:aft",
        "eval_metric": "aft-nloglik",
        "aft_loss_distribution": distribution,
        "aft_loss_distribution_scale": scale,
        "base_score": float(np.exp(intercept)),
        "tree_method": "hist",
        "learning_rate": float(boosted["learning_rate"]),
        "max_depth": int(boosted["max_depth"]),
        "min_child_weight": float(boosted["min_child_weight"]),
        "seed": int(seed),
    }
    train = _aft_matrix(rows[~held], days[~held], event[~held], spec)
    valid = _aft_matrix(rows[held], days[held], event[held], spec)
    history: dict[str, Any] = {}
    booster = xgb.train(
        booster_params,
        train,
        num_boost_round=int(boosted["num_boost_round"]),
        evals=[(valid, "valid")],
        early_stopping_rounds=int(boosted["early_stopping_rounds"]),
        evals_result=history,
        verbose_eval=False,
    )
    best = booster.best_iteration
    info = {
        "trees": best + 1,
        "rounds_run": len(history["valid"]["aft-nloglik"]),
        "best_valid_aft_nloglik": float(booster.best_score),
        "training_rows": int((~held).sum()),
        "early_stopping_rows": int(held.sum()),
        "booster_params": booster_params,
    }
    return booster[: best + 1], info


def _margin(booster: xgb.Booster, rows: pd.DataFrame, spec: dict[str, Any]) -> np.ndarray:
    """mu(x): the model's margin, ln of the median time to churn when F(0) = 1/2 (normal,
    logistic)."""
    return booster.predict(dmatrix(rows[spec["features"]], spec), output_margin=True).astype(float)


def _evaluate_boosted(
    customer_snapshots: pd.DataFrame, params: dict[str, Any]
) -> tuple[dict[str, Any], np.ndarray]:
    """The landmark model's evaluation (``evaluation.evaluate_on_test_snapshot``: same rows,
    censoring, grid and metrics) of the boosted model: its metrics and the predicted S(grid)
    of the test rows. The C-index ranks the test rows by mu (higher = later churn)."""
    boosted, trained = params["boosted"], {}

    def fit_predict(split: LandmarkSplit) -> tuple[np.ndarray, np.ndarray]:
        spec = build_feature_spec(split.train_rows, params["landmark_exclude"])
        booster, trained["model"] = train_aft(
            split.train_rows, split.train_days, split.train_event, spec, boosted, params["seed"]
        )
        margin = _margin(booster, split.test_rows, spec)
        survival = aft_survival(
            margin, split.grid, boosted["distribution"], boosted["distribution_scale"]
        )
        return survival, margin

    metrics, _, predicted = evaluate_on_test_snapshot(
        customer_snapshots, params, "Boosted AFT model", fit_predict
    )
    return metrics | {"evaluation_model": _model_info(trained["model"])}, predicted


def _model_info(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if k != "booster_params"}


def _enabled(boosted: dict[str, Any]) -> bool:
    setting = boosted.get("enabled", "auto")
    if setting not in ("auto", True, False):
        raise ValueError(
            f"survival_analysis.boosted.enabled must be auto, true or false: {setting!r}"
        )
    return setting is not False


def empty_curves(horizon_months: int) -> pd.DataFrame:
    """The curves frame without rows (a skipped or failed model), columns as ``curves_frame``."""
    return curves_frame(
        pd.DataFrame(columns=["customer_id", "snapshot_date"]), np.empty((0, horizon_months))
    )


def fit_boosted_survival(
    customer_snapshots: pd.DataFrame,
    run_plan: dict[str, Any],
    customer_attributes: dict[str, Any],
    params: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """XGBoost AFT on snapshot features: time from a snapshot to churn (module docstring).

    Evaluation: exactly the landmark model's (``evaluation``): trained on the labelled snapshots
    before the last one, censored at it, tested on the last labelled snapshot (C-index,
    integrated Brier score, Kaplan-Meier reference). Early stopping watches a customer-grouped
    slice of the training rows, never the test snapshot. Scoring: refitted on every snapshot
    before the as-of date; gives each customer active at the as-of date S(k months | alive at
    as-of, features) = 1 - F((ln(k * 30.4375) - mu) / sigma), k = 1..landmark.horizon_months,
    and the expected remaining lifetime within that horizon. Inputs: the landmark model's
    (snapshot features minus ``landmark_exclude`` and unusable attributes), categoricals native.

    Skipped, with the reason and empty curves, when the run plan skips the landmark model or
    ``boosted.enabled`` is false; a failure is explained the same way (``run_or_explain``).
    """
    horizon = int(params["landmark"]["horizon_months"])
    why_not = skip_reason(run_plan, "landmark_model")
    if not why_not and not _enabled(params["boosted"]):
        why_not = "switched off (survival_analysis.boosted.enabled: false)"
    if why_not:
        logger.warning("Boosted survival model skipped: %s", why_not)
        return {"status": "skipped", "reason": why_not}, empty_curves(horizon)
    params = with_unusable_excluded(params, customer_attributes)

    def fit() -> tuple[dict[str, Any], pd.DataFrame]:
        evaluation, _ = _evaluate_boosted(customer_snapshots, params)
        curves, scoring = _scoring_curves(customer_snapshots, params)
        boosted = params["boosted"]
        summary = {
            "status": "fitted",
            "model": (
                f"XGBoost accelerated failure time (survival:aft, {boosted['distribution']}, "
                f"sigma {boosted['distribution_scale']}) on snapshot features"
            ),
            "distribution": boosted["distribution"],
            "distribution_scale": float(boosted["distribution_scale"]),
            **evaluation,
            "horizon_months": horizon,
            "mean_expected_remaining_lifetime_months": float(
                curves["expected_remaining_lifetime_months"].mean()
            ),
            "scoring_model_rows": scoring.pop("rows"),
            "scoring_model": scoring,
            "xgboost_version": xgb.__version__,
        }
        return summary, curves

    return run_or_explain(
        "Boosted survival model",
        fit,
        lambda reason: ({"status": "failed", "reason": reason}, empty_curves(horizon)),
    )


def _scoring_curves(
    customer_snapshots: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The scoring model (every snapshot before the as-of date, full follow-up; seeded sample
    above ``boosted.max_training_rows``) and the as-of customers' monthly curves."""
    boosted = params["boosted"]
    is_as_of = customer_snapshots["is_as_of_snapshot"].astype(bool)
    history = sample_rows(
        customer_snapshots,
        boosted["max_training_rows"],
        params["seed"],
        "Boosted scoring model",
        rows=~is_as_of,
    )
    days, event = outcome_after_snapshot(history)
    spec = build_feature_spec(history, params["landmark_exclude"])
    booster, info = train_aft(history, days, event, spec, boosted, params["seed"])
    as_of_rows = customer_snapshots[is_as_of]
    months = np.arange(1, params["landmark"]["horizon_months"] + 1)
    survival = aft_survival(
        _margin(booster, as_of_rows, spec),
        months * DAYS_PER_MONTH,
        boosted["distribution"],
        boosted["distribution_scale"],
    )
    gain = booster.get_score(importance_type="total_gain")
    top = sorted(gain.items(), key=lambda item: -item[1])[:TOP_FEATURES]
    scoring = {
        "rows": len(history),
        **info,
        "features": spec["features"],
        "top_features_by_total_gain": {name: float(value) for name, value in top},
    }
    return curves_frame(as_of_rows, survival), scoring
