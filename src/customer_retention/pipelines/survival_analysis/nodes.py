"""Time to churn: Kaplan-Meier by segment, Cox PH, Weibull AFT and a landmark model.

Durations are integer days. Active customers are right-censored at the as-of date, never
dropped and never counted as churned.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from lifelines import KaplanMeierFitter, WeibullAFTFitter  # noqa: E402

from customer_retention.core import attributes as attribute_kinds  # noqa: E402
from customer_retention.core.features import FEATURES  # noqa: E402
from customer_retention.core.segments import landmark_segments
from customer_retention.models.clv import DAYS_PER_MONTH  # noqa: E402
from customer_retention.models.kaplan_meier import (  # noqa: E402
    KaplanMeierCurve,
    kaplan_meier,
    logrank_tests,
)
from customer_retention.models.survival_metrics import (  # noqa: E402
    concordance_index,
    integrated_brier_score,
)
from customer_retention.models.weibull import WeibullPH  # noqa: E402

from . import cox  # noqa: E402
from .cox import cox_churn_probability, curves_frame  # noqa: E402, F401
from .design import (  # noqa: E402, F401
    DURATION,
    EVENT,
    attribute_columns,
    design_matrix,
    sample_rows,
    split_customers,
    static_design,
)

logger = logging.getLogger(__name__)
# The landmark model's outcome: days from the snapshot to churn. Named apart from DURATION,
# which is also a snapshot feature (tenure at the snapshot) the model uses as an input.
LANDMARK_DURATION, LANDMARK_EVENT = "days_to_churn", "churned_after_snapshot"


# ----------------------------------------------------------------------------- survival table
def build_survival_table(
    customers: pd.DataFrame,
    customer_timeline: pd.DataFrame,
    customer_attributes: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """One row per customer: days from signup to the end of the first activity episode (event)
    or to the as-of date (censored), with the static attributes a survival model can use
    (numeric, categorical with few levels; the attribute profile decides, minus
    ``exclude_attributes``). Without a profile every attribute is kept as it is."""
    as_of = customer_timeline["as_of_date"].iat[0]
    if customer_attributes is not None:
        exclude = (params or {}).get("exclude_attributes") or []
        keep = attribute_kinds.covariates(customer_attributes, exclude)
        left_out = [c for c in customers.columns if c not in ("customer_id", "signup_date", *keep)]
        if left_out:
            logger.info(
                "Survival models leave out attribute(s) %s (identifiers, free text, too many "
                "levels, constant, or survival_analysis.exclude_attributes)",
                left_out,
            )
        customers = customers[["customer_id", "signup_date", *keep]]
    first = customer_timeline[["customer_id", "episode_start", "episode_end"]]
    first = first.sort_values("episode_start").drop_duplicates("customer_id")
    # Inner join in the customers' order (a merge, without building the joined frame twice).
    row = pd.Index(first["customer_id"]).get_indexer(customers["customer_id"])
    table = customers[row >= 0].reset_index(drop=True)
    table["customer_id"] = table["customer_id"].astype(first["customer_id"].dtype)  # as merged
    table["episode_end"] = first["episode_end"].to_numpy()[row[row >= 0]]
    table[EVENT] = table["episode_end"].notna()
    end = table["episode_end"].fillna(as_of)
    table[DURATION] = (end - table["signup_date"]).dt.days.clip(lower=1).astype(int)
    logger.info(
        "Survival table: %s customers, %s churned, %s censored at %s",
        f"{len(table):,}",
        f"{table[EVENT].sum():,}",
        f"{(~table[EVENT]).sum():,}",
        as_of.date(),
    )
    return table.drop(columns=["episode_end"])


# ----------------------------------------------------------------------------- Kaplan-Meier
def _km_segment_summary(
    frame: pd.DataFrame, duration: str, event: str, params: dict[str, Any]
) -> dict:
    """Median survival ("not reached" = None) and survival at fixed months (None past follow-up)."""
    durations, events = frame[duration].to_numpy(), frame[event].to_numpy(dtype=bool)
    return _km_summary(kaplan_meier(durations, events), durations.max(), params)


def _km_summary(km: KaplanMeierCurve, follow_up: float, params: dict[str, Any]) -> dict:
    months = params["survival_at_months"]
    at = km.at([m * DAYS_PER_MONTH for m in months])
    median = km.median
    return {
        "customers": int(km.removed.sum()),
        "churned": int(km.observed.sum()),
        "median_survival_days": None if np.isinf(median) else float(median),
        **{
            f"survival_{m}m": float(s) if m * DAYS_PER_MONTH <= follow_up else None
            for m, s in zip(months, at, strict=True)
        },
    }


def _logrank(frame: pd.DataFrame, segment: str, duration: str, event: str) -> list[dict]:
    rows = logrank_tests(frame[duration], frame[event], frame[segment])
    return [{"segment": segment, **row} for row in rows]


def _plot_km(ax: plt.Axes, km: KaplanMeierCurve, label: str) -> None:
    """lifelines' KM plot (curve and 95% CI, in months) fitted on the curve's event counts
    (events and censorings per distinct time as weights): the same estimate as on every row."""
    times = np.concatenate([km.timeline, km.timeline]) / DAYS_PER_MONTH
    counts = np.concatenate([km.observed, km.removed - km.observed])
    observed = np.arange(len(times)) < len(km.timeline)
    keep = counts > 0
    KaplanMeierFitter().fit(
        times[keep], observed[keep], weights=counts[keep], label=label
    ).plot_survival_function(ax=ax, ci_show=True)


def km_sources(
    survival_table: pd.DataFrame,
    customer_snapshots: pd.DataFrame,
    run_plan: dict[str, Any],
    params: dict[str, Any],
) -> dict[str, tuple[pd.DataFrame, str, str]]:
    """Segment -> (frame, duration column, event column) of every Kaplan-Meier comparison with
    two or more groups: the static segments of the run plan (time from signup) and the
    changing ones (time from the landmark snapshot)."""
    sources = {segment: (survival_table, DURATION, EVENT) for segment in run_plan["segments"]}
    landmark = landmark_segments(customer_snapshots, params)
    for segment in params["landmark_km_segments"]:
        sources[segment] = (landmark, "days_observed", "churn_observed")
    return {s: v for s, v in sources.items() if s in v[0].columns and v[0][s].nunique() > 1}


LOGRANK_COLUMNS = ["segment", "comparison", "test_statistic", "p_value"]


def kaplan_meier_by_segment(
    survival_table: pd.DataFrame,
    customer_snapshots: pd.DataFrame,
    run_plan: dict[str, Any],
    params: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, plt.Figure]:
    """KM curves overall and per segment, median and survival at 3/6/12/24 months, log-rank tests.

    Static segments use the survival table (time from signup). Segments that change over time
    (NPS class, support speed) use the customers active at the first labelled snapshot, with
    time measured from that landmark date, so nobody is credited with survival before the
    segment was known.
    """
    present = km_sources(survival_table, customer_snapshots, run_plan, params)
    summary: dict[str, Any] = {
        "overall": _km_segment_summary(survival_table, DURATION, EVENT, params),
        "segments": {},
    }
    tests: list[dict] = []
    if not present:
        logger.warning("Kaplan-Meier: no segment with two or more groups; overall curve only")
        summary["segments_note"] = "no segment with two or more groups: overall curve only"
        fig, ax = plt.subplots(figsize=(7, 4.5))
        _plot_km(ax, kaplan_meier(survival_table[DURATION], survival_table[EVENT]), "all")
        ax.set(title="Survival of all customers", xlabel="months after signup", ylim=(0, 1.02))
        return summary, pd.DataFrame(columns=LOGRANK_COLUMNS), fig
    n_rows = max(1, int(np.ceil(len(present) / 3)))
    fig, axes = plt.subplots(n_rows, 3, figsize=(15, 4 * n_rows), squeeze=False)
    for ax, (segment, (frame, duration, event)) in zip(axes.flat, present.items(), strict=False):
        columns = [duration, event, *(["snapshot_date"] if "snapshot_date" in frame else [])]
        frame = frame[columns].assign(**{segment: frame[segment].astype(str)})
        days = frame[duration].to_numpy()
        events = frame[event].to_numpy(dtype=bool)
        groups = dict(sorted(frame.groupby(segment).indices.items()))
        curves = {level: kaplan_meier(days[rows], events[rows]) for level, rows in groups.items()}
        summary["segments"][segment] = {
            "time_origin": "signup"
            if duration == DURATION
            else f"{frame['snapshot_date'].min().date()}",
            "groups": {
                level: _km_summary(curves[level], days[rows].max(), params)
                for level, rows in groups.items()
            },
        }
        tests.extend(_logrank(frame, segment, duration, event))
        for level, curve in curves.items():
            _plot_km(ax, curve, level)
        origin = summary["segments"][segment]["time_origin"]
        ax.set(
            title=f"Survival by {segment.replace('_', ' ')}",
            xlabel=f"months after {origin}",
            ylabel="share still active",
            ylim=(0, 1.02),
        )
    for ax in list(axes.flat)[len(present) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return summary, pd.DataFrame(tests, columns=LOGRANK_COLUMNS), fig


def estimate_km_curves(
    survival_table: pd.DataFrame,
    customer_snapshots: pd.DataFrame,
    run_plan: dict[str, Any],
    params: dict[str, Any],
    min_at_risk: int,
) -> pd.DataFrame:
    """Kaplan-Meier curves (share still active by month) of every segment comparison, as the
    report draws them: static segments from signup, changing ones (NPS class, support speed)
    from the landmark snapshot, as :func:`kaplan_meier_by_segment` compares them. Each curve stops
    where fewer than ``min_at_risk`` customers remain under observation (the noisy tail).
    Groups keep their natural order (categories in order, else alphabetical)."""
    sources = {}
    for segment, (frame, duration, event) in km_sources(
        survival_table, customer_snapshots, run_plan, params
    ).items():
        start = "signup"
        if duration != DURATION:
            start = str(frame["snapshot_date"].min().date()) if len(frame) else "landmark"
        sources[segment] = (frame, duration, event, start)
    rows = []
    for segment, (frame, duration, event, start) in sources.items():
        for group, part in frame.groupby(segment, observed=True, sort=True):
            km = kaplan_meier(
                part[duration].to_numpy() / DAYS_PER_MONTH, part[event].to_numpy(dtype=bool)
            )
            enough = min(min_at_risk, max(1, len(part) // 2))  # small groups: until half remain
            shown = km.at_risk >= enough
            rows.append(
                pd.DataFrame(
                    {
                        "segment": segment,
                        "group": str(group),
                        "origin": start,
                        "months": km.timeline[shown],
                        "survival": km.survival[shown],
                    }
                )
            )
    columns = ["segment", "group", "origin", "months", "survival"]
    curves = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=columns)
    logger.info("Kaplan-Meier curves for the report: %s segments", curves["segment"].nunique())
    return curves


# ----------------------------------------------------------------------------- Cox and AFT
def _plan_skips(run_plan: dict[str, Any], stage: str) -> str | None:
    """Why the run plan skips ``stage`` (None when it runs)."""
    decision = run_plan["stages"][stage]
    return None if decision["run"] else decision["why"]


def fit_cox_model(
    survival_table: pd.DataFrame,
    customer_snapshots: pd.DataFrame,
    run_plan: dict[str, Any],
    horizon_days: int,
    params: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Cox PH on the static attributes (:mod:`.cox`): hazard ratios with 95% CI and the
    proportional-hazards test, a held-out C-index, and two uses of the fitted model.

    ``cox_risk_scores``: for every snapshot row, P(churn within ``horizon_days`` | active at
    tenure a) = 1 - S(a + h | x) / S(a | x), the Cox baseline the churn model is compared with.
    The model has seen every customer's full history, so on past snapshots this baseline is,
    if anything, optimistic. ``cox_survival_curves``: each as-of customer's conditional
    survival by month, which CLV uses when the run plan skips the landmark model (empty
    otherwise).
    """
    why_not = _plan_skips(run_plan, "cox_and_aft")
    if why_not:
        summary, ratios, risk = cox.skipped(why_not, customer_snapshots)
        return summary, ratios, risk, pd.DataFrame()
    summary, hazard_ratios, model, covariates = cox.fit_cox(survival_table, params)
    risk = cox.cox_churn_probability(
        model, covariates, survival_table, customer_snapshots, horizon_days
    )
    curves = pd.DataFrame()
    if not run_plan["stages"]["landmark_model"]["run"]:
        as_of_rows = customer_snapshots[customer_snapshots["is_as_of_snapshot"].astype(bool)]
        curves = cox.cox_survival_curves(
            model, covariates, survival_table, as_of_rows, params["landmark"]["horizon_months"]
        )
    return summary, hazard_ratios, risk, curves


