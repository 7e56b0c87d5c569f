"""The promoted-model store's reader API: the one place that knows its layout."""

from __future__ import annotations

import json

import numpy as np
import xgboost as xgb

from customer_retention.datasets.model_store import PromotedModelDataset


def _model(model_id: str) -> dict:
    data = xgb.DMatrix(np.arange(20.0).reshape(10, 2), label=[0, 1] * 5)
    booster = xgb.train({"max_depth": 1}, data, num_boost_round=2)
    return {"model": booster, "calibrator": {"a": 1.0}, "metadata": {"model_id": model_id}}


def test_reader_api_follows_the_pointer_without_loading_the_booster(tmp_path):
    store = PromotedModelDataset(path=str(tmp_path / "promoted"))
    assert store.current_model_id() is None and store.read_metadata() is None
    store.save(_model("m1"))
    store.save(_model("m2"))
    assert store.current_model_id() == "m2"
    assert store.read_metadata() == {"model_id": "m2"}
    assert store.read_metadata("m1") == {"model_id": "m1"}  # an older, kept version
    assert store.read_metadata("gone") is None
    # Rollback: pointing current.json at the older model is what the readers follow.
    (tmp_path / "promoted" / "current.json").write_text(json.dumps({"model_id": "m1"}))
    assert store.current_model_id() == "m1" and store.load()["metadata"]["model_id"] == "m1"


def test_a_model_file_edited_after_promotion_is_refused(tmp_path):
    """Still valid JSON, but not the promoted bytes (e.g. base_score changed): refused, and the
    message says how to recover."""
    import pytest
    from kedro.io import DatasetError

    store = PromotedModelDataset(path=str(tmp_path / "promoted"))
    store.save(_model("m1"))
    assert store.load()["metadata"]["model_id"] == "m1"  # intact: loads
    for name in ("model.json", "calibrator.json"):
        path = tmp_path / "promoted" / "m1" / name
        original = path.read_text()
        path.write_text(json.dumps(json.loads(original), indent=1))  # same content, other bytes
        with pytest.raises(DatasetError, match=f"{name} does not match the checksum"):
            store.load()
        path.write_text(original)
    assert store.load()["metadata"]["model_id"] == "m1"


def test_the_pointer_can_only_name_a_model_folder_of_the_store(tmp_path):
    import pytest
    from kedro.io import DatasetError

    store = PromotedModelDataset(path=str(tmp_path / "promoted"))
    store.save(_model("m1"))
    pointer = tmp_path / "promoted" / "current.json"
    for model_id, message in (
        ("../../elsewhere", "not a model folder name"),
        ("m1/../m1", "not a model folder name"),
        ("gone", "does not exist"),
    ):
        pointer.write_text(json.dumps({"model_id": model_id}))
        with pytest.raises(DatasetError, match=message):
            store.load()
    pointer.write_text("{not json")
    with pytest.raises(DatasetError, match="is not a valid pointer"):
        store.load()
