"""In-memory hand-over of Parquet frames: only frames that a load would give back unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.pipeline import Pipeline, node

from customer_retention.datasets import ParquetFrameDataset
from customer_retention.datasets.handover import round_trip_problem
from customer_retention.hooks.memory import HandOverHook


def _frame(n: int = 250_000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    plan = pd.Categorical(rng.choice(["pro", "basic"], n), categories=["team", "pro", "basic"])
    frame = pd.DataFrame(
        {
            "customer_id": np.char.add("C", np.arange(n).astype(str)).astype(object),
            "snapshot_date": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 400, n), unit="D"),
            "tenure_days": rng.integers(0, 900, n),
            "spend": np.where(rng.random(n) < 0.1, np.nan, rng.gamma(2.0, 30.0, n)),
            "active": rng.random(n) < 0.5,
            "plan": plan,
            "nps": pd.array(np.where(rng.random(n) < 0.3, None, rng.integers(0, 11, n))).astype(
                "Int64"
            ),
        }
    )
    frame.loc[:10, "plan"] = np.nan
    return frame


def test_frames_judged_safe_load_back_identical(tmp_path):
    frame = _frame()
    assert round_trip_problem(frame) is None
    dataset = ParquetFrameDataset(
        filepath=str(tmp_path / "t.parquet"), save_args={"row_group_size": 40_000}
    )
    dataset.save(frame)
    pd.testing.assert_frame_equal(dataset.load(), frame)  # read from disk: hand_over is off


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda f: f.iloc[::2], "index"),
        (lambda f: f.assign(customer_id=f["customer_id"].where(f.index > 5)), "other than strings"),
        (lambda f: f.assign(customer_id=f["customer_id"].astype("string[pyarrow]")), "load as"),
        (lambda f: f.set_axis([*f.columns[:-1], "tenure_days"], axis=1), "duplicate"),
    ],
)
def test_frames_that_would_change_are_read_back(change, reason):
    problem = round_trip_problem(change(_frame(1_000)))
    assert problem is not None and reason in problem


def test_saved_frame_is_handed_over_until_released(tmp_path):
    frame = _frame(1_000)
    dataset = ParquetFrameDataset(filepath=str(tmp_path / "t.parquet"))
    dataset.hand_over = True
    dataset.save(frame)
    assert dataset.load() is frame
    dataset.release()
    loaded = dataset.load()
    assert loaded is not frame
    pd.testing.assert_frame_equal(loaded, frame)
    dataset.save(frame.iloc[::2])  # not a default index: read back
    assert dataset.handed is None
    assert len(dataset.load()) == 500


def test_only_datasets_the_pipeline_writes_and_reads_are_handed_over(tmp_path):
    names = ("raw", "middle", "final")
    catalog = {n: ParquetFrameDataset(filepath=str(tmp_path / f"{n}.parquet")) for n in names}

    class Catalog(dict):
        get = dict.__getitem__

    pipeline = Pipeline(
        [
            node(lambda x: x, "raw", "middle", name="a"),
            node(lambda x: x, "middle", "final", name="b"),
        ]
    )
    HandOverHook().before_pipeline_run(pipeline, Catalog(catalog))
    assert [catalog[n].hand_over for n in names] == [False, True, False]


def test_text_stored_by_arrow_is_handed_over_as_a_load_gives_it(tmp_path):
    frame = _frame(1_000).assign(customer_id=lambda f: f["customer_id"].astype("string[pyarrow]"))
    dataset = ParquetFrameDataset(filepath=str(tmp_path / "t.parquet"))
    dataset.hand_over = True
    dataset.save(frame)
    handed = dataset.load()
    dataset.release()
    pd.testing.assert_frame_equal(handed, dataset.load())
    assert handed["customer_id"].dtype != frame["customer_id"].dtype