def fit_weibull_aft(
    survival_table: pd.DataFrame, run_plan: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """Weibull AFT on the same covariates: a parametric tail; AIC and held-out C-index."""
    why_not = _plan_skips(run_plan, "cox_and_aft")
    if why_not:
        logger.warning("Weibull AFT skipped: %s", why_not)
        return {"status": "skipped", "reason": why_not}
    data = sample_rows(
        static_design(survival_table, params),
        params.get("max_customers"),
        params["seed"],
        "Weibull AFT fit",
    )
    train, test = split_customers(data, params["test_share"], params["seed"])
    started = time.perf_counter()
    logger.info(
        "Weibull AFT: fitting %s customers x %s covariates",
        f"{len(train):,}",
        train.shape[1] - 2,
    )
    model = WeibullAFTFitter(penalizer=params["cox"]["penalizer"]).fit(train, DURATION, EVENT)
    c_index = concordance_index(
        test[DURATION], model.predict_median(test).replace(np.inf, 1e9), test[EVENT]
    )
    shape = float(np.exp(model.params_.loc[("rho_", "Intercept")]))
    logger.info("Weibull AFT: held-out C-index %.3f, shape %.2f", c_index, shape)
    return {
        "status": "fitted",
        "c_index_test": float(c_index),
        "aic": float(model.AIC_),
        "weibull_shape": shape,
        "fit_seconds": round(time.perf_counter() - started, 2),
        "acceleration_factors": {
            str(k): float(np.exp(v))
            for k, v in model.params_.loc["lambda_"].items()
            if k != "Intercept"
        },
        "coefficients": {f"{a}:{b}": float(v) for (a, b), v in model.params_.items()},
    }


def plot_hazard_ratios(hazard_ratios: pd.DataFrame) -> plt.Figure:
    """Forest plot: hazard ratio and 95% CI per covariate (log scale; 1 = no effect); a
    covariate that violates proportional hazards is marked (its ratio is an average)."""
    if hazard_ratios.empty:
        return note_figure("No Cox model: no attribute a survival model can use")
    hr = hazard_ratios.sort_values("hazard_ratio")
    if "ph_violated" in hr:
        flagged = hr["ph_violated"].astype(str).str.lower() == "true"
        hr = hr.assign(
            covariate=hr["covariate"].where(~flagged, hr["covariate"] + " (PH violated)")
        )
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(hr) + 1.5))
    y = np.arange(len(hr))
    ax.errorbar(
        hr["hazard_ratio"],
        y,
        xerr=[hr["hazard_ratio"] - hr["ci_lower_95"], hr["ci_upper_95"] - hr["hazard_ratio"]],
        fmt="o",
        color="tab:blue",
        capsize=3,
    )
    ax.axvline(1, color="grey", linestyle="--")
    ax.set(
        yticks=y,
        yticklabels=hr["covariate"],
        xscale="log",
        xlabel="hazard ratio (95% CI), log scale",
    )
    ax.set_title("What raises the risk of churn (Cox model, > 1 = churns sooner)")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- landmark model
