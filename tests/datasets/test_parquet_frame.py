"""ParquetFrameDataset loads the same frame as pandas.ParquetDataset (pd.read_parquet)."""

import numpy as np
import pandas as pd
import pytest
from kedro_datasets.pandas import ParquetDataset

from customer_retention.datasets import ParquetFrameDataset


@pytest.fixture
def snapshots_file(tmp_path):
    """A frame with every kind of column the snapshot tables hold, some values missing."""
    n = 1_000
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "snapshot_date": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 90, n), "D"),
            "tenure_days": rng.integers(0, 900, n),
            "spend_90d": np.where(rng.random(n) < 0.2, np.nan, rng.gamma(2.0, 30.0, n)),
            "is_as_of_snapshot": rng.random(n) < 0.5,
            "plan": pd.Categorical(rng.choice(["basic", "pro", "enterprise"], n)),
            "last_ticket_date": pd.to_datetime(
                np.where(rng.random(n) < 0.5, None, "2023-12-01"), format="ISO8601"
            ),
        }
    )
    path = tmp_path / "snapshots.parquet"
    frame.to_parquet(path)
    return frame, str(path)


def test_loads_the_frame_pandas_loads(snapshots_file):
    frame, path = snapshots_file
    loaded = ParquetFrameDataset(filepath=path).load()
    pd.testing.assert_frame_equal(loaded, ParquetDataset(filepath=path).load())
    pd.testing.assert_frame_equal(loaded, frame)


def test_columns_and_filters_are_applied_in_arrow(snapshots_file):
    frame, path = snapshots_file
    load_args = {"columns": ["customer_id", "spend_90d"], "filters": [("tenure_days", ">", 450)]}
    loaded = ParquetFrameDataset(filepath=path, load_args=load_args).load()
    expected = frame.loc[frame["tenure_days"] > 450, ["customer_id", "spend_90d"]]
    pd.testing.assert_frame_equal(loaded, expected.reset_index(drop=True))


def test_other_load_arguments_go_to_pandas(snapshots_file):
    _, path = snapshots_file
    loaded = ParquetFrameDataset(filepath=path, load_args={"dtype_backend": "pyarrow"}).load()
    assert str(loaded["tenure_days"].dtype) == "int64[pyarrow]"


def test_saves_and_loads_back(tmp_path, snapshots_file):
    frame, _ = snapshots_file
    dataset = ParquetFrameDataset(filepath=str(tmp_path / "out" / "copy.parquet"))
    dataset.save(frame)
    pd.testing.assert_frame_equal(dataset.load(), frame)
