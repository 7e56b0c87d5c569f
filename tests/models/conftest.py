"""Fixtures for the model tests: the published reference data sets (CDNOW, sBG retention).

The published reference files are byte-identical copies of ``../shared/data/reference``, kept
in ``tests/fixtures/reference`` so that the statistics are checked against them wherever the
repository is cloned (CI clones only the repository).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from customer_retention.models import rfm_summary

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE_DIR.is_dir():
        pytest.skip(
            f"reference data folder not found at {REFERENCE_DIR.resolve()} "
            "(copies of ../shared/data/reference)"
        )
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def cdnow_transactions(reference_dir: Path) -> pd.DataFrame:
    path = reference_dir / "CDNOW_sample.txt"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    frame = pd.read_csv(
        path,
        sep=r"\s+",
        header=None,
        names=["master_id", "sample_id", "date", "cds", "dollars"],
        dtype={"date": str},
    )
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    return frame


@pytest.fixture(scope="session")
def cdnow_summary(cdnow_transactions: pd.DataFrame) -> pd.DataFrame:
    """Standard CDNOW preparation: weeks, calibration to 1997-09-30, holdout to 1998-06-30."""
    return rfm_summary(
        cdnow_transactions,
        customer_id="master_id",
        date="date",
        amount="dollars",
        calibration_end="1997-09-30",
        time_unit="W",
        observation_end="1998-06-30",
    )


@pytest.fixture(scope="session")
def sbg_reference(reference_dir: Path) -> pd.DataFrame:
    path = reference_dir / "sbg_retention_fader_hardie_2007.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return pd.read_csv(path)