def _landmark_design(
    snapshots: pd.DataFrame, reference: pd.DataFrame | None, params: dict[str, Any]
) -> pd.DataFrame:
    """Model inputs of the snapshots: numeric features (missing -> training median plus a
    missing flag) and one-hot categoricals, aligned to the training columns when given."""
    features = [
        c for c in snapshots.columns if FEATURES.get(c) is None or FEATURES[c].is_model_input
    ]
    features = [c for c in features if c not in params["landmark_exclude"]]
    design = design_matrix(snapshots, features, params["reference_levels"])
    for column in [
        c
        for c in design
        if design[c].isna().any() or (reference is not None and f"{c}_missing" in reference)
    ]:
        design[f"{column}_missing"] = design[column].isna().astype(float)
    if reference is not None:
        columns = reference.columns.drop([LANDMARK_DURATION, LANDMARK_EVENT], errors="ignore")
        design = design.reindex(columns=columns, fill_value=0.0)
        medians = reference[columns].median()
    else:
        medians = design.median()
    values = design.to_numpy(dtype=float)
    missing = np.isnan(values)
    if missing.any():
        fill = np.nan_to_num(medians.reindex(design.columns).to_numpy(dtype=float), nan=0.0)
        values = np.where(missing, fill[None, :], values)
    return pd.DataFrame(values, columns=design.columns, index=design.index)


