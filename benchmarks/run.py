"""Benchmark the default pipeline at a named size: `make bench SIZE=S` (or XS, M, L).

Demo data are generated once per size and cached under data/benchmarks/<SIZE>/; each run copies
the project configuration there, runs `kedro run` in a subprocess with the node-timing hook on,
then runs the side-by-side comparisons of benchmarks/baselines/ on the data of that same run,
and writes benchmarks/results/<SIZE>.json plus a table on stdout: wall time and peak RSS of
data generation and of the whole run, time and memory of every node, and the comparisons:

* features: the feature stage vs a plain pandas version of the same features, and vs a Polars
  version (speed-up, peak RSS of each, equal results checked);
* bg_nbd: our BG/NBD fit vs the `lifetimes` package (benchmark-only venv, see
  requirements-lifetimes.txt): fit times, parameters, log-likelihoods;
* scoring: customers scored per second with the promoted model.

``--engine spark`` (``make bench SIZE=S ENGINE=spark``) runs the default pipeline twice on the
same cached data, back to back so that both see the same machine: in the default environment
(DuckDB) and with ``kedro run --env spark`` (cleaning and the Ibis stages on a local Spark
session, see README "Spark"). Both runs go under ``engines`` of the results file (``duckdb``,
``spark``), with each stage's time; the rest of the file is kept, and the comparisons are not
rerun (they do not depend on the engine).

Each comparison also runs alone on the outputs of an earlier run, without rerunning the
pipeline; its section of the results file is replaced, the rest kept::

    python benchmarks/run.py S --only baselines      # all three comparisons
    python benchmarks/run.py S --only features       # or bg_nbd, scoring; repeatable
    python benchmarks/run.py S --only pipeline       # the pipeline alone (no comparisons)
    python benchmarks/run.py S --only scoring --project /tmp/copy --out /tmp/S.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "baselines"))
import compare  # noqa: E402

from customer_retention.cli import DEFAULT_RUNNER  # noqa: E402
from customer_retention.core.layout import DATA_LAYERS  # noqa: E402

SIZES = {"XS": 5_000, "S": 100_000, "M": 300_000, "L": 1_000_000}
ENGINES = ("duckdb", "spark")
"""duckdb: the default environment; spark: ``kedro run --env spark`` (conf/spark)."""
LAYERS = DATA_LAYERS
RUNNER_HISTORY = ("runner_node_seconds.json", "runner_node_memory.json")
"""What the default runner learnt from the previous run (schedule, memory): kept between runs."""
PREREQUISITES = (
    "data/02_intermediate/customers.parquet",
    "data/04_feature/customer_snapshots.parquet",
    "data/06_models/promoted/current.json",
)


def _project(size: str, engine: str = "duckdb", keep: tuple[str, ...] = ()) -> Path:
    """A project folder for this size: current configuration, cached raw data, the other
    layers emptied but for the reporting files named in ``keep``."""
    project = ROOT / "data" / "benchmarks" / size
    reporting = project / "data" / "08_reporting"
    kept = {name: (reporting / name).read_bytes() for name in keep if (reporting / name).exists()}
    shutil.rmtree(project / "conf", ignore_errors=True)
    shutil.copytree(ROOT / "conf" / "base", project / "conf" / "base")
    if engine == "spark":
        shutil.copytree(ROOT / "conf" / "spark", project / "conf" / "spark")
    (project / "conf" / "local").mkdir(exist_ok=True)
    (project / "src").mkdir(exist_ok=True)
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    for layer in LAYERS:
        if layer != "01_raw":
            shutil.rmtree(project / "data" / layer, ignore_errors=True)
        (project / "data" / layer).mkdir(parents=True, exist_ok=True)
    for name, content in kept.items():
        (reporting / name).write_bytes(content)
    return project


def _descendants_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and every process below it (Linux /proc; 0 elsewhere): the
    Spark JVM runs as a child of the Python driver, outside its own RSS."""
    children: dict[int, list[int]] = {}
    rss: dict[int, float] = {}
    page_mb = os.sysconf("SC_PAGE_SIZE") / 1e6 if hasattr(os, "sysconf") else 0.0
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            rss[int(entry.name)] = int((entry / "statm").read_text().split()[1]) * page_mb
        except (OSError, ValueError, IndexError):
            continue
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += rss.get(current, 0.0)
        todo += children.get(current, [])
    return total


