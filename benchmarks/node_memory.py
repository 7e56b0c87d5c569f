"""The working memory of pipeline nodes run alone, on the outputs of an earlier benchmark run.

    python benchmarks/node_memory.py L build_campaign_outcomes select_drift_samples
    python benchmarks/node_memory.py L build_cohort_retention --project /tmp/other/checkout

Each node runs in a fresh process, in the benchmark project of that size
(``data/benchmarks/<SIZE>``, filled by ``make bench SIZE=<SIZE>``): its inputs are loaded from
the catalog, the process's peak resident memory is reset (Linux ``/proc/self/clear_refs``),
the node runs, and the rise of the peak over the memory held by the loaded inputs is its
working memory. Under the default runner two nodes run at once and the runner's own record
(``runner_node_memory.json``) mixes their memory; alone, a node's figure is its own. Outputs are
discarded; ``--keep DIR`` writes each node's frames as pickles, to compare two checkouts'
outputs node by node. ``--project`` runs the code of another checkout (its ``src``) on the same
data. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from run import ROOT, SIZES, require_outputs

_CHILD = """
import gc, json, os, sys, time
from pathlib import Path
import pandas as pd
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

def status_mb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1e3

project, name, keep = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
bootstrap_project(project)
os.chdir(project)
with KedroSession.create(project_path=project) as session:
    catalog = session.load_context().catalog
    node = next(n for n in pipelines["__default__"].nodes if n.name == name)
    inputs = {dataset: catalog.load(dataset) for dataset in node.inputs}
    gc.collect()
    held = status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    started = time.perf_counter()
    outputs = node.run(inputs)
    seconds = time.perf_counter() - started
    record = {"node": name, "seconds": round(seconds, 2), "inputs_resident_mb": round(held),
              "working_memory_mb": round(status_mb("VmHWM") - held),
              "kept_after_mb": round(status_mb("VmRSS") - held)}
    if keep:
        for output, value in outputs.items():
            if isinstance(value, pd.DataFrame):
                value.to_pickle(Path(keep) / f"{output}.pkl")
    print("NODE_MEMORY " + json.dumps(record))
"""


def measure(size: str, node: str, code: Path, keep: Path | None = None) -> dict:
    """One node alone, in a fresh process running the code of ``code`` (a checkout)."""
    project = ROOT / "data" / "benchmarks" / size
    require_outputs(project)
    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "PYTHONPATH": str(code / "src"),
    }
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-c", _CHILD, str(project), node, str(keep or "")]
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith("NODE_MEMORY "):
            return json.loads(line.removeprefix("NODE_MEMORY "))
    raise RuntimeError(f"{node} failed:\n{done.stderr[-3000:]}")


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", choices=list(SIZES))
    parser.add_argument("nodes", nargs="+", help="node names of the default pipeline")
    parser.add_argument("--project", type=Path, default=ROOT, help="checkout whose code runs")
    parser.add_argument("--keep", type=Path, help="write each node's output frames here")
    args = parser.parse_args(argv)
    records = []
    for node in args.nodes:
        record = measure(args.size, node, args.project.resolve(), args.keep)
        records.append(record)
        print(  # noqa: T201
            f"{record['node']:<34} {record['seconds']:7.1f} s   working memory "
            f"{record['working_memory_mb']:6,} MB   (inputs {record['inputs_resident_mb']:,} MB "
            f"resident; kept after {record['kept_after_mb']:,} MB)",
            flush=True,
        )
    return records


if __name__ == "__main__":
    main()