def _prepare_landmark(
    rows: pd.DataFrame, censor_at: pd.Timestamp | None, params: dict[str, Any]
) -> pd.DataFrame:
    """Duration from snapshot to churn in days, administratively censored at ``censor_at``."""
    days = rows["days_observed"].astype(float)
    event = rows["churn_observed"].astype(bool)
    if censor_at is not None:
        limit = (censor_at - rows["snapshot_date"]).dt.days
        event = event & (days <= limit)
        days = np.minimum(days, limit)
    design = _landmark_design(rows, None, params)
    design[LANDMARK_DURATION] = np.maximum(days, 1.0)
    design[LANDMARK_EVENT] = event.to_numpy()
    return design


def _evaluate_landmark_model(
    customer_snapshots: pd.DataFrame, params: dict[str, Any]
) -> tuple[dict[str, Any], plt.Figure]:
    """The landmark model's held-out evaluation (see ``fit_landmark_model``): its metrics and
    the observed-vs-predicted chart."""
    lm = params["landmark"]
    dates = customer_snapshots["snapshot_date"]
    is_labelled = customer_snapshots["churned_within_horizon"].notna()
    test_date = dates[is_labelled].max()
    train_rows = sample_rows(
        customer_snapshots,
        lm["max_training_rows"],
        params["seed"],
        "Landmark model evaluation",
        rows=is_labelled & (dates < test_date),
    )
    test_rows = customer_snapshots[is_labelled & (dates == test_date)]
    train = _prepare_landmark(train_rows, test_date, params)
    started = time.perf_counter()
    model = _fit_weibull_ph(train, lm["penalizer"])
    fit_seconds = time.perf_counter() - started
    test = _landmark_design(test_rows, train, params)
    test_days = np.maximum(test_rows["days_observed"].to_numpy(dtype=float), 1.0)
    test_event = test_rows["churn_observed"].to_numpy(dtype=bool)
    horizon_days = test_days.max()
    grid = np.linspace(DAYS_PER_MONTH, min(horizon_days, 6 * DAYS_PER_MONTH) - 1, 12)
    predicted = model.predict_survival(test, grid)
    reference = kaplan_meier(train[LANDMARK_DURATION], train[LANDMARK_EVENT]).at(grid)
    ibs_model = integrated_brier_score(test_days, test_event, predicted, grid)
    ibs_reference = integrated_brier_score(
        test_days, test_event, np.tile(reference, (len(test_days), 1)), grid
    )
    c_index = concordance_index(test_days, -model.predict_log_partial_hazard(test), test_event)
    logger.info(
        "Landmark model: C-index %.3f, integrated Brier %.4f (Kaplan-Meier reference %.4f), fit %.1f s",
        c_index,
        ibs_model,
        ibs_reference,
        fit_seconds,
    )
    fig = _plot_observed_vs_predicted(test_days, test_event, predicted, grid, test_date)
    metrics = {
        "test_snapshot": str(test_date.date()),
        "train_snapshots": sorted(str(d.date()) for d in train_rows["snapshot_date"].unique()),
        "train_rows": len(train),
        "test_rows": len(test_rows),
        "c_index_test": float(c_index),
        "integrated_brier_score_test": ibs_model,
        "integrated_brier_score_kaplan_meier_reference": ibs_reference,
        "brier_grid_days": [float(g) for g in grid],
        "fit_seconds": round(fit_seconds, 2),
    }
    return metrics, fig


