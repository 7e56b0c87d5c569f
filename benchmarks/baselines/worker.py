"""One side of a benchmark comparison, run in its own process so that its peak memory is its own.

    python benchmarks/baselines/worker.py TASK PROJECT_DIR OUT_DIR [ARGUMENTS]

PROJECT_DIR is a Kedro project folder whose data layers hold the outputs of a run (for example
data/benchmarks/S). The worker writes OUT_DIR/<TASK>.json (<TASK>_<first argument>.json for
bg_nbd and features_pandas): the seconds of the timed work (module imports and result checks
excluded) and what the comparison needs. Tasks:

* ``feature_stage``: the nodes of the ``feature_engineering`` pipeline, in pipeline order, with
  their inputs loaded through the project's catalog (clean tables read by Ibis on DuckDB); the
  pipeline's own writes of its outputs are not included (argument: SAMPLE_IDS, a file of
  customer ids). ``features_pandas``: the plain pandas baseline (``features_pandas.py``) on the
  same clean Parquet tables (arguments: STRING_STORAGE pyarrow|python, SAMPLE_IDS).
  ``features_polars``: the Polars baseline (``features_polars.py``, lazy scans of the same
  tables, collected once; argument: SAMPLE_IDS); its result is converted to pandas after the
  timed work, and that conversion timed apart. All three write the rows of the sampled
  customers and a per-column digest of the whole table.
* ``bg_summary``: frequency / recency / T built from the clean transactions as the ``clv``
  pipeline does, written to OUT_DIR/bg_summary_all.csv and bg_summary_active.csv.
* ``bg_nbd``: ``customer_retention.models.BetaGeo`` fitted on a summary (arguments: NAME of
  the summary, all|active, and REPEAT).
* ``scoring``: throughput of the ``scoring`` pipeline's ``score_customers`` node and of its
  probability step alone, with the promoted model loaded through the catalog.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
KEYS = ["customer_id", "snapshot_date"]
PARTS_ROWS = 100_000


def _catalog(project: Path):
    """The project's catalog and parameters, as ``kedro run`` in ``project`` would load them."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    os.chdir(project)
    bootstrap_project(project)
    session = KedroSession.create(project_path=project)
    return session.load_context().catalog


def digest(frame: pd.DataFrame) -> dict[str, Any]:
    """Rows, and per column: non-missing count and sum (numbers) or value counts (labels)."""
    columns: dict[str, Any] = {}
    for name in frame.columns:
        series = frame[name]
        entry: dict[str, Any] = {"non_missing": int(series.notna().sum())}
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            entry["sum"] = float(series.astype(float).sum())
        elif pd.api.types.is_datetime64_any_dtype(series):
            nanoseconds = series.astype("datetime64[ns]").astype("int64")  # any unit
            entry["sum"] = float(nanoseconds.sum() / 1e9 / 86_400)
        else:
            counts = series.astype(str).where(series.notna(), None).value_counts()
            entry["values"] = {str(k): int(v) for k, v in counts.items()}
        columns[name] = entry
    return {"rows": len(frame), "columns": columns}


def _save_features(snapshots: pd.DataFrame, out: Path, name: str, sample_ids: str) -> dict:
    ids = set(Path(sample_ids).read_text().split())
    sample = snapshots[snapshots["customer_id"].astype(str).isin(ids)].copy()
    for column in sample.columns:
        if isinstance(sample[column].dtype, pd.CategoricalDtype):
            sample[column] = sample[column].astype(object)
    sample["customer_id"] = sample["customer_id"].astype(str)
    sample.sort_values(KEYS).to_parquet(out / f"{name}_sample.parquet", index=False)
    return {"digest": digest(snapshots), "rows": len(snapshots), "columns": snapshots.shape[1]}


def feature_stage(project: Path, out: Path, sample_ids: str) -> dict:
    """The feature_engineering nodes as the runner calls them; per-node seconds recorded."""
    from customer_retention.pipelines.feature_engineering.pipeline import create_pipeline

    catalog = _catalog(project)
    params = catalog.load("params:feature_engineering")
    (out / "feature_params.json").write_text(json.dumps(params, indent=2))
    started = time.perf_counter()
    memory: dict[str, Any] = {}
    node_seconds = {}
    for node in create_pipeline().nodes:  # topologically sorted
        node_started = time.perf_counter()
        inputs = {
            name: memory[name] if name in memory else catalog.load(name) for name in node.inputs
        }
        memory.update(node.run(inputs))
        node_seconds[node.name] = time.perf_counter() - node_started
    snapshots = memory["customer_snapshots"]
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "node_seconds": node_seconds,
        **_save_features(snapshots, out, "feature_stage", sample_ids),
    }


