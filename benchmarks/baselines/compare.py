"""Side-by-side comparisons measured in one benchmark run (called by benchmarks/run.py).

Each side runs in its own subprocess (worker.py, or lifetimes_fit.py in the benchmark-only
lifetimes environment), so its peak RSS is its own: the parent reads it from ``os.wait4``.

* ``features``: the feature stage (Kedro nodes, Ibis on DuckDB) vs a plain pandas version of the
  same features, and vs a Polars version (lazy, every core); equal results on a sample of
  customers (all snapshots, all columns) and on a digest of the whole table (rows, per-column
  non-missing counts and sums / value counts).
* ``bg_nbd``: ``customer_retention.models.BetaGeo`` vs ``lifetimes.BetaGeoFitter``.
* ``scoring``: customers scored per second with the promoted model.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
BENCHMARKS = HERE.parent
LIFETIMES_REQUIREMENTS = BENCHMARKS / "requirements-lifetimes.txt"
LIFETIMES_VENV = BENCHMARKS / ".venv-lifetimes"
COMPARISONS = ("features", "bg_nbd", "scoring")
FEATURE_TARGET = 3.0  # the feature stage should be at least this many times faster (#25)
SCORING_TARGET = 200_000  # customers per second
RTOL = 1e-9
ATOL = 1e-9


MEMORY_CAP_SHARE = 0.85  # a worker is stopped above this share of the memory available at its start


class WorkerError(RuntimeError):
    pass


class MemoryCapExceeded(WorkerError):
    def __init__(self, what: str, cap_mb: float, seconds: float):
        super().__init__(
            f"{what} stopped after {seconds:.0f} s: its memory passed {cap_mb:,.0f} MB "
            f"({MEMORY_CAP_SHARE:.0%} of the memory available when it started)"
        )
        self.cap_mb, self.seconds = cap_mb, seconds


def _meminfo_mb(field: str, path: str = "/proc/meminfo") -> float:
    """A field of /proc/meminfo or /proc/<pid>/status in MB (0 when unreadable)."""
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1e3
    except OSError:
        pass
    return 0.0


def run_worker(command: list[str], log: Path, env: dict[str, str] | None = None) -> float:
    """Run ``command``; return its peak RSS in MB (its own, from wait4). Output goes to ``log``.

    The worker's resident memory is watched; past ``MEMORY_CAP_SHARE`` of the memory available
    at its start it is stopped (``MemoryCapExceeded``) before it can starve the machine.
    """
    cap = MEMORY_CAP_SHARE * _meminfo_mb("MemAvailable") or float("inf")
    started = time.perf_counter()
    with log.open("w") as handle:
        process = subprocess.Popen(
            command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", **(env or {})},
        )
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if _meminfo_mb("VmRSS", f"/proc/{process.pid}/status") > cap:
                process.kill()
                os.wait4(process.pid, 0)
                process.returncode = -9
                raise MemoryCapExceeded(
                    " ".join(Path(c).name for c in command[1:3]), cap, time.perf_counter() - started
                )
            time.sleep(0.1)
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise WorkerError(f"{' '.join(command[1:3])} failed ({process.returncode}):\n{tail}")
    return usage.ru_maxrss / 1e3  # kilobytes on Linux


def _worker(task: str, project: Path, out: Path, *args: str) -> tuple[dict, float]:
    command = [sys.executable, str(HERE / "worker.py"), task, str(project), str(out), *args]
    name = "_".join([task, *args[:1]]) if task in ("bg_nbd", "features_pandas") else task
    peak = run_worker(command, out / f"{name}.log")
    return json.loads((out / f"{name}.json").read_text()), peak


# ---------------------------------------------------------------- features
def _sample_ids(project: Path, out: Path, n: int, seed: int = 0) -> Path:
    ids = pd.read_parquet(
        project / "data" / "02_intermediate" / "customers.parquet", columns=["customer_id"]
    )["customer_id"].astype(str)
    chosen = np.random.default_rng(seed).choice(
        ids.to_numpy(), size=min(n, len(ids)), replace=False
    )
    path = out / "sample_ids.txt"
    path.write_text("\n".join(sorted(chosen)) + "\n")
    return path


def compare_tables(ours: pd.DataFrame, theirs: pd.DataFrame) -> list[str]:
    """Differences between two snapshot tables (any row order); empty when equal.

    Numbers within ``RTOL`` / ``ATOL`` (missing equals missing), labels and flags exactly.
    """
    problems = []
    if set(ours.columns) != set(theirs.columns):
        problems.append(
            f"columns only in the feature stage: {sorted(set(ours.columns) - set(theirs.columns))}, "
            f"only in the baseline: {sorted(set(theirs.columns) - set(ours.columns))}"
        )
    keys = ["snapshot_date", "customer_id"]
    # The same instants in any time unit (Polars has no seconds; pandas keeps a parameter's).
    as_keys = {"customer_id": str, "snapshot_date": "datetime64[ns]"}
    ours = ours.astype(as_keys).sort_values(keys, ignore_index=True)
    theirs = theirs.astype(as_keys).sort_values(keys, ignore_index=True)
    if len(ours) != len(theirs) or not ours[keys].equals(theirs[keys]):
        problems.append(
            f"rows differ: {len(ours)} in the feature stage, {len(theirs)} in the baseline"
        )
        return problems
    for column in sorted(set(ours.columns) & set(theirs.columns)):
        a, b = ours[column], theirs[column]
        numeric = all(
            pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s) for s in (a, b)
        )
        if numeric:
            x, y = a.astype(float).to_numpy(), b.astype(float).to_numpy()
            equal = np.isclose(x, y, rtol=RTOL, atol=ATOL, equal_nan=True)
        else:
            x = a.astype(object).where(a.notna(), None).map(lambda v: v if v is None else str(v))
            y = b.astype(object).where(b.notna(), None).map(lambda v: v if v is None else str(v))
            equal = (x == y).to_numpy() | (x.isna() & y.isna()).to_numpy()
        if not equal.all():
            row = int(np.flatnonzero(~equal)[0])
            problems.append(
                f"{column}: {int((~equal).sum())} values differ, e.g. customer "
                f"{ours.at[row, 'customer_id']} at {ours.at[row, 'snapshot_date'].date()}: "
                f"{a.iat[row]!r} vs {b.iat[row]!r}"
            )
    return problems


def compare_digests(ours: dict, theirs: dict) -> list[str]:
    """Differences between two whole-table digests (see worker.digest)."""
    problems = []
    if ours["rows"] != theirs["rows"]:
        problems.append(f"whole table: {ours['rows']} vs {theirs['rows']} rows")
    for column, a in ours["columns"].items():
        b = theirs["columns"].get(column)
        if b is None:
            continue  # reported by compare_tables
        if a["non_missing"] != b["non_missing"]:
            problems.append(
                f"whole table, {column}: {a['non_missing']} vs {b['non_missing']} non-missing"
            )
        if "sum" in a and not math.isclose(
            a["sum"], b.get("sum", math.nan), rel_tol=1e-9, abs_tol=1e-6
        ):
            problems.append(f"whole table, {column}: sum {a['sum']!r} vs {b.get('sum')!r}")
        if "values" in a and a["values"] != b.get("values"):
            problems.append(f"whole table, {column}: value counts differ")
    return problems


def _best_of(runs: list[tuple[dict, float]]) -> tuple[dict, float, list[float]]:
    """The fastest run's result, the highest peak RSS, and every run's seconds."""
    best = min(runs, key=lambda run: run[0]["seconds"])[0]
    return best, max(rss for _, rss in runs), [round(run["seconds"], 2) for run, _ in runs]


def _baseline_result(
    runs: list[tuple[dict, float]],
    stage: dict,
    name: str,
    what: str,
    out: Path,
    sample_size: int,
    target: float | None = None,
) -> dict:
    """Time, memory, speed-up of the feature stage over a baseline (``name``: its worker's
    output), whether it meets ``target`` (when given), and the equality check of the results."""
    side, rss, times = _best_of(runs)
    ours = pd.read_parquet(out / "feature_stage_sample.parquet")
    theirs = pd.read_parquet(out / f"{name}_sample.parquet")
    problems = compare_tables(ours, theirs) + compare_digests(stage["digest"], side["digest"])
    ratio = side["seconds"] / stage["seconds"]
    result = {
        "what": what,
        "seconds": round(side["seconds"], 2),
        "seconds_each_run": times,
        "peak_rss_mb": round(rss, 1),
        "step_seconds": {k: round(v, 2) for k, v in side["step_seconds"].items()},
        "speedup_of_feature_stage": round(ratio, 2),
    }
    if target is not None:
        result["meets_target"] = ratio >= target
    result["equality_check"] = {
        "sample_customers": sample_size,
        "sample_rows": len(ours),
        "whole_table_digest": "rows, per-column non-missing counts, sums, value counts",
        "tolerance": {"rtol": RTOL, "atol": ATOL},
        "equal": not problems,
        "differences": problems,
    }
    return result


def _pandas_result(
    runs: list[tuple[dict, float]], stage: dict, storage: str, out: Path, sample_size: int
) -> dict:
    """Time, memory, speed-up and equality check of one variant of the pandas baseline."""
    what = (
        "benchmarks/baselines/features_pandas.py: pd.read_parquet (text as "
        f"string[{storage}]), groupby per snapshot date"
    )
    name = f"features_pandas_{storage}"
    return _baseline_result(runs, stage, name, what, out, sample_size, FEATURE_TARGET)


def _polars_result(
    runs: list[tuple[dict, float]], stage: dict, out: Path, sample_size: int
) -> dict:
    """Time, memory, speed-up and equality check of the Polars baseline; no target (the
    target is set against pandas). Its seconds end at the collected Polars table; the
    conversion to pandas for the check is ``to_pandas_seconds``, apart."""
    side = _best_of(runs)[0]
    what = (
        "benchmarks/baselines/features_polars.py: pl.scan_parquet, one lazy query (records "
        "paired with their snapshot dates by binary search + explode, group_by per feature "
        f"group), collected once; polars {side['version']} on {side['threads']} threads"
    )
    return {
        **_baseline_result(runs, stage, "features_polars", what, out, sample_size),
        "version": side["version"],
        "threads": side["threads"],
        "to_pandas_seconds": round(side["to_pandas_seconds"], 2),
    }


def _stopped(error: MemoryCapExceeded, stage: dict) -> dict:
    """A baseline stopped at the memory cap: no result to compare; the speed-up is at least
    the time it ran."""
    return {
        "stopped": str(error),
        "peak_rss_mb": f"> {error.cap_mb:,.0f}",
        "speedup_of_feature_stage_at_least": round(error.seconds / stage["seconds"], 2),
        "equality_check": {"equal": None, "differences": ["baseline stopped"]},
    }


def features(
    project: Path,
    out: Path,
    sample_size: int = 500,
    repeat: int = 1,
    python_strings: bool = True,
) -> dict:
    """Time the feature stage, the pandas baseline and the Polars baseline on the same clean
    tables, alternately ``repeat`` times (best time of each kept), and check that their
    results are equal.

    The pandas baseline reads text as Arrow-backed strings; with ``python_strings`` it also
    runs once with Python-object strings (pandas 2.3's read_parquet default; much slower and
    larger). A baseline stopped at the memory cap is not run again.
    """
    ids = str(_sample_ids(project, out, sample_size))
    baselines = {
        "pandas_baseline": ("features_pandas", "pyarrow", ids),
        "polars_baseline": ("features_polars", ids),
    }
    stage_runs: list[tuple[dict, float]] = []
    runs: dict[str, list[tuple[dict, float]]] = {key: [] for key in baselines}
    stopped: dict[str, MemoryCapExceeded] = {}
    for _ in range(repeat):
        stage_runs.append(_worker("feature_stage", project, out, ids))
        for key, (task, *args) in baselines.items():
            if key in stopped:
                continue
            try:
                runs[key].append(_worker(task, project, out, *args))
            except MemoryCapExceeded as error:
                stopped[key] = error
        if len(stopped) == len(baselines):
            break
    stage, stage_rss, stage_times = _best_of(stage_runs)
    result: dict[str, Any] = {
        "feature_stage": {
            "what": "feature_engineering nodes (Ibis on DuckDB), inputs via the catalog, "
            "outputs kept in memory",
            "seconds": round(stage["seconds"], 2),
            "seconds_each_run": stage_times,
            "peak_rss_mb": round(stage_rss, 1),
            "rows": stage["rows"],
            "columns": stage["columns"],
            "node_seconds": {k: round(v, 2) for k, v in stage["node_seconds"].items()},
        },
        "target_speedup": FEATURE_TARGET,
    }
    if "pandas_baseline" in stopped:
        result["pandas_baseline"] = _stopped(stopped["pandas_baseline"], stage)
    else:
        pandas_runs = runs["pandas_baseline"]
        result["pandas_baseline"] = _pandas_result(pandas_runs, stage, "pyarrow", out, sample_size)
        if python_strings:
            try:
                variant_runs = [_worker("features_pandas", project, out, "python", ids)]
                variant = _pandas_result(variant_runs, stage, "python", out, sample_size)
            except MemoryCapExceeded as error:
                variant = {"stopped": str(error)}
            result["pandas_baseline_python_strings"] = variant
    if "polars_baseline" in stopped:
        result["polars_baseline"] = _stopped(stopped["polars_baseline"], stage)
    else:
        result["polars_baseline"] = _polars_result(runs["polars_baseline"], stage, out, sample_size)
    return result


# ---------------------------------------------------------------- BG/NBD vs lifetimes
def lifetimes_python() -> Path:
    """The benchmark-only lifetimes environment, built from requirements-lifetimes.txt when
    missing or stale. Raises ``WorkerError`` with the reason when it cannot be built."""
    stamp = LIFETIMES_VENV / ".requirements.sha256"
    wanted = hashlib.sha256(LIFETIMES_REQUIREMENTS.read_bytes()).hexdigest()
    python = LIFETIMES_VENV / "bin" / "python"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    shutil.rmtree(LIFETIMES_VENV, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k != "PIP_CONSTRAINT"}  # not the project's pins
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    steps = {
        "python -m venv": [sys.executable, "-m", "venv", str(LIFETIMES_VENV)],
        f"pip install -r {LIFETIMES_REQUIREMENTS.name}": [
            *(str(python), "-m", "pip", "install", "--quiet"),
            *("-r", str(LIFETIMES_REQUIREMENTS)),
        ],
        "import lifetimes": [str(python), "-c", "from lifetimes import BetaGeoFitter"],
    }
    for step, command in steps.items():
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
            raise WorkerError(f"{step} failed: {lines[-1] if lines else done.returncode}")
    stamp.write_text(wanted)
    return python


def _bg_pair(project: Path, out: Path, name: str, python: Path | None, repeat: int) -> dict:
    result: dict[str, Any] = {}
    theirs: dict[str, Any] = {}
    if python is not None:
        command = [str(python), str(HERE / "lifetimes_fit.py"), str(out), name, str(repeat)]
        theirs_rss = run_worker(command, out / f"lifetimes_{name}.log", env={"PYTHONPATH": ""})
        theirs = json.loads((out / f"lifetimes_{name}.json").read_text())
    ours, ours_rss = _worker("bg_nbd", project, out, name, str(repeat))
    result["customers"] = ours["customers"]
    result["ours"] = {
        "seconds": round(ours["seconds"], 3),
        "peak_rss_mb": round(ours_rss, 1),
        "params": ours["params"],
        "log_likelihood": ours["log_likelihood"],
    }
    if python is None:
        return result
    if "error" in theirs:
        result["lifetimes"] = {"error": theirs["error"], "peak_rss_mb": round(theirs_rss, 1)}
        return result
    result["lifetimes"] = {
        "version": theirs["version"],
        "seconds": round(theirs["seconds"], 3),
        "peak_rss_mb": round(theirs_rss, 1),
        "params": theirs["params"],
        "log_likelihood": theirs["log_likelihood"],
    }
    relative = {
        k: abs(ours["params"][k] - theirs["params"][k]) / abs(theirs["params"][k])
        for k in ("r", "alpha", "a", "b")
    }
    n = ours["customers"]
    # Both parameter sets under one likelihood (ours), and each under its own.
    per_customer = (ours["log_likelihood"] - ours["log_likelihood_of_lifetimes_params"]) / n
    formulas = abs(theirs["log_likelihood"] - ours["log_likelihood_of_lifetimes_params"]) / n
    result["agreement"] = {
        "relative_difference": relative,
        "max_relative_difference": max(relative.values()),
        "log_likelihood_difference_per_customer": per_customer,
        "likelihood_formulas_differ_per_customer": formulas,
        "agree": max(relative.values()) < 0.01 or abs(per_customer) < 1e-3,
        "criterion": "parameters within 1% relative, or log-likelihood within 1e-3 per customer",
    }
    result["speedup"] = round(theirs["seconds"] / ours["seconds"], 2)
    return result


def bg_nbd(project: Path, out: Path, repeat: int = 3) -> dict:
    """Our BG/NBD fit vs lifetimes' on the same summaries (see worker.bg_summary)."""
    summary, _ = _worker("bg_summary", project, out)
    try:
        python: Path | None = lifetimes_python()
        skipped = None
    except (WorkerError, OSError) as error:
        python, skipped = None, f"skipped: lifetimes environment unavailable ({error})"
    result: dict[str, Any] = {
        "as_of_date": summary["as_of_date"],
        "time_unit": "weeks",
        "inputs": {
            "all": "every customer with a purchase before the as-of date (parameters identified)",
            "active": "the customers active at the as-of date, as the clv pipeline fits",
        },
    }
    if skipped:
        result["lifetimes"] = skipped
    for name in ("all", "active"):
        result[name] = _bg_pair(project, out, name, python, repeat) | {
            "repeat_buyers": summary["inputs"][name]["repeat_buyers"]
        }
    return result


