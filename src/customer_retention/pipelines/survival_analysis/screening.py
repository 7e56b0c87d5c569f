"""The attribute screen: at most ``max_covariates`` design columns for the Cox, Weibull AFT and
landmark models, the informative attributes first.

A Cox fit's cost grows with the square of its design columns (lifelines' Newton steps sum a
p x p matrix per event time; the stratified refit and the held-out refit pay it again), and a
customer table can bring hundreds of them: 150 four-level attributes are 450 one-hot columns,
and the stage then ran for minutes. When the static attributes' design columns (one per
non-reference level, one per numeric attribute plus a flag for its blanks) exceed
``max_covariates``, the attributes are ranked by a univariate test against time to churn and
kept, whole, in that order while their columns fit:

* the test is the score test of the attribute alone in a Cox model at beta = 0, with the
  hypergeometric variance of tied event times: for a categorical attribute exactly the
  k-sample log-rank test (chi-square with k - 1 degrees of freedom); attributes are ranked by
  its p-value, so attributes with many levels get no advantage from their extra columns;
* it runs on the customers the Cox model is fitted on (seeded sample above ``max_customers``)
  in one pass per attribute over the distinct tenures (no model is fitted);
* attributes the user named are always kept: ``keep_attributes``, a configured list of
  ``km_segments`` and the attributes given a ``reference_levels`` entry.

Under the cap nothing is computed and nothing changes. The record (kept, dropped, each
attribute's statistic, rank and why) goes into the Cox summary; the AFT and landmark summaries
say which attributes they left out.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .design import DURATION, EVENT, attribute_columns, is_categorical, sample_rows

logger = logging.getLogger(__name__)
STATISTIC = (
    "univariate Cox score test at beta = 0 (for a categorical attribute the k-sample "
    "log-rank test), chi-square with one degree of freedom per design column"
)


def _design_columns(values: pd.Series) -> int:
    """The design columns ``design.static_design`` gives the attribute: levels - 1 for a
    categorical one, the value plus a blank flag (when blanks exist) for a numeric one."""
    if is_categorical(values):
        return max(int(values.nunique(dropna=False)) - 1, 0)
    return 1 + int(values.isna().any())


def _block(values: pd.Series) -> tuple[np.ndarray, bool]:
    """The attribute's columns for the test (n x q) and whether they are one-hot (one-hot
    columns have diagonal cross-products, which spares the q x q sums)."""
    if is_categorical(values):
        codes, levels = pd.factorize(values.astype(str), sort=True)
        counts = np.bincount(codes, minlength=len(levels))
        reference = int(np.argmax(counts))  # the test does not depend on which level is left out
        keep = np.array([i for i in range(len(levels)) if i != reference], dtype=int)
        return (codes[:, None] == keep[None, :]).astype(float), True
    x = values.to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(x)
    if not missing.any():
        return x[:, None], False
    filled = np.where(missing, np.nanmedian(x) if (~missing).any() else 0.0, x)
    return np.column_stack([filled, missing.astype(float)]), False


def score_tests(frame: pd.DataFrame, attributes: list[str]) -> pd.DataFrame:
    """Per attribute: chi-square, degrees of freedom and p-value of its univariate score test
    against (``DURATION``, ``EVENT``) (module docstring), and its log p-value for ranking.

    With event times t_j, n_j customers at risk, d_j events, S_j the at-risk sums of the
    attribute's columns x, Q_j the at-risk sums of x x' and E_j the sums over the events:
    U = sum_j (E_j - d_j S_j / n_j) and I = sum_j d_j (n_j - d_j) / (n_j - 1) (Q_j / n_j -
    S_j S_j' / n_j^2); chi-square = U' I^+ U with rank(I) degrees of freedom."""
    durations = frame[DURATION].to_numpy()
    events = frame[EVENT].to_numpy(dtype=float)
    order = np.argsort(durations, kind="stable")
    times, starts = np.unique(durations[order], return_index=True)
    at_risk = len(durations) - starts  # customers with duration >= each distinct time
    deaths = np.add.reduceat(events[order], starts)
    used = deaths > 0
    n, d = at_risk[used].astype(float), deaths[used]
    weight = np.where(n > 1, d * (n - d) / np.maximum(n - 1, 1), 0.0)

    def at_risk_sums(columns: np.ndarray) -> np.ndarray:
        per_time = np.add.reduceat(columns[order], starts, axis=0)
        return np.cumsum(per_time[::-1], axis=0)[::-1][used]

    rows = []
    for attribute in attributes:
        x, one_hot = _block(frame[attribute])
        if x.shape[1] == 0:
            rows.append((attribute, 0.0, 0))
            continue
        s = at_risk_sums(x)
        observed = np.add.reduceat((x * events[:, None])[order], starts, axis=0)[used]
        u = (observed - d[:, None] * s / n[:, None]).sum(axis=0)
        mean = s / n[:, None]
        if one_hot:
            information = np.diag((weight[:, None] * mean).sum(axis=0))
        else:
            q = x.shape[1]
            products = at_risk_sums((x[:, :, None] * x[:, None, :]).reshape(len(x), q * q))
            information = np.einsum("j,jab->ab", weight / n, products.reshape(len(n), q, q))
        information -= np.einsum("j,ja,jb->ab", weight, mean, mean)
        rank = int(np.linalg.matrix_rank(information)) if len(u) else 0
        chi_square = float(u @ np.linalg.pinv(information) @ u) if rank else 0.0
        rows.append((attribute, max(chi_square, 0.0), rank))
    table = pd.DataFrame(rows, columns=["attribute", "chi_square", "df"])
    df = table["df"].clip(lower=1)
    table["p_value"] = np.where(table["df"] > 0, stats.chi2.sf(table["chi_square"], df), 1.0)
    table["log_p_value"] = np.where(table["df"] > 0, stats.chi2.logsf(table["chi_square"], df), 0.0)
    return table


def always_kept(params: dict[str, Any], attributes: list[str]) -> dict[str, str]:
    """Attribute -> why it is kept whatever its test: the ones the user named."""
    named: dict[str, str] = {}
    segments = params.get("km_segments")
    if isinstance(segments, str) and segments != "auto":
        segments = [segments]
    sources = (
        (params.get("keep_attributes") or [], "listed in survival_analysis.keep_attributes"),
        (segments if isinstance(segments, list) else [], "a configured Kaplan-Meier segment"),
        (list(params.get("reference_levels") or {}), "has a configured reference level"),
    )
    for columns, why in sources:
        for column in columns:
            if column in attributes and column not in named:
                named[column] = f"always kept: {why}"
    return named


def screen_attributes(
    survival_table: pd.DataFrame, params: dict[str, Any], model: str
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The survival table with the attributes the models use (all of them when their design
    columns are within ``max_covariates``) and the record of the screen (module docstring)."""
    cap = params.get("max_covariates")
    attributes = attribute_columns(survival_table)
    columns = {a: _design_columns(survival_table[a]) for a in attributes}
    record: dict[str, Any] = {
        "max_covariates": cap,
        "covariates_available": int(sum(columns.values())),
        "attributes_available": len(attributes),
    }
    if cap is None or record["covariates_available"] <= int(cap):
        return survival_table, record | {"applied": False, "kept": attributes, "dropped": []}
    rows = sample_rows(survival_table, params.get("max_customers"), params["seed"], "Screen")
    tests = score_tests(rows, attributes)
    tests = tests.assign(
        position=np.arange(len(tests)), per_df=tests["chi_square"] / tests["df"].clip(lower=1)
    )
    tests = tests.sort_values(["log_p_value", "per_df", "position"], ascending=[True, False, True])
    named = always_kept(params, attributes)
    kept, used, details = set(named), sum(columns[a] for a in named), {}
    for rank, row in enumerate(tests.itertuples(index=False), start=1):
        attribute = row.attribute
        if attribute in named:
            why = named[attribute]
        elif used + columns[attribute] <= int(cap):
            kept.add(attribute)
            used += columns[attribute]
            why = f"rank {rank} of {len(attributes)}"
        else:
            why = f"rank {rank} of {len(attributes)}: beyond the cap of {cap} covariates"
        details[attribute] = {
            "chi_square": round(float(row.chi_square), 4),
            "df": int(row.df),
            "p_value": float(row.p_value),
            "rank": rank,
            "covariates": columns[attribute],
            "kept": attribute in kept,
            "why": why,
        }
    keep = [a for a in attributes if a in kept]
    dropped = [a for a in tests["attribute"] if a not in kept]
    record |= {
        "applied": True,
        "statistic": STATISTIC,
        "customers": len(rows),
        "covariates_kept": int(used),
        "kept": keep,
        "dropped": dropped,
        "always_kept": sorted(named),
        "note": (
            "the kept attributes were chosen as the strongest of "
            f"{len(attributes)} by the same data: their hazard ratios' p-values are optimistic"
        ),
        "attributes": details,
    }
    if len(named) and used > int(cap):
        logger.warning(
            "Attribute screen: the %s attribute(s) always kept already give %s covariates, "
            "above survival_analysis.max_covariates = %s",
            len(named),
            used,
            cap,
        )
    strongest_dropped = dropped[0] if dropped else None
    logger.info(
        "%s: %s attributes give %s covariates, above survival_analysis.max_covariates = %s: "
        "kept %s attributes (%s covariates, %s always kept) ranked by a univariate log-rank / "
        "score test on %s customers; left out %s (strongest left out: %s, p = %s)",
        model,
        len(attributes),
        record["covariates_available"],
        cap,
        len(keep),
        used,
        len(named),
        f"{len(rows):,}",
        len(dropped),
        strongest_dropped,
        f"{details[strongest_dropped]['p_value']:.2g}" if strongest_dropped else "-",
    )
    columns_kept = ["customer_id", "signup_date", *keep, DURATION, EVENT]
    return survival_table[[c for c in survival_table.columns if c in columns_kept]], record


def left_out(record: dict[str, Any]) -> dict[str, Any]:
    """The short form of the screen for the AFT and landmark summaries."""
    return {
        "max_covariates": record["max_covariates"],
        "attributes_kept": record["kept"],
        "attributes_left_out": record["dropped"],
        "details": "cox_summary: attribute_screen",
    }


def compared_segments(
    survival_table: pd.DataFrame, segments: list[str], params: dict[str, Any]
) -> tuple[list[str], dict[str, Any] | None]:
    """The static segments Kaplan-Meier compares, and the record of the choice (None when all).

    A segment list chosen automatically (``km_segments: auto``: every categorical attribute with
    few levels) can hold a hundred attributes: a hundred Kaplan-Meier panels are unreadable
    and cost seconds each to estimate and draw. Above ``km_max_segments`` the ones with the
    smallest log-rank p-values (time from signup, :func:`score_tests`) are compared, in the
    run plan's order; a configured ``km_segments`` list is always compared whole."""
    cap = params.get("km_max_segments")
    auto = params.get("km_segments") in (None, "auto")
    present = [s for s in segments if s in survival_table and survival_table[s].nunique() > 1]
    if not auto or cap is None or len(present) <= int(cap):
        return segments, None
    tests = score_tests(survival_table, present).assign(position=np.arange(len(present)))
    tests = tests.sort_values(["log_p_value", "position"])
    strongest = set(tests["attribute"].iloc[: int(cap)])
    chosen = [s for s in present if s in strongest]
    record = {
        "segments_available": len(present),
        "km_max_segments": int(cap),
        "compared": chosen,
        "left_out": [s for s in tests["attribute"] if s not in strongest],
        "why": (
            f"{len(present)} segments chosen automatically (km_segments: auto), above "
            f"survival_analysis.km_max_segments = {cap}: the {len(chosen)} with the smallest "
            "log-rank p-values are compared; list km_segments to choose them"
        ),
    }
    return chosen, record
