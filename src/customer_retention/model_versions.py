"""List the churn model versions with their test metrics; the promoted one is marked ``*``.

Reads the versioned metadata Kedro writes at every training
(``<models_dir>/churn_model/metadata.json/<version>/metadata.json``) and the promoted pointer
(``<models_dir>/promoted/current.json``). A promoted model whose versioned metadata is gone
(e.g. copied in from elsewhere) is listed from ``promoted/<model_id>/metadata.json``.

Usage::

    python -m customer_retention.model_versions [--models-dir data/06_models]
    make versions
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kedro.io import DatasetError

from customer_retention.datasets.model_store import PromotedModelDataset

METRICS = ("roc_auc", "pr_auc", "brier_score", "ece", "top_decile_lift")
COLUMNS = (
    ("promoted", ""),
    ("version", "version"),
    ("model_id", "model_id"),
    ("train_window", "train window"),
    ("test_snapshot", "test"),
    *((metric, metric) for metric in METRICS),
    ("decision", "decision"),
)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _store(models_dir: Path) -> PromotedModelDataset:
    return PromotedModelDataset(path=str(Path(models_dir) / "promoted"))


def promoted_model_id(models_dir: Path) -> str | None:
    """The model id ``promoted/current.json`` points at, or None (also when unreadable)."""
    try:
        return _store(models_dir).current_model_id()
    except (OSError, ValueError, KeyError, DatasetError):
        return None


def _row(version: str, metadata: dict[str, Any], promoted_id: str | None) -> dict[str, Any]:
    window = metadata.get("training_window", {})
    train = window.get("train") or []
    calibrated = (metadata.get("metrics") or {}).get("xgboost_calibrated") or {}
    return {
        "version": version,
        "model_id": metadata.get("model_id"),
        "created_at": metadata.get("created_at"),
        "train_window": f"{train[0]}..{train[-1]}" if train else None,
        "test_snapshot": ", ".join(window.get("test") or []) or None,
        **{metric: calibrated.get(metric) for metric in METRICS},
        "decision": (metadata.get("promotion") or {}).get("decision"),
        "promoted": metadata.get("model_id") == promoted_id and promoted_id is not None,
    }


def list_model_versions(models_dir: str | Path = "data/06_models") -> list[dict[str, Any]]:
    """One row per trained churn model version (oldest first), with the test metrics of the
    calibrated model and whether it is the promoted one."""
    models_dir = Path(models_dir)
    promoted_id = promoted_model_id(models_dir)
    versions_dir = models_dir / "churn_model" / "metadata.json"
    rows = []
    if versions_dir.is_dir():
        for folder in sorted(p for p in versions_dir.iterdir() if p.is_dir()):
            metadata = _read(folder / "metadata.json")
            if metadata is not None:
                rows.append(_row(folder.name, metadata, promoted_id))
    if promoted_id is not None and not any(row["promoted"] for row in rows):
        try:
            metadata = _store(models_dir).read_metadata(promoted_id)
        except (OSError, ValueError):
            metadata = None
        if metadata is not None:
            rows.append(_row("(promoted store)", metadata, promoted_id))
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "*" if value else ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of :func:`list_model_versions` rows."""
    header = [title for _, title in COLUMNS]
    body = [[_cell(row[key]) for key, _ in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in (header, ["-" * width for width in widths], *body)
    ]
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str] | None = None) -> int:
    """Print the table (stdout); say how to create a model when there is none."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", default="data/06_models", type=Path)
    args = parser.parse_args(argv)
    rows = list_model_versions(args.models_dir)
    if not rows:
        sys.stdout.write(
            f"No churn model versions in {args.models_dir}. "
            "Train one: kedro run --pipeline retrain\n"
        )
        return 0
    promoted = next((row for row in rows if row["promoted"]), None)
    footer = (
        f"* promoted: {promoted['model_id']}"
        if promoted
        else f"No model is promoted ({args.models_dir / 'promoted' / 'current.json'} is missing)."
    )
    sys.stdout.write(f"{format_table(rows)}\n\n{footer}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