def note_figure(text: str) -> plt.Figure:
    """A small figure that says why a chart is empty (the versioned chart keeps its place)."""
    fig, ax = plt.subplots(figsize=(7, 1.5))
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    ax.set_axis_off()
    return fig


def fit_landmark_model(
    customer_snapshots: pd.DataFrame,
    run_plan: dict[str, Any],
    customer_attributes: dict[str, Any],
    params: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, plt.Figure]:
    """Weibull proportional hazards on snapshot features: time from a snapshot to churn.

    Evaluation: fitted on the labelled snapshots before the last one, with follow-up censored
    at that last snapshot (no peeking), and scored on the last labelled snapshot: C-index and
    integrated Brier score (vs the Kaplan-Meier curve of the training rows as a no-skill
    reference). Scoring: refitted on every snapshot before the as-of date with full follow-up;
    gives each customer active at the as-of date S(k months | alive at as-of, features) for
    k = 1..horizon_months and the expected remaining lifetime restricted to that horizon.

    Static attributes that the survival models cannot use (identifiers, free text, too many
    levels) are left out. When the run plan skips the model (fewer than two labelled snapshots
    with churners, or ``landmark.enabled: false``) the summary says why and the curves are empty.
    """
    why_not = _plan_skips(run_plan, "landmark_model")
    if why_not:
        logger.warning("Landmark model skipped: %s", why_not)
        return (
            {"status": "skipped", "reason": why_not},
            pd.DataFrame(),
            note_figure(f"Landmark model not fitted: {why_not}"),
        )
    unusable = [
        c
        for c in customer_attributes.get("columns", {})
        if c not in attribute_kinds.covariates(customer_attributes)
    ]
    params = params | {"landmark_exclude": [*params["landmark_exclude"], *unusable]}
    # The evaluation's design matrices are freed before the scoring model's are built.
    evaluation, fig = _evaluate_landmark_model(customer_snapshots, params)
    lm = params["landmark"]
    history = sample_rows(
        customer_snapshots,
        lm["max_training_rows"],
        params["seed"],
        "Landmark scoring model",
        rows=~customer_snapshots["is_as_of_snapshot"].astype(bool),
    )
    final_train = _prepare_landmark(history, None, params)
    final = _fit_weibull_ph(final_train, lm["penalizer"])
    curves = survival_curves(final, customer_snapshots, final_train, params)
    summary = {
        "status": "fitted",
        "model": "Weibull proportional hazards on snapshot features (landmarking)",
        **evaluation,
        "horizon_months": params["landmark"]["horizon_months"],
        "mean_expected_remaining_lifetime_months": float(
            curves["expected_remaining_lifetime_months"].mean()
        ),
        "scoring_model_rows": len(final_train),
        "scoring_model": {
            "rho": final.params_["rho"],
            "alpha": final.params_["alpha"],
            "hazard_ratios": {k: float(v) for k, v in final.hazard_ratios_.items()},
            "converged": final.converged_,
        },
    }
    return summary, curves, fig


