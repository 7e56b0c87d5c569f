"""`make versions`: every trained churn model version with its test metrics, promoted marked."""

from __future__ import annotations

import json
from pathlib import Path

from customer_retention.datasets.model_store import PromotedModelDataset
from customer_retention.model_versions import format_table, list_model_versions, main


def _metadata(model_id: str, roc_auc: float, decision: str) -> dict:
    return {
        "model_id": model_id,
        "created_at": "2026-01-01T00:00:00+00:00",
        "training_window": {
            "train": ["2025-01-01", "2025-02-01", "2025-03-01"],
            "valid": ["2025-04-01"],
            "test": ["2025-05-01"],
        },
        "metrics": {
            "xgboost_calibrated": {"roc_auc": roc_auc, "pr_auc": roc_auc / 2, "ece": 0.01},
            "logistic_baseline": {"roc_auc": 0.5},
        },
        "promotion": {"decision": decision},
    }


def _train(models: Path, version: str, metadata: dict, promote: bool) -> None:
    """What one training run leaves behind: Kedro's versioned metadata (+ the promoted store)."""
    folder = models / "churn_model" / "metadata.json" / version
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text(json.dumps(metadata))
    if promote:
        PromotedModelDataset(path=str(models / "promoted")).save(
            {"model": "{}", "calibrator": {"method": "identity"}, "metadata": metadata}
        )


def test_lists_versions_oldest_first_and_marks_the_promoted_one(tmp_path, capsys):
    models = tmp_path / "06_models"
    _train(models, "2026-01-01T00.00.00.000Z", _metadata("m1", 0.81, "promoted"), True)
    _train(models, "2026-02-01T00.00.00.000Z", _metadata("m2", 0.84, "promoted"), True)
    _train(models, "2026-03-01T00.00.00.000Z", _metadata("m3", 0.70, "kept_champion"), False)

    rows = list_model_versions(models)
    assert [row["model_id"] for row in rows] == ["m1", "m2", "m3"]
    assert [row["promoted"] for row in rows] == [False, True, False]
    assert [row["roc_auc"] for row in rows] == [0.81, 0.84, 0.70]  # the calibrated XGBoost's
    assert rows[2]["decision"] == "kept_champion"
    assert rows[0]["train_window"] == "2025-01-01..2025-03-01"
    assert rows[0]["test_snapshot"] == "2025-05-01"

    capsys.readouterr()  # drop the log lines of the set-up
    assert main(["--models-dir", str(models)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["version", "model_id", "train"]
    marked = [line for line in out[2:5] if line.startswith("*")]
    assert len(marked) == 1 and "m2" in marked[0] and "0.8400" in marked[0]
    assert out[-1] == "* promoted: m2"


def test_a_promoted_model_without_versioned_metadata_is_still_listed(tmp_path):
    models = tmp_path / "06_models"
    PromotedModelDataset(path=str(models / "promoted")).save(
        {
            "model": "{}",
            "calibrator": {"method": "identity"},
            "metadata": _metadata("copied", 0.9, "promoted"),
        }
    )
    (row,) = list_model_versions(models)
    assert row["version"] == "(promoted store)" and row["promoted"] and row["roc_auc"] == 0.9
    assert "*" in format_table([row]).splitlines()[2]


def test_nothing_trained_yet(tmp_path, capsys):
    assert list_model_versions(tmp_path) == []
    capsys.readouterr()
    assert main(["--models-dir", str(tmp_path)]) == 0
    assert "kedro run --pipeline retrain" in capsys.readouterr().out