# ---------------------------------------------------------------- scoring
def scoring(project: Path, out: Path) -> dict:
    """Customers per second of the probability step and of the score_customers node."""
    result, rss = _worker("scoring", project, out)
    parts = result["parts_seconds"]
    n = result["customers"]
    node = result["score_customers_node"]["seconds"]
    shap = "shap_approximate" if result["approximate_shap_param"] else "shap_exact"
    in_node = (
        "feature_array",
        "booster_inplace_predict",
        "calibration",
        "dmatrix_from_array",
        shap,
        "reasons_explain",
    )
    slowest = max(in_node, key=parts.get)  # of the parts the node runs
    return {
        "customers": n,
        "model": {k: result[k] for k in ("features", "trees", "max_depth", "learning_rate")},
        "probability_step_per_second": round(result["probability_step"]["customers_per_second"]),
        "score_customers_node_per_second": round(
            result["score_customers_node"]["customers_per_second"]
        ),
        "score_customers_node_approximate_shap_per_second": round(
            result["score_customers_node_approximate_shap"]["customers_per_second"]
        ),
        "target_per_second": SCORING_TARGET,
        "probability_step_meets_target": result["probability_step"]["customers_per_second"]
        >= SCORING_TARGET,
        "node_meets_target": n / node >= SCORING_TARGET,
        "approximate_shap_param": result["approximate_shap_param"],
        "parts_customers": result["parts_customers"],
        "parts_seconds": {k: round(v, 4) for k, v in parts.items()},
        # Parts timed on parts_customers, scaled to every customer, over the node's time.
        "parts_share_of_node": {
            k: round(v * n / result["parts_customers"] / node, 3) for k, v in parts.items()
        },
        "slowest_part": slowest,
        "peak_rss_mb": round(rss, 1),
    }


def run(
    project: Path, out: Path, only: list[str] | None = None, repeat: int = 1, small: bool = True
) -> dict:
    """Run the requested comparisons; a failing one is recorded as its error, not raised.

    ``repeat``: how many times each side of the feature comparison runs (best time kept);
    ``small``: also time the pandas baseline with Python-object strings (too big for L), and
    fit each BG/NBD three times (best time kept) rather than once.
    """
    out.mkdir(parents=True, exist_ok=True)
    comparisons = {
        "features": lambda p, o: features(p, o, repeat=repeat, python_strings=small),
        "bg_nbd": lambda p, o: bg_nbd(p, o, repeat=3 if small else 1),
        "scoring": scoring,
    }
    results: dict[str, Any] = {}
    for name in only or COMPARISONS:
        started = time.perf_counter()
        load = [round(x, 2) for x in os.getloadavg()]
        try:
            results[name] = comparisons[name](project, out)
        except WorkerError as error:
            results[name] = {"error": str(error)}
        results[name]["measured_at"] = datetime.datetime.now().isoformat(timespec="seconds")
        results[name]["load_average_before"] = load  # other work on the machine skews times
        results[name]["benchmark_seconds"] = round(time.perf_counter() - started, 1)
    return results