class _TreePeak(threading.Thread):
    """Samples the resident memory of a process tree twice a second; keeps the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_mb, self._done = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.5):
            self.peak_mb = max(self.peak_mb, _descendants_rss_mb(self.pid))

    def stop(self) -> float:
        self._done.set()
        self.join()
        return self.peak_mb


def _kedro(
    project: Path, args: list[str], timings: Path | None, engine: str = "duckdb"
) -> tuple[float, float, float]:
    """Run kedro in ``project``; return (wall seconds, peak RSS MB of that child alone, peak
    RSS MB of the child and its own children: the Spark JVM, sampled)."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    if timings is not None:
        env["CUSTOMER_RETENTION_NODE_TIMINGS"] = str(timings)
    command = [str(Path(sys.executable).parent / "kedro"), "run", *args]
    if engine == "spark":
        command += ["--env", "spark"]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.DEVNULL)
    tree = _TreePeak(process.pid)
    tree.start()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    tree_peak = tree.stop()
    if os.waitstatus_to_exitcode(status) != 0:
        raise subprocess.CalledProcessError(os.waitstatus_to_exitcode(status), command)
    return wall, usage.ru_maxrss / 1e3, tree_peak


def run_pipeline(
    size: str,
    engine: str = "duckdb",
    runner: str | None = None,
    runner_params: str | None = None,
    runner_history: bool = True,
) -> dict:
    """Generate the data of this size if needed, run the default pipeline on ``engine``, time
    every node. The layers are emptied first, except the runner's record of the previous
    run (``RUNNER_HISTORY``) unless ``runner_history`` is false: a scheduled run has it."""
    n = SIZES[size]
    project = _project(size, engine, keep=RUNNER_HISTORY if runner_history else ())
    kept = [name for name in RUNNER_HISTORY if (project / "data" / "08_reporting" / name).exists()]
    params = f"demo_data.n_customers={n}"
    generation = None
    if not any((project / "data" / "01_raw").glob("customers.*")):
        wall, peak, _ = _kedro(project, ["--pipeline", "demo_data", "--params", params], None)
        generation = {"seconds": round(wall, 1), "peak_rss_mb": round(peak, 1)}
    timings = project / "node_timings.json"
    load = [round(x, 2) for x in os.getloadavg()]
    runner_args = ["--runner", runner] if runner else []
    runner_args += ["--runner-params", runner_params] if runner_params else []
    wall, _, tree_peak = _kedro(project, ["--params", params, *runner_args], timings, engine)
    recorded = json.loads(timings.read_text())
    node_seconds = sum(r["seconds"] for r in recorded["nodes"])
    io_seconds = sum(r["load_seconds"] + r["save_seconds"] for r in recorded["datasets"])
    return {
        "data_generation": generation or "cached (generated by an earlier run)",
        "default_pipeline": {
            "engine": engine,
            "runner": runner or DEFAULT_RUNNER,
            "runner_params": runner_params,
            "runner_history": sorted(kept) or "none (first run)",
            "seconds": round(wall, 1),
            "peak_rss_mb": round(recorded["peak_rss_mb"], 1),
            "peak_rss_with_children_mb": round(tree_peak, 1),
            "node_seconds": round(node_seconds, 1),
            "dataset_io_seconds": round(io_seconds, 1),
            "start_up_and_shut_down_seconds": round(wall - recorded["run_seconds"], 1),
            "load_average_before": load,
        },
        "stages": stage_seconds(recorded["nodes"], recorded["datasets"]),
        "nodes": sorted(recorded["nodes"], key=lambda r: -r["seconds"]),
        "datasets": recorded["datasets"],
    }


def same_day_baseline(path: Path, commit: str | None) -> dict:
    """What the code before a change measured the same day on the same data: speed-ups are
    judged against it, since this machine's speed drifts between days (README, Performance)."""
    if not commit:
        raise SystemExit("--same-day-baseline needs --baseline-commit (the commit it measured)")
    run = json.loads(path.read_text())["default_pipeline"]
    keys = ("seconds", "peak_rss_mb", "node_seconds", "dataset_io_seconds", "load_average_before")
    return {"commit": commit, **{key: run[key] for key in keys}}