def features_pandas(project: Path, out: Path, string_storage: str, sample_ids: str) -> dict:
    """The pandas baseline, with the parameters the feature stage used (feature_params.json);
    text columns read as pandas strings with ``string_storage`` "pyarrow" or "python"."""
    sys.path.insert(0, str(HERE))
    import features_pandas as baseline

    params = json.loads((out / "feature_params.json").read_text())
    started = time.perf_counter()
    tables = baseline.read_clean_tables(project / "data" / "02_intermediate", string_storage)
    read_seconds = time.perf_counter() - started
    step_seconds = {"read_parquet": read_seconds}
    snapshots = baseline.customer_snapshots(tables, params, step_seconds)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "step_seconds": step_seconds,
        **_save_features(snapshots, out, f"features_pandas_{string_storage}", sample_ids),
    }


def features_polars(project: Path, out: Path, sample_ids: str) -> dict:
    """The Polars baseline, with the parameters the feature stage used (feature_params.json).
    Timed up to the collected Polars table; the conversion to pandas for the comparison is
    recorded apart (``to_pandas_seconds``, not included in ``seconds``)."""
    sys.path.insert(0, str(HERE))
    import features_polars as baseline
    import polars as pl

    params = json.loads((out / "feature_params.json").read_text())
    started = time.perf_counter()
    tables = baseline.scan_clean_tables(project / "data" / "02_intermediate")
    step_seconds: dict[str, float] = {}
    snapshots = baseline.customer_snapshots(tables, params, step_seconds)
    seconds = time.perf_counter() - started
    converted = time.perf_counter()
    frame = baseline.to_pandas(snapshots)
    to_pandas_seconds = time.perf_counter() - converted
    return {
        "seconds": seconds,
        "step_seconds": step_seconds,
        "to_pandas_seconds": to_pandas_seconds,
        "version": pl.__version__,
        "threads": pl.thread_pool_size(),
        **_save_features(frame, out, "features_polars", sample_ids),
    }


def bg_summary(project: Path, out: Path) -> dict:
    """Frequency / recency / T (weeks) from the clean transactions, as the ``clv`` pipeline
    builds them (``clv.nodes.value_noncontractual_customers``): purchases merged per customer
    and day in the engine, ``rfm_summary`` up to the day before the as-of date.

    Two inputs are written: ``active`` = the customers active at the as-of date (what the
    pipeline fits on) and ``all`` = every customer with a purchase before the as-of date.
    """
    from customer_retention.pipelines.clv.nodes import purchase_summary

    catalog = _catalog(project)
    transactions = catalog.load("transactions@ibis")
    snapshots = pd.read_parquet(
        project / "data" / "04_feature" / "customer_snapshots.parquet",
        columns=["customer_id", "snapshot_date", "is_as_of_snapshot"],
    )
    started = time.perf_counter()
    as_of = snapshots["snapshot_date"].max()
    summary = purchase_summary(transactions, as_of)
    seconds = time.perf_counter() - started
    active = pd.Index(snapshots.loc[snapshots["is_as_of_snapshot"], "customer_id"])
    inputs = {"active": summary.reindex(summary.index.intersection(active)), "all": summary}
    described = {}
    for name, frame in inputs.items():
        frame[["frequency", "recency", "T"]].to_csv(
            out / f"bg_summary_{name}.csv", float_format="%.17g"
        )
        described[name] = {
            "customers": len(frame),
            "repeat_buyers": int((frame["frequency"] > 0).sum()),
            "mean_frequency": float(frame["frequency"].mean()),
        }
    return {"seconds": seconds, "as_of_date": str(as_of.date()), "inputs": described}


def bg_nbd(project: Path, out: Path, name: str, repeat: str = "3") -> dict:
    """Fit ``BetaGeo`` on ``bg_summary_<name>.csv`` (best time of ``repeat`` fits); with the
    lifetimes result at hand, also the log-likelihood of its parameters under this model."""
    from customer_retention.models import BetaGeo

    summary = pd.read_csv(out / f"bg_summary_{name}.csv", index_col=0)
    rfm = [summary[c].to_numpy() for c in ("frequency", "recency", "T")]
    times = []
    for _ in range(int(repeat)):
        started = time.perf_counter()
        model = BetaGeo().fit(*rfm)
        times.append(time.perf_counter() - started)
    result = {
        "seconds": min(times),
        "seconds_each": times,
        "customers": len(summary),
        "params": model.params_,
        "log_likelihood": model.log_likelihood_,
    }
    other = out / f"lifetimes_{name}.json"
    theirs = json.loads(other.read_text()) if other.exists() else {}
    if "params" in theirs:
        check = BetaGeo.from_params(**theirs["params"])
        result["log_likelihood_of_lifetimes_params"] = float(
            np.sum(check.individual_log_likelihood(*rfm))
        )
    return result


def _best_seconds(function, setup=None, repeat: int = 3, budget: float = 30.0) -> float:
    """Best wall time of ``function(setup())`` (setup untimed) over up to ``repeat`` runs,
    fewer when the runs so far took more than ``budget`` seconds. The minimum is the least
    disturbed by other work on a shared machine."""
    times: list[float] = []
    while len(times) < repeat and sum(times) < budget:
        argument = setup() if setup else None
        started = time.perf_counter()
        function(argument) if setup else function()
        times.append(time.perf_counter() - started)
    return min(times)


