"""In-memory hand-over of Parquet frames: only frames that a load would give back unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.pipeline import Pipeline, node

from customer_retention.datasets import ParquetFrameDataset
from customer_retention.datasets.handover import round_trip_problem
from customer_retention.hooks.memory import HandOverHook


class _Catalog(dict):
    """The one method of a Kedro catalog the hand-over hook calls."""

    get = dict.__getitem__


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

    pipeline = Pipeline(
        [
            node(lambda x: x, "raw", "middle", name="a"),
            node(lambda x: x, "middle", "final", name="b"),
        ]
    )
    HandOverHook().before_pipeline_run(pipeline, _Catalog(catalog))
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


def test_csv_numbers_load_back_exactly_as_written(tmp_path):
    """pandas' default CSV parser is off by one unit in the last place for many doubles; the
    project's CSVDataset reads them back exactly."""
    from customer_retention.datasets import CSVDataset

    values = pd.DataFrame({"p": np.random.default_rng(0).random(20_000)})
    dataset = CSVDataset(filepath=str(tmp_path / "p.csv"), save_args={"index": False})
    dataset.save(values)
    assert (pd.read_csv(tmp_path / "p.csv")["p"] != values["p"]).any()  # the default parser
    pd.testing.assert_frame_equal(dataset.load(), values, check_exact=True)


def test_a_csv_read_by_several_nodes_is_parsed_once_per_run(tmp_path, monkeypatch):
    from customer_retention.datasets import CSVDataset
    from customer_retention.datasets.model_store import OptionalDataset

    parses = []
    read_csv = pd.read_csv
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: parses.append(1) or read_csv(*a, **k))
    config = {"type": "customer_retention.datasets.CSVDataset", "filepath": str(tmp_path / "l.csv")}
    listed = OptionalDataset(dataset=config | {"save_args": {"index": False}})
    catalog = {"raw": CSVDataset(filepath=str(tmp_path / "raw.csv")), "at_risk": listed}

    readers = [node(lambda x: len(x), "at_risk", f"n_{i}", name=f"read_{i}") for i in range(3)]
    pipeline = Pipeline([node(lambda x: x, "raw", "at_risk", name="write"), *readers])
    HandOverHook().before_pipeline_run(pipeline, _Catalog(catalog))
    assert listed.wrapped.hand_over and not catalog["raw"].hand_over
    listed.save(_frame(100))
    first = listed.load()
    assert all(listed.load() is first for _ in range(2)) and len(parses) == 1
    listed.release()  # after the last reader (Kedro releases the catalog's dataset)
    assert listed.load() is not first and len(parses) == 2
    listed.save(_frame(10))  # a new save is read anew
    assert len(listed.load()) == 10 and len(parses) == 3