def stage_seconds(nodes: list[dict], datasets: list[dict] | None = None) -> dict[str, float]:
    """Seconds of each stage (registered pipeline), largest first: inside its nodes, plus
    saving its outputs. Spark computes a lazy Ibis table when the catalog writes it, so a
    feature group's work on Spark is its save, not its node."""
    from customer_retention.pipeline_registry import STAGES, register_pipelines

    pipelines = register_pipelines()
    stage_of = {n.name: stage for stage in STAGES for n in pipelines[stage].nodes}
    written_by = {
        output: stage for stage in STAGES for n in pipelines[stage].nodes for output in n.outputs
    }
    totals: dict[str, float] = {}
    for record in nodes:
        stage = stage_of.get(record["node"], "other")
        totals[stage] = totals.get(stage, 0.0) + record["seconds"]
    for record in datasets or []:
        stage = written_by.get(record["dataset"])
        if stage is not None:
            totals[stage] = totals.get(stage, 0.0) + record["save_seconds"]
    return {k: round(v, 2) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


def require_outputs(project: Path) -> None:
    """Stop with what to run when ``project`` lacks the outputs of an earlier pipeline run."""
    missing = [p for p in PREREQUISITES if not (project / p).exists()]
    if missing:
        raise SystemExit(
            f"{project} lacks {', '.join(missing)}: run the pipeline there first "
            "(python benchmarks/run.py SIZE, or --only pipeline)"
        )


def run_baselines(project: Path, only: list[str], small: bool) -> dict:
    """The comparisons of benchmarks/baselines on the outputs of the run in ``project``."""
    require_outputs(project)
    work = project / "baselines"  # under data/, so never committed
    shutil.rmtree(work, ignore_errors=True)
    # Small sizes: each side of the feature comparison twice, alternately, best time kept;
    # and the pandas baseline with Python-object strings too (projected ~24 GB at L).
    return compare.run(project, work, only, repeat=2 if small else 1, small=small)


def _format_baselines(baselines: dict) -> list[str]:
    lines = ["", "Side by side, on the data of this run:"]
    features = baselines.get("features", {})
    if "error" in features:
        lines.append(f"features: error: {features['error']}")
    elif features:
        stage = features["feature_stage"]
        lines.append(
            f"{'feature stage (Kedro nodes, Ibis on DuckDB)':52s} {stage['seconds']:8.1f} s "
            f"{stage['peak_rss_mb']:9,.0f} MB peak"
        )
        for key, label in (
            ("pandas_baseline", "pandas baseline (Arrow strings)"),
            ("pandas_baseline_python_strings", "pandas baseline (Python-object strings)"),
            ("polars_baseline", "Polars baseline (lazy, every core)"),
        ):
            side = features.get(key)
            if side is None:
                continue
            if "stopped" in side:
                lines.append(f"{label}: {side['stopped']}")
                continue
            check = side["equality_check"]
            lines += [
                f"{label:52s} {side['seconds']:8.1f} s {side['peak_rss_mb']:9,.0f} MB peak",
                f"  speed-up of the feature stage: {side['speedup_of_feature_stage']:.2f}x"
                + (f" (target >= {features['target_speedup']}x)" if "meets_target" in side else "")
                + "; results "
                + (
                    f"equal on {check['sample_rows']:,} sampled rows and the whole-table digest"
                    if check["equal"]
                    else "DIFFER: " + "; ".join(check["differences"][:3])
                ),
            ]
    bg = baselines.get("bg_nbd", {})
    if "error" in bg:
        lines.append(f"bg_nbd: error: {bg['error']}")
    for name in ("all", "active") if "error" not in bg else ():
        if name not in bg:
            continue
        pair = bg[name]
        head = f"BG/NBD fit, {name} customers (n={pair['customers']:,})"
        ours = f"ours {pair['ours']['seconds']:.2f} s"
        theirs = pair.get("lifetimes")
        if theirs is None:
            lines.append(f"{head}: {ours}; lifetimes {bg.get('lifetimes', 'not run')}")
        elif "error" in theirs:
            lines.append(f"{head}: {ours}; lifetimes failed: {theirs['error'][:80]}")
        else:
            agreement = pair["agreement"]
            lines.append(
                f"{head}: {ours}, lifetimes {theirs['seconds']:.2f} s ({pair['speedup']:.1f}x); "
                f"max parameter difference {agreement['max_relative_difference']:.1e}, "
                f"log-likelihood difference {agreement['log_likelihood_difference_per_customer']:.1e}"
                " per customer"
            )
    scoring = baselines.get("scoring", {})
    if "error" in scoring:
        lines.append(f"scoring: error: {scoring['error']}")
    elif scoring:
        lines.append(
            f"Scoring {scoring['customers']:,} customers: probability step "
            f"{scoring['probability_step_per_second']:,}/s; score_customers node "
            f"{scoring['score_customers_node_per_second']:,}/s (approximate SHAP "
            f"{scoring['score_customers_node_approximate_shap_per_second']:,}/s); target "
            f"{scoring['target_per_second']:,}/s; slowest part: {scoring['slowest_part']}"
        )
    return lines


def _format(result: dict) -> str:
    lines = [f"{result['size']}: {result['n_customers']:,} customers"]
    if "default_pipeline" in result:
        pipeline = result["default_pipeline"]
        lines += [
            f"default pipeline {pipeline['seconds']} s, peak RSS {pipeline['peak_rss_mb']:,.0f} MB;"
            f" data generation: {result['data_generation']}",
            f"inside nodes {pipeline['node_seconds']} s, loading and saving datasets "
            f"{pipeline['dataset_io_seconds']} s, start-up and shut-down "
            f"{pipeline['start_up_and_shut_down_seconds']} s",
            f"{'node':40s} {'seconds':>9s} {'RSS after MB':>13s}",
        ]
        lines += [
            f"{r['node']:40s} {r['seconds']:9.2f} {r['rss_after_mb']:13,.0f}"
            for r in result["nodes"]
        ]
        lines.append(f"{'dataset (slowest ten)':40s} {'loads':>6s} {'load s':>8s} {'save s':>8s}")
        lines += [
            f"{r['dataset']:40s} {r['loads']:6d} {r['load_seconds']:8.2f} {r['save_seconds']:8.2f}"
            for r in result["datasets"][:10]
        ]
    if "baselines" in result:
        lines += _format_baselines(result["baselines"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", nargs="?", default="S", choices=list(SIZES))
    parser.add_argument(
        "--only",
        action="append",
        choices=["pipeline", "baselines", *compare.COMPARISONS],
        help="run only this part, on the outputs of an earlier run (repeatable)",
    )
    parser.add_argument(
        "--project", type=Path, help="project folder (default data/benchmarks/SIZE)"
    )
    parser.add_argument(
        "--out", type=Path, help="results file (default benchmarks/results/SIZE.json)"
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="duckdb",
        help="spark: the pipeline with --env spark, recorded beside the DuckDB run",
    )
    parser.add_argument(
        "--same-day-baseline",
        type=Path,
        metavar="RESULTS_JSON",
        help="a results file of the code before the change, run the same day on the same data "
        "(e.g. in a clone at that commit: python benchmarks/run.py S --only pipeline --out F); "
        "recorded as same_day_baseline with --baseline-commit",
    )
    parser.add_argument("--baseline-commit", help="the commit of --same-day-baseline")
    parser.add_argument(
        "--runner",
        help="kedro run --runner (default: the project's, customer_retention.runner."
        "OverlapRunner); SequentialRunner runs one node at a time",
    )
    parser.add_argument(
        "--runner-params",
        help="kedro run --runner-params, e.g. memory_budget_mb=2000 (README, Performance)",
    )
    parser.add_argument(
        "--no-runner-history",
        action="store_true",
        help="empty the runner's record of the previous run too (a first run)",
    )
    args = parser.parse_args(argv)
    if args.engine == "spark":
        return main_spark(args)
    only = set(args.only or ["pipeline", "baselines"])
    comparisons = (
        list(compare.COMPARISONS)
        if "baselines" in only
        else [c for c in compare.COMPARISONS if c in only]
    )
    out = args.out or ROOT / "benchmarks" / "results" / f"{args.size}.json"
    project = (args.project or ROOT / "data" / "benchmarks" / args.size).resolve()

    result = {
        "size": args.size,
        "n_customers": SIZES[args.size],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    # Keep the parts of the results file that are not rerun.
    previous = json.loads(out.read_text()) if out.exists() else {}
    if "pipeline" in only:
        if args.project:
            raise SystemExit(
                "--project is for the comparisons; the pipeline runs in data/benchmarks"
            )
        result |= run_pipeline(
            args.size,
            runner=args.runner,
            runner_params=args.runner_params,
            runner_history=not args.no_runner_history,
        )
        if "engines" in previous:  # the other engines' runs, measured apart
            result["engines"] = previous["engines"]
    else:
        result = previous | result
    result["baselines"] = previous.get("baselines", {})
    if comparisons:
        baselines = run_baselines(project, comparisons, small=SIZES[args.size] <= SIZES["S"])
        result["baselines"] = result.get("baselines", {}) | baselines
    if args.same_day_baseline:
        result["same_day_baseline"] = same_day_baseline(
            args.same_day_baseline, args.baseline_commit
        )
    elif "pipeline" not in only and "same_day_baseline" in previous:
        result["same_day_baseline"] = previous["same_day_baseline"]
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(_format(result))  # noqa: T201
    features = result.get("baselines", {}).get("features", {})
    if "features" in comparisons and "error" in features:
        raise SystemExit("The feature comparison failed (see above)")
    for side in ("pandas_baseline", "pandas_baseline_python_strings", "polars_baseline"):
        if features.get(side, {}).get("equality_check", {}).get("equal") is False:
            raise SystemExit(
                f"The {side.replace('_', ' ')} and the feature stage disagree (see above)"
            )
    bg = result.get("baselines", {}).get("bg_nbd", {})
    for name in ("all", "active") if "bg_nbd" in comparisons else ():
        if bg.get(name, {}).get("agreement", {}).get("agree") is False:
            raise SystemExit(f"BG/NBD and lifetimes disagree on the {name} customers (see above)")
    return result


def main_spark(args: argparse.Namespace) -> dict:
    """``--engine spark``: the default pipeline on DuckDB, then on Spark, on the same data,
    recorded under ``engines`` of the results file (the rest of the file kept)."""
    if args.only and set(args.only) != {"pipeline"}:
        raise SystemExit("--engine spark runs the pipeline only (the comparisons are engine-free)")
    out = args.out or ROOT / "benchmarks" / "results" / f"{args.size}.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    engines = {}
    for engine in ENGINES:
        engines[engine] = run_pipeline(args.size, engine)
        engines[engine]["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    result = previous | {
        "size": args.size,
        "n_customers": SIZES[args.size],
        "machine": previous.get("machine")
        or {"cpus": os.cpu_count(), "python": platform.python_version()},
        "engines": engines,
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(_format_engines(result))  # noqa: T201
    return result


def _format_engines(result: dict) -> str:
    """The DuckDB and Spark runs of ``engines`` side by side, stage by stage."""
    duckdb, spark = result["engines"]["duckdb"], result["engines"]["spark"]
    lines = [
        f"{result['size']}: {result['n_customers']:,} customers, the default pipeline on "
        "DuckDB and on Spark (local), back to back",
        f"{'':34s} {'DuckDB':>10s} {'Spark':>10s}",
    ]

    def row(label: str, on_duckdb: float | None, on_spark: float | None, unit: str) -> None:
        cells = [f"{v:10,.1f}" if v is not None else f"{'-':>10s}" for v in (on_duckdb, on_spark)]
        lines.append(f"{label:34s} {cells[0]} {cells[1]} {unit}")

    theirs, ours = duckdb["default_pipeline"], spark["default_pipeline"]
    for key, label, unit in (
        ("seconds", "default pipeline, wall", "s"),
        ("node_seconds", "inside nodes", "s"),
        ("dataset_io_seconds", "dataset I/O", "s"),
        ("peak_rss_mb", "peak RSS, Python driver", "MB"),
        ("peak_rss_with_children_mb", "peak RSS, with the Spark JVM", "MB"),
    ):
        row(label, theirs.get(key), ours.get(key), unit)
    lines.append("stages: inside the nodes + saving their outputs (Spark's work on lazy tables)")
    for stage in spark["stages"]:
        row(f"  {stage}", duckdb["stages"].get(stage), spark["stages"][stage], "s")
    lines.append(f"{'slowest nodes on Spark':40s} {'seconds':>9s}")
    lines += [f"{r['node']:40s} {r['seconds']:9.2f}" for r in spark["nodes"][:8]]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
