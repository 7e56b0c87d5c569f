"""Compare the outputs of two runs of the pipeline: are they the same, apart from timings?

A refactor must not change what the pipeline writes. Run the default pipeline in two copies of
the project (before and after the change, same data, same day) and compare their data folders:

    python benchmarks/compare_outputs.py /path/to/before/data /path/to/after/data

Every table (Parquet, CSV) under 02..08 is compared as a frame (same columns, dtypes and values,
exactly; the scoring model's id column aside), every JSON file after leaving out what legitimately differs between two runs (times,
durations, run and model ids, version timestamps, the git commit). Versioned datasets are
compared by their newest version. Run records (run_manifest.json, last_success.json,
run_history/) and charts are not compared. Exit status 0 when everything matches, 1 otherwise,
with one line per difference.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from customer_retention.core.layout import DATA_LAYERS

LAYERS = DATA_LAYERS[1:]  # every layer the pipeline writes
SKIPPED = (
    "run_manifest.json",
    "last_success.json",
    "runner_node_seconds.json",
    "runner_node_memory.json",
    "run_history",
    "charts",
    "report_charts",
    "report.html",
)
VOLATILE_KEY = re.compile(
    r"(seconds|_at$|generated|created|timestamp|model_id|run_id|git_commit|version|"
    r"fingerprint|sha256|path|evaluation_date|model_age)",
    re.IGNORECASE,
)
TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}[.:]\d{2}[.:]\d{2}(\.\d+)?Z?|\d{8}T\d{6}Z-[0-9a-f]+"
)


def _files(root: Path) -> dict[str, Path]:
    """Relative name -> file, the newest version of versioned datasets (<name>/<timestamp>/<name>)."""
    found: dict[str, Path] = {}
    for layer in LAYERS:
        for path in sorted((root / layer).rglob("*")):
            relative = path.relative_to(root)
            if not path.is_file() or any(part in SKIPPED for part in relative.parts):
                continue
            if path.suffix not in (".parquet", ".csv", ".json"):
                continue
            key = TIMESTAMP.sub("<version>", str(relative))
            found[key] = path  # sorted: the newest version wins
    return found


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if not VOLATILE_KEY.search(str(k))}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        return TIMESTAMP.sub("<version>", value)
    return value


def _differences(a: Any, b: Any, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{where}.{k}: only in one run" for k in sorted(set(a) ^ set(b), key=str)]
        for key in sorted(set(a) & set(b), key=str):
            out += _differences(a[key], b[key], f"{where}.{key}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _differences(x, y, f"{where}[{i}]")
        ]
    return [] if a == b else [f"{where}: {str(a)[:80]!r} != {str(b)[:80]!r}"]


VOLATILE_COLUMNS = ("model_id",)  # the id of the model that scored: new with every training


def _read(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    return frame.drop(columns=[c for c in VOLATILE_COLUMNS if c in frame])


LARGE_BYTES = 100_000_000  # Parquet files above this are compared column by column, in Arrow


def _compare_large(a: Path, b: Path) -> list[str]:
    """A large Parquet table compared one column at a time without pandas (the 68.8M clean
    events at L would take ~12 GB per side as a frame): the same column names, the same values
    (timestamps compared in nanoseconds, so a unit written differently is not a difference)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names_a, names_b = (
        [n for n in pq.read_schema(p).names if n not in VOLATILE_COLUMNS] for p in (a, b)
    )
    if names_a != names_b:
        return [f"columns {names_a} != {names_b}"]
    out = []
    for column in names_a:
        x, y = (pq.read_table(p, columns=[column]).column(0) for p in (a, b))
        if pa.types.is_timestamp(x.type) and pa.types.is_timestamp(y.type):
            x, y = x.cast(pa.timestamp("ns", x.type.tz)), y.cast(pa.timestamp("ns", y.type.tz))
        if not x.equals(y):
            out.append(f"column {column} differs ({x.type} vs {y.type})")
    return out


def compare(before: Path, after: Path) -> list[str]:
    """Every difference between the outputs under ``before`` and ``after`` (empty: identical)."""
    old, new = _files(before), _files(after)
    problems = [f"{name}: only in {before}" for name in sorted(set(old) - set(new))]
    problems += [f"{name}: only in {after}" for name in sorted(set(new) - set(old))]
    for name in sorted(set(old) & set(new)):
        if name.endswith(".json"):
            a, b = (_scrub(json.loads(p.read_text())) for p in (old[name], new[name]))
            problems += [f"{name}{d}" for d in _differences(a, b)]
            continue
        if name.endswith(".parquet") and old[name].stat().st_size > LARGE_BYTES:
            problems += [f"{name}: {d}" for d in _compare_large(old[name], new[name])]
            continue
        try:
            pd.testing.assert_frame_equal(_read(old[name]), _read(new[name]), check_exact=True)
        except AssertionError as error:
            problems.append(f"{name}: {str(error).splitlines()[0]}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="data folder of the first run")
    parser.add_argument("after", type=Path, help="data folder of the second run")
    args = parser.parse_args()
    problems = compare(args.before, args.after)
    compared = len(set(_files(args.before)) & set(_files(args.after)))
    for line in problems:
        print(line)  # noqa: T201
    verdict = "identical" if not problems else f"{len(problems)} differences"
    print(f"{compared} outputs compared: {verdict}")  # noqa: T201
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