def _fit_weibull_ph(design: pd.DataFrame, penalizer: float) -> WeibullPH:
    return WeibullPH(penalizer=penalizer).fit(
        design.drop(columns=[LANDMARK_DURATION, LANDMARK_EVENT]),
        design[LANDMARK_DURATION],
        design[LANDMARK_EVENT],
    )


def survival_curves(
    model: WeibullPH,
    customer_snapshots: pd.DataFrame,
    reference: pd.DataFrame,
    params: dict[str, Any],
) -> pd.DataFrame:
    """S(k months | alive at as-of, features) for k = 1..H for every customer active at the as-of
    date, plus the expected remaining lifetime restricted to H months (sum of the monthly S)."""
    as_of_rows = customer_snapshots[customer_snapshots["is_as_of_snapshot"]]
    design = _landmark_design(as_of_rows, reference, params)
    months = np.arange(1, params["landmark"]["horizon_months"] + 1)
    survival = model.predict_survival(design, months * DAYS_PER_MONTH)
    return curves_frame(as_of_rows, survival)


def select_survival_curves(
    landmark_curves: pd.DataFrame,
    cox_curves: pd.DataFrame,
    survival_table: pd.DataFrame,
    as_of_snapshot: pd.DataFrame,
    params: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The survival curves CLV uses: the landmark model's, else the Cox model's (one snapshot
    of data cannot train the landmark model), else the Kaplan-Meier curve of all customers,
    conditional on each customer's tenure: S(a + k months) / S(a)."""
    if len(landmark_curves):
        return landmark_curves, {"source": "landmark model"}
    if len(cox_curves):
        logger.info("Survival curves for CLV from the Cox model (no landmark model)")
        return cox_curves, {"source": "Cox model (static attributes, conditional on tenure)"}
    logger.warning(
        "Survival curves for CLV from the Kaplan-Meier curve of all customers (no landmark "
        "or Cox model): every customer of the same tenure gets the same curve"
    )
    km = kaplan_meier(survival_table[DURATION], survival_table[EVENT])
    tenure = as_of_snapshot["tenure_days"].to_numpy(dtype=float)
    months = np.arange(1, params["landmark"]["horizon_months"] + 1) * DAYS_PER_MONTH
    now = np.maximum(km.at(tenure), 1e-12)
    later = km.at((tenure[:, None] + months[None, :]).ravel()).reshape(len(tenure), -1)
    curves = curves_frame(as_of_snapshot, later / now[:, None])
    return curves, {"source": "Kaplan-Meier curve of all customers, conditional on tenure"}


def _plot_observed_vs_predicted(
    days: np.ndarray,
    events: np.ndarray,
    predicted: np.ndarray,
    grid: np.ndarray,
    test_date: pd.Timestamp,
) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    _plot_km(ax, kaplan_meier(days, events), "observed (Kaplan-Meier)")
    ax.plot(
        grid / DAYS_PER_MONTH,
        predicted.mean(axis=0),
        "o--",
        color="tab:red",
        label="predicted (mean of customers)",
    )
    ax.set(
        title=f"Landmark model: customers active on {test_date.date()}",
        xlabel="months after the snapshot",
        ylabel="share still active",
        xlim=(0, grid[-1] / DAYS_PER_MONTH + 0.5),
    )
    ax.legend()
    fig.tight_layout()
    return fig


def summarise_survival(
    km_summary: dict[str, Any],
    cox_summary: dict[str, Any],
    aft_summary: dict[str, Any],
    landmark_summary: dict[str, Any],
    curves_source: dict[str, Any],
) -> dict[str, Any]:
    """Everything the report shows about time to churn, in one JSON."""
    models = {"cox": cox_summary, "weibull_aft": aft_summary, "landmark": landmark_summary}
    return {
        "kaplan_meier": km_summary,
        **models,
        "survival_curves_for_clv": curves_source,
        "model_comparison": {
            "c_index_test": {name: summary.get("c_index_test") for name, summary in models.items()},
            "note": "Cox and AFT use static attributes from signup; the landmark model uses snapshot features.",
        },
    }
