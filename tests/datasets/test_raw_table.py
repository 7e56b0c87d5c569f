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
