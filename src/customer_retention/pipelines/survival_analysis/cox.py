"""Cox proportional hazards on the customers' static attributes, and the curves it gives.

The fit that is reported is always the unstratified one: every attribute keeps its hazard
ratio, with its proportional-hazards test beside it. Attributes that violate proportional
hazards (scaled Schoenfeld residuals, Grambsch & Therneau 1994, rank time transform) are
stratified in a second fit, at most ``cox.max_strata`` of them and only categorical ones: that
fit gives the risk scores, the survival curves and the held-out C-index. Whether the strongest
attribute was stratified is recorded, so the report can say that its hazard ratio is an average
over time rather than hide it.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from customer_retention.models.clv import DAYS_PER_MONTH
from customer_retention.models.survival_metrics import concordance_index

from . import screening
from .design import (
    DURATION,
    EVENT,
    attribute_columns,
    progress,
    sample_rows,
    split_customers,
    static_design,
)

if TYPE_CHECKING:  # lifelines is imported by the functions that fit (start-up time)
    from lifelines import CoxPHFitter

logger = logging.getLogger(__name__)

EXPECTATION_CELLS = 4_000_000  # survival values per block of expected lifetimes (32 MB)
HAZARD_RATIO_COLUMNS = [
    "covariate",
    "hazard_ratio",
    "ci_lower_95",
    "ci_upper_95",
    "p_value",
    "ph_p_value",
    "ph_violated",
    "stratified",
]


def _attribute(covariate: str) -> str:
    return covariate.split("=")[0]


def _cox_fitter() -> type[CoxPHFitter]:
    from lifelines import CoxPHFitter

    return CoxPHFitter


def _strongest_attribute(model: CoxPHFitter) -> str:
    """The attribute with the largest Wald statistic |z| of any of its covariates."""
    z = model.summary["z"].abs()
    return _attribute(str(z.idxmax()))


def choose_strata(
    ph_p_values: pd.Series,
    survival_table: pd.DataFrame,
    alpha: float,
    max_strata: int,
    max_groups: int | None = None,
) -> tuple[list[str], list[str]]:
    """(attributes to stratify, violating attributes left unstratified).

    Only categorical attributes can be strata (a stratum is a level); at most ``max_strata``
    of them, smallest p-values first, and an attribute is passed over when it would make more
    than ``max_groups`` strata (level combinations present), so the strata stay few and large
    enough to be seen in a held-out split, and the stratified fits cheap: lifelines' cost
    grows with the strata (on 7,000 customers x 99 covariates: 4 strata 4 s a fit, 64 strata
    15 s, 256 strata 37 s, and the held-out refit pays it again).
    """
    by_attribute = ph_p_values.groupby(ph_p_values.index.map(_attribute)).min().sort_values()
    violating = [a for a, p in by_attribute.items() if p < alpha]
    categorical = [
        a
        for a in violating
        if a in survival_table and not pd.api.types.is_numeric_dtype(survival_table[a])
    ]
    strata: list[str] = []
    for attribute in categorical:
        if len(strata) >= max(int(max_strata), 0):
            break
        groups = len(survival_table[[*strata, attribute]].drop_duplicates())
        if max_groups is None or groups <= int(max_groups):
            strata.append(attribute)
    strata = sorted(strata)
    return strata, sorted(set(violating) - set(strata))


def ph_test_rows(covariates: int, cox: dict[str, Any]) -> int | None:
    """Customers the PH test runs on at most: ``ph_test_max_customers``, fewer for wide
    designs. lifelines builds the Schoenfeld residuals one row at a time and copies the rows
    so far at each (``np.append``): its cost grows with rows^2 x covariates (99 covariates:
    7,000 rows 0.8 s, 15,000 rows 3.6 s, 30,000 rows 23 s), so rows x covariates is kept
    within ``ph_test_max_values``."""
    caps = [cox.get("ph_test_max_customers")]
    if cox.get("ph_test_max_values") is not None:
        caps.append(max(int(cox["ph_test_max_values"]) // max(covariates, 1), 1))
    caps = [int(c) for c in caps if c is not None]
    return min(caps) if caps else None


def _ph_test(
    model: CoxPHFitter, data: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.Series, int]:
    """PH test p-value per covariate; lifelines' Schoenfeld residuals cost grows quadratically
    with rows, so above :func:`ph_test_rows` the test runs on a seeded sample."""
    cox = params["cox"]
    rows = sample_rows(data, ph_test_rows(data.shape[1] - 2, cox), params["seed"], "PH test")
    with progress(
        f"Cox PH: proportional-hazards test of {rows.shape[1] - 2} covariates on "
        f"{len(rows):,} customers"
    ):
        if len(rows) != len(data):
            model = _cox_fitter()(penalizer=cox["penalizer"]).fit(rows, DURATION, EVENT)
        from lifelines.statistics import proportional_hazard_test

        p_values = proportional_hazard_test(model, rows, time_transform="rank").summary["p"]
    return p_values, len(rows)


def _with_strata(
    design: pd.DataFrame, survival_table: pd.DataFrame, strata: list[str]
) -> pd.DataFrame:
    """The design with the strata attributes as raw columns instead of their dummies."""
    if not strata:
        return design
    dummies = [c for c in design if _attribute(c) in strata and c not in (DURATION, EVENT)]
    return pd.concat(
        [design.drop(columns=dummies), survival_table.loc[design.index, strata].astype(str)],
        axis=1,
    )


def _held_out_c_index(
    data: pd.DataFrame, strata: list[str], params: dict[str, Any]
) -> tuple[float, dict[str, int]]:
    """C-index of a refit on a seeded share of customers, scored on the rest; test customers
    in a stratum absent from the training share are left out (and counted)."""
    train, test = split_customers(data, params["test_share"], params["seed"])
    unseen = np.zeros(len(test), dtype=bool)
    if strata:
        seen = set(map(tuple, train[strata].drop_duplicates().to_numpy()))
        unseen = np.array([tuple(row) not in seen for row in test[strata].to_numpy()], dtype=bool)
        test = test[~unseen]
    with progress(f"Cox PH: held-out C-index (refit on {len(train):,} customers)"):
        model = _cox_fitter()(penalizer=params["cox"]["penalizer"]).fit(
            train, DURATION, EVENT, strata=strata or None
        )
    # With strata the partial hazard ignores the stratum baselines: rank by expected lifetime.
    predicted = expected_lifetime(model, test) if strata else -model.predict_partial_hazard(test)
    split = {
        "train_customers": len(train),
        "test_customers": len(test),
        "test_customers_in_unseen_strata": int(unseen.sum()),
    }
    return float(concordance_index(test[DURATION], predicted, test[EVENT])), split


def expected_lifetime(model: CoxPHFitter, rows: pd.DataFrame) -> pd.Series:
    """E[T | x] = integral of S(t | x) dt (trapezoidal rule over the baseline's times), as
    lifelines' ``predict_expectation``, computed for ``EXPECTATION_CELLS`` // (number of
    times) rows at a time. lifelines builds the whole times x rows survival matrix (and, with
    strata, merges it stratum by stratum): about 1 GB for 25,000 customers over 1,500 distinct
    durations. Each row's value depends on that row alone, so the blocks give the same numbers
    as one call."""
    times = len(model.baseline_cumulative_hazard_.index)
    step = max(1, EXPECTATION_CELLS // max(times, 1))
    if len(rows) <= step:
        return model.predict_expectation(rows)
    return pd.concat(
        [model.predict_expectation(rows.iloc[i : i + step]) for i in range(0, len(rows), step)]
    )


def _hazard_ratio_table(
    model: CoxPHFitter, ph_p: pd.Series, alpha: float, strata: list[str]
) -> pd.DataFrame:
    s = model.summary
    ph = ph_p.reindex(s.index)
    return pd.DataFrame(
        {
            "covariate": s.index,
            "hazard_ratio": s["exp(coef)"].to_numpy(),
            "ci_lower_95": s["exp(coef) lower 95%"].to_numpy(),
            "ci_upper_95": s["exp(coef) upper 95%"].to_numpy(),
            "p_value": s["p"].to_numpy(),
            "ph_p_value": ph.to_numpy(),
            "ph_violated": (ph < alpha).to_numpy(),
            "stratified": [_attribute(c) in strata for c in s.index],
        }
    )


def skipped(
    reason: str, customer_snapshots: pd.DataFrame, status: str = "skipped"
) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """The Cox outputs of a run without a Cox model (``status`` skipped or failed): the reason,
    an empty hazard-ratio table and missing risk scores."""
    logger.warning("Cox model %s: %s", status, reason)
    risk = customer_snapshots[["customer_id", "snapshot_date"]].assign(churn_probability=np.nan)
    return (
        {"status": status, "reason": reason},
        pd.DataFrame(columns=HAZARD_RATIO_COLUMNS),
        risk.reset_index(drop=True),
    )


def reference_levels_used(
    survival_table: pd.DataFrame, configured: dict[str, str]
) -> dict[str, str | None]:
    """The level each categorical attribute's hazard ratios are read against: the configured
    one, else the most frequent (``design_matrix``'s rule); None for numeric attributes."""
    used = {}
    for column in attribute_columns(survival_table):
        values = survival_table[column]
        if pd.api.types.is_numeric_dtype(values) and not isinstance(
            values.dtype, pd.CategoricalDtype
        ):
            used[column] = None
        else:
            used[column] = configured.get(column) or values.astype(str).value_counts().idxmax()
    return used


def _drop_constant_covariates(
    data: pd.DataFrame, all_customers: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Covariates constant in the fitted rows (a level that only customers outside a sample
    have) carry no information and make the fit singular: they are dropped, and the customers
    whose value differs are left unscored (covariates missing) rather than scored as if they
    had the common value."""
    constant = [
        c for c in data.columns if c not in (DURATION, EVENT) and data[c].nunique(dropna=False) <= 1
    ]
    if not constant:
        return data, all_customers
    differs = (all_customers[constant] != data[constant].iloc[0]).any(axis=1)
    logger.warning(
        "Cox PH: %s constant in the fitted customers, left out; %s customers with another "
        "value get no Cox score",
        constant,
        f"{int(differs.sum()):,}",
    )
    all_customers = all_customers.drop(columns=constant)
    covariates = [c for c in all_customers.columns if c not in (DURATION, EVENT)]
    all_customers.loc[differs, covariates] = np.nan
    return data.drop(columns=constant), all_customers


def fit_cox(
    survival_table: pd.DataFrame, params: dict[str, Any]
) -> tuple[dict[str, Any], pd.DataFrame, CoxPHFitter, pd.DataFrame]:
    """Fit, test and (where needed) stratify: (summary, hazard ratios, the model that scores,
    its covariates for every customer)."""
    cox = params["cox"]
    survival_table, screen = screening.screen_attributes(survival_table, params, "Cox PH")
    all_customers = static_design(survival_table, params)
    data = sample_rows(all_customers, params.get("max_customers"), params["seed"], "Cox fit")
    data, all_customers = _drop_constant_covariates(data, all_customers)
    started = time.perf_counter()
    with progress(f"Cox PH: fitting {len(data):,} customers x {data.shape[1] - 2} covariates"):
        unstratified = _cox_fitter()(penalizer=cox["penalizer"]).fit(data, DURATION, EVENT)
    ph_p, ph_rows = _ph_test(unstratified, data, params)
    strata, unstratified_violations = choose_strata(
        ph_p,
        survival_table,
        cox["ph_alpha"],
        cox.get("max_strata", 2),
        cox.get("max_strata_groups"),
    )
    strongest = _strongest_attribute(unstratified)
    model = unstratified
    if strata:
        logger.warning(
            "Proportional hazards violated by %s: the risk scores and curves come from a fit "
            "stratified by them; their hazard ratios (unstratified) are averages over time",
            strata,
        )
        data = _with_strata(data, survival_table, strata)
        all_customers = _with_strata(all_customers, survival_table, strata)
        with progress(f"Cox PH: refit stratified by {strata}"):
            model = _cox_fitter()(penalizer=cox["penalizer"]).fit(
                data, DURATION, EVENT, strata=strata
            )
    if unstratified_violations:
        logger.warning(
            "Proportional hazards violated by %s, not stratified (numeric, beyond "
            "cox.max_strata = %s, or more than cox.max_strata_groups = %s strata): their "
            "hazard ratios are averages over time",
            unstratified_violations,
            cox.get("max_strata", 2),
            cox.get("max_strata_groups"),
        )
    fit_seconds = time.perf_counter() - started
    c_index, split = _held_out_c_index(data, strata, params)
    hazard_ratios = _hazard_ratio_table(unstratified, ph_p, cox["ph_alpha"], strata)
    summary = {
        "status": "fitted",
        "covariates": list(unstratified.summary.index),
        "attributes": attribute_columns(survival_table),
        "reference_levels": reference_levels_used(survival_table, params["reference_levels"]),
        "penalizer": cox["penalizer"],
        "customers": len(data),
        "customers_available": len(all_customers),
        "ph_test_customers": ph_rows,
        "events": int(data[EVENT].sum()),
        "c_index_test": c_index,
        "c_index_split": split,
        "aic_partial": float(model.AIC_partial_),
        "fit_seconds": round(fit_seconds, 2),
        "strongest_attribute": strongest,
        "ph_test": {
            "method": "scaled Schoenfeld residuals, rank transform",
            "p_values": {str(k): float(v) for k, v in ph_p.items()},
            "alpha": cox["ph_alpha"],
            "violating_attributes": sorted(set(strata) | set(unstratified_violations)),
            "stratified_attributes": strata,
            "strongest_attribute_stratified": strongest in strata,
            "handling": f"stratified by {strata}"
            if strata
            else "none needed"
            if not unstratified_violations
            else "reported with a warning (not stratified)",
        },
        "coefficients": {str(k): float(v) for k, v in unstratified.params_.items()},
        "attribute_screen": screen,
    }
    logger.info(
        "Cox PH: held-out C-index %.3f, strongest attribute %s, PH violations %s (%.1f s)",
        c_index,
        strongest,
        summary["ph_test"]["violating_attributes"] or "none",
        fit_seconds,
    )
    return summary, hazard_ratios, model, all_customers.drop(columns=[DURATION, EVENT])


def _distinct_pairs(
    covariates: pd.DataFrame, customer: np.ndarray, tenure: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """First row and inverse index of each distinct (covariate pattern, tenure) pair."""
    pattern = covariates.groupby(list(covariates.columns), dropna=False, sort=False).ngroup()
    key = pattern.to_numpy()[customer] * (np.int64(tenure.max()) - tenure.min() + 1) + (
        tenure - tenure.min()
    )
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first, inverse


def _in_fitted_strata(model: CoxPHFitter, covariates: pd.DataFrame) -> np.ndarray:
    """Per customer: whether the model has a baseline for their stratum. A stratified fit on a
    sample may not have seen a rare level; those customers get no score (NaN) instead of the
    whole prediction failing."""
    strata = [model.strata] if isinstance(model.strata, str) else list(model.strata or [])
    if not strata:
        return np.ones(len(covariates), dtype=bool)
    fitted = set(model.baseline_cumulative_hazard_.columns)
    values = covariates[strata].itertuples(index=False, name=None)
    keys = (value[0] for value in values) if len(strata) == 1 else values
    return np.fromiter((key in fitted for key in keys), dtype=bool, count=len(covariates))


def _conditional_survival(
    model: CoxPHFitter,
    covariates: pd.DataFrame,
    survival_table: pd.DataFrame,
    rows: pd.DataFrame,
    times: list[float],
) -> tuple[np.ndarray, np.ndarray]:
    """S(a + t | x) / S(a | x) for each row (its customer's covariates x, its tenure a) at each
    of ``times``; rows of unknown customers, incomplete covariates or a stratum the fit has not
    seen get NaN.

    A row's value depends only on its covariates and tenure, so the model is evaluated once
    per distinct (covariate pattern, tenure) pair and broadcast to the rows sharing it (a few
    thousand pairs for millions of rows)."""
    position = pd.Index(survival_table["customer_id"]).get_indexer(rows["customer_id"])
    usable = covariates.notna().all(axis=1).to_numpy() & _in_fitted_strata(model, covariates)
    known = (position >= 0) & usable[np.maximum(position, 0)]
    survival = np.full((len(rows), len(times)), np.nan)
    if known.any():
        tenure = rows["tenure_days"].to_numpy()[known]
        customer = position[known]
        first, inverse = _distinct_pairs(covariates, customer, tenure)
        X = covariates.iloc[customer[first]].reset_index(drop=True)
        predicted = model.predict_survival_function(X, times=times, conditional_after=tenure[first])
        survival[known] = predicted.reindex(columns=X.index).to_numpy().T[inverse]
    return survival, known


def cox_churn_probability(
    model: CoxPHFitter,
    covariates: pd.DataFrame,
    survival_table: pd.DataFrame,
    customer_snapshots: pd.DataFrame,
    horizon_days: int,
) -> pd.DataFrame:
    """P(churn in (a, a + h] | active at tenure a, static attributes) for every snapshot row."""
    rows = customer_snapshots[["customer_id", "snapshot_date", "tenure_days"]].reset_index(
        drop=True
    )
    survival, _ = _conditional_survival(model, covariates, survival_table, rows, [horizon_days])
    return rows[["customer_id", "snapshot_date"]].assign(churn_probability=1.0 - survival[:, 0])


def cox_survival_curves(
    model: CoxPHFitter,
    covariates: pd.DataFrame,
    survival_table: pd.DataFrame,
    as_of_rows: pd.DataFrame,
    horizon_months: int,
) -> pd.DataFrame:
    """S(k months | alive at tenure a, attributes) for k = 1..H for the customers of the as-of
    snapshot: the curves CLV uses when the landmark model cannot be fitted. Customers without
    complete covariates (few: numeric blanks are imputed) get the mean of the others' curves,
    with a log line."""
    months = np.arange(1, horizon_months + 1)
    rows = as_of_rows[["customer_id", "snapshot_date", "tenure_days"]].reset_index(drop=True)
    survival, known = _conditional_survival(
        model, covariates, survival_table, rows, list(months * DAYS_PER_MONTH)
    )
    if not known.all():
        logger.warning(
            "Cox survival curves: %s customers without complete attributes get the mean curve",
            f"{(~known).sum():,}",
        )
        survival[~known] = np.nanmean(survival[known], axis=0) if known.any() else 1.0
    return curves_frame(rows, survival)


def curves_frame(rows: pd.DataFrame, survival: np.ndarray) -> pd.DataFrame:
    """The survival-curves table CLV reads: one row per customer, survival_month_1..H
    (made monotone and kept in [0, 1]) and the expected remaining lifetime within H months."""
    survival = np.minimum.accumulate(np.clip(survival, 0, 1), axis=1)
    curves = pd.DataFrame(
        survival, columns=[f"survival_month_{m}" for m in range(1, survival.shape[1] + 1)]
    )
    curves.insert(0, "customer_id", rows["customer_id"].to_numpy())
    curves.insert(1, "as_of_date", rows["snapshot_date"].to_numpy())
    curves["expected_remaining_lifetime_months"] = survival.sum(axis=1)
    return curves
