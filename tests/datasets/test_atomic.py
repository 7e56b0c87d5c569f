"""Atomic writes: a failed or interrupted save leaves the previous file whole."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from customer_retention.datasets import (  # noqa: E402
    CSVDataset,
    JSONDataset,
    MatplotlibDataset,
    ParquetDataset,
    ParquetFrameDataset,
    RawTableDataset,
    TextDataset,
)
from customer_retention.datasets.atomic import replace_atomic  # noqa: E402

CONF = Path(__file__).resolve().parents[2] / "conf" / "base"
FRAME = pd.DataFrame({"customer_id": ["007", "a,b"], "value": [1.5, 2.0]})


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize(
    ("cls", "name", "save_args", "data", "load_args"),
    [
        (CSVDataset, "t.csv", {"index": False}, FRAME, {"dtype": {"customer_id": str}}),
        (ParquetDataset, "t.parquet", {}, FRAME, {}),
        (ParquetFrameDataset, "t.parquet", {}, FRAME, {}),
        (JSONDataset, "t.json", None, {"a": [1, 2]}, None),
        (TextDataset, "t.txt", None, "<p>ok</p>", None),
    ],
)
def test_each_dataset_saves_and_loads_the_same_data(
    tmp_path, cls, name, save_args, data, load_args
):
    kwargs = {"filepath": str(tmp_path / name)}
    if save_args is not None:
        kwargs |= {"save_args": save_args, "load_args": load_args}
    dataset = cls(**kwargs)
    dataset.save(data)
    loaded = dataset.load()
    if isinstance(data, pd.DataFrame):
        pd.testing.assert_frame_equal(loaded, data)
    else:
        assert loaded == data
    assert _leftovers(tmp_path) == []


def test_a_save_that_fails_midway_keeps_the_previous_file(tmp_path):
    dataset = JSONDataset(filepath=str(tmp_path / "summary.json"))
    dataset.save({"customers": 10})
    with pytest.raises(Exception, match="not JSON serializable"):
        # json.dump has written '{"customers": 11, "bad": ' when it meets the object
        dataset.save({"customers": 11, "bad": object()})
    assert json.loads((tmp_path / "summary.json").read_text()) == {"customers": 10}
    assert _leftovers(tmp_path) == []


def test_a_csv_save_that_fails_midway_keeps_the_previous_file(tmp_path):
    class Exploding(pd.DataFrame):
        def to_csv(self, path_or_buf=None, **kwargs):
            path_or_buf.write("customer_id,value\n007,")
            raise OSError("disk full")

    dataset = CSVDataset(filepath=str(tmp_path / "plan.csv"), save_args={"index": False})
    dataset.save(FRAME)
    before = (tmp_path / "plan.csv").read_bytes()
    with pytest.raises(Exception, match="disk full"):
        dataset.save(Exploding(FRAME))
    assert (tmp_path / "plan.csv").read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_charts_and_raw_tables_are_written_atomically(tmp_path):
    figure = plt.figure()
    MatplotlibDataset(filepath=str(tmp_path / "chart.png")).save(figure)
    plt.close(figure)
    assert (tmp_path / "chart.png").read_bytes()[:4] == b"\x89PNG"
    raw = RawTableDataset(path=str(tmp_path / "customers"), table="customers")
    raw.save(FRAME)
    assert len(pd.read_parquet(tmp_path / "customers.parquet")) == 2
    assert _leftovers(tmp_path) == []


def test_replace_atomic_removes_its_temporary_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")

    def writer(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replace_atomic(target, writer)
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []


def _dataset_types(entry: dict) -> list[str]:
    types = [entry.get("type", "")]
    if isinstance(entry.get("dataset"), dict):
        types += _dataset_types(entry["dataset"])
    return types


def test_every_file_the_catalog_writes_goes_through_an_atomic_dataset():
    """kedro-datasets' own file datasets write in place: a reader (a concurrent score run) can
    see a 0-byte Parquet. The catalog names the project's atomic versions instead."""
    in_place = {
        "pandas.CSVDataset",
        "pandas.ParquetDataset",
        "json.JSONDataset",
        "text.TextDataset",
        "matplotlib.MatplotlibDataset",
        "pickle.PickleDataset",
        "yaml.YAMLDataset",
    }
    found = []
    for file in sorted(CONF.glob("catalog*.yml")):
        for name, entry in (yaml.safe_load(file.read_text()) or {}).items():
            if isinstance(entry, dict):
                found += [(file.name, name, t) for t in _dataset_types(entry) if t in in_place]
    assert found == []
