"""Raw input tables: CSV or Parquet, absent when the data do not have them."""

from __future__ import annotations

import pandas as pd

from customer_retention.datasets import RawTableDataset


def test_a_table_the_data_do_not_have_removes_an_earlier_runs_file(tmp_path):
    dataset = RawTableDataset(path=str(tmp_path / "events"), table="events")
    dataset.save(pd.DataFrame({"customer_id": ["a"], "event_time": ["2025-01-01"]}))
    assert dataset.exists()
    dataset.save(pd.DataFrame())  # e.g. the one-snapshot demo: no events table
    assert not dataset.exists() and list(tmp_path.iterdir()) == []


def _csv(folder, name, frame):
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / name, index=False)


def test_table_names_match_ignoring_case(tmp_path):
    _csv(tmp_path, "Customers.csv", pd.DataFrame({"customer_id": ["a"]}))
    dataset = RawTableDataset(path=str(tmp_path / "customers"), table="customers")
    assert dataset.exists() and dataset.load()["customer_id"].tolist() == ["a"]


def test_one_table_in_two_formats_is_an_error_naming_both_files(tmp_path):
    import pytest
    from kedro.io import DatasetError

    _csv(tmp_path, "customers.csv", pd.DataFrame({"customer_id": ["mine"]}))
    pd.DataFrame({"customer_id": ["demo"]}).to_parquet(tmp_path / "customers.parquet")
    dataset = RawTableDataset(path=str(tmp_path / "customers"), table="customers")
    with pytest.raises(
        DatasetError, match="customers.csv.*customers.parquet|customers.parquet.*customers.csv"
    ):
        dataset.load()
    chosen = RawTableDataset(path=str(tmp_path / "customers"), table="customers", file_format="csv")
    assert chosen.load()["customer_id"].tolist() == ["mine"]  # file_format chooses
