"""The promoted-model store's reader API: the one place that knows its layout."""

from __future__ import annotations

import json

import numpy as np
import xgboost as xgb

from customer_retention.datasets.model_store import PromotedModelDataset


def _model(model_id: str) -> dict:
    data = xgb.DMatrix(np.arange(20.0).reshape(10, 2), label=[0, 1] * 5)
    booster = xgb.train({"max_depth": 1}, data, num_boost_round=2)
    return {"booster": booster, "calibrator": {"a": 1.0}, "metadata": {"model_id": model_id}}


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