def scoring(project: Path, out: Path) -> dict:
    """Customers scored per second: the probability step alone, each part, the whole node.

    Every prediction gets a fresh DMatrix: XGBoost caches the predictions of a DMatrix it has
    seen, so a repeated ``predict`` on the same one would time a cache look-up.
    """
    from customer_retention.core.calibration import apply_calibrator
    from customer_retention.core.comment_themes import attach_latest_theme
    from customer_retention.core.model_frame import dmatrix, feature_array
    from customer_retention.core.reasons import explain
    from customer_retention.pipelines.scoring.nodes import (
        _use_approximate_shap,
        score_customers,
        select_as_of_snapshot,
    )

    catalog = _catalog(project)
    logging.getLogger("customer_retention").setLevel(logging.WARNING)
    model = catalog.load("promoted_churn_model")
    params = catalog.load("params:scoring")
    rows = select_as_of_snapshot(catalog.load("as_of_snapshot"))
    rows = attach_latest_theme(rows, catalog.load("feedback@optional"), model)  # as scoring does
    booster, spec, calibrator = (
        model["model"],
        model["metadata"]["feature_spec"],
        model["calibrator"],
    )
    n = len(rows)
    # The parts and the approximate-SHAP variant on at most PARTS_ROWS customers (time per
    # customer is flat at that size); the probability step and the node on every customer.
    sample = rows.sample(min(n, PARTS_ROWS), random_state=0).reset_index(drop=True)

    def fresh_matrix():
        return dmatrix(sample, spec)

    raw = booster.predict(fresh_matrix())
    approximate_reasons = _use_approximate_shap(params, n)
    contributions = booster.predict(
        fresh_matrix(), pred_contribs=True, approx_contribs=approximate_reasons
    )
    k = int(params["top_reasons"])
    features, actions = spec["features"], params["actions"]
    parts = {
        "feature_array": _best_seconds(lambda: feature_array(sample, spec, log_unseen=False)),
        "dmatrix_from_array": _best_seconds(
            lambda array: dmatrix(array, spec),
            lambda: feature_array(sample, spec, log_unseen=False),
        ),
        "booster_inplace_predict": _best_seconds(
            booster.inplace_predict, lambda: feature_array(sample, spec, log_unseen=False)
        ),
        "booster_predict_dmatrix": _best_seconds(booster.predict, fresh_matrix),
        "calibration": _best_seconds(lambda: apply_calibrator(calibrator, raw)),
        "shap_exact": _best_seconds(lambda m: booster.predict(m, pred_contribs=True), fresh_matrix),
        "shap_approximate": _best_seconds(
            lambda m: booster.predict(m, pred_contribs=True, approx_contribs=True), fresh_matrix
        ),
        "reasons_explain": _best_seconds(
            lambda: explain(sample, contributions[:, :-1], features, actions, k)
        ),
    }
    # The probability step as score_customers runs it: feature array, inplace predict, calibration.
    probability = _best_seconds(
        lambda: apply_calibrator(calibrator, booster.inplace_predict(feature_array(rows, spec)))
    )
    node = _best_seconds(lambda: score_customers(rows, model, params))
    approximate = {**params, "approximate_shap": True}
    node_approximate = _best_seconds(lambda: score_customers(sample, model, approximate))
    trained_with = model["metadata"].get("training", {}).get("booster_params", {})
    return {
        "customers": n,
        "features": len(spec["features"]),
        "trees": booster.num_boosted_rounds(),
        "max_depth": trained_with.get("max_depth"),
        "learning_rate": trained_with.get("learning_rate"),
        "cpus": os.cpu_count(),
        "approximate_shap_param": approximate_reasons,
        "probability_step": {"seconds": probability, "customers_per_second": n / probability},
        "score_customers_node": {"seconds": node, "customers_per_second": n / node},
        "score_customers_node_approximate_shap": {
            "customers": len(sample),
            "seconds": node_approximate,
            "customers_per_second": len(sample) / node_approximate,
        },
        "parts_customers": len(sample),
        "parts_seconds": parts,
    }


TASKS = {
    "feature_stage": feature_stage,
    "features_pandas": features_pandas,
    "features_polars": features_polars,
    "bg_summary": bg_summary,
    "bg_nbd": bg_nbd,
    "scoring": scoring,
}


NAMED_BY_FIRST_ARGUMENT = {"bg_nbd", "features_pandas"}  # <task>_<argument>.json


def main(argv: list[str]) -> None:
    task, project, out, *rest = argv
    out_dir = Path(out).resolve()
    result = TASKS[task](Path(project).resolve(), out_dir, *rest)
    name = "_".join([task, *rest[:1]]) if task in NAMED_BY_FIRST_ARGUMENT else task
    (out_dir / f"{name}.json").write_text(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main(sys.argv[1:])
