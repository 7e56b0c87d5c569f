"""The pandas baseline of the benchmark builds the same snapshots as the feature stage.

benchmarks/baselines/features_pandas.py is an independent pandas implementation of the
feature_engineering pipeline, used as the yardstick of its speed (benchmarks/run.py). These
tests keep it honest as the features evolve: every column, every row, within float tolerance.
"""

from __future__ import annotations

import importlib.util
import sys

import pandas as pd
import pytest

from customer_retention.core.features import FEATURES

from .conftest import PROJECT_ROOT, load_parameters, tiny_tables
from .pipelines.feature_engineering.test_nodes import compute_snapshots

BASELINES = PROJECT_ROOT / "benchmarks" / "baselines"


def _module(name: str):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BASELINES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _with_string_storage(frame: pd.DataFrame, storage: str) -> pd.DataFrame:
    """``frame`` with its text columns as pandas strings stored as ``storage``."""
    text = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c])]
    return frame.astype({c: pd.StringDtype(storage) for c in text})


def assert_same_snapshots(
    tables: dict[str, pd.DataFrame], params: dict, string_storage: str = "python"
) -> pd.DataFrame:
    ours = compute_snapshots({k: v.copy() for k, v in tables.items()}, params)
    theirs = _module("features_pandas").customer_snapshots(
        {k: _with_string_storage(v, string_storage) for k, v in tables.items()}, params
    )
    assert _module("compare").compare_tables(ours, theirs) == []
    return ours


@pytest.fixture
def params() -> dict:
    return load_parameters("feature_engineering")


@pytest.mark.parametrize("string_storage", ["pyarrow", "python"])
def test_baseline_equals_feature_stage_on_demo_data(clean_demo, params, string_storage):
    snapshots = assert_same_snapshots(clean_demo, params, string_storage)
    static = set(clean_demo["customers"].columns) - {"customer_id", "signup_date"}
    built = {name for name, feature in FEATURES.items() if feature.in_customer_snapshots}
    assert set(snapshots.columns) == built | static  # every feature was compared
    assert len(snapshots) > 10_000 and snapshots["snapshot_date"].nunique() == params["n_snapshots"]
    # The comparison is not vacuous: the features take many distinct values.
    for column in ("events_recent", "days_since_last_transaction", "mrr_current", "nps_latest"):
        assert snapshots[column].nunique() > 5, column


def test_baseline_equals_feature_stage_on_hand_made_customers(params):
    tiny = params | {"as_of_date": "2024-05-01", "n_snapshots": 4, "horizon_days": 30}
    snapshots = assert_same_snapshots(tiny_tables(), tiny)
    assert len(snapshots) == 7


def test_baseline_equals_feature_stage_without_subscriptions_and_optional_tables(
    clean_demo, params
):
    """Non-contractual timeline (transactions only) and absent optional tables."""
    tables = dict(clean_demo)
    for table in ("subscriptions", "support_tickets", "feedback"):
        tables[table] = tables[table].iloc[:0]
    snapshots = assert_same_snapshots(tables, params | {"n_snapshots": 4})
    assert "mrr_current" not in snapshots and "transactions_recent" in snapshots


def test_comparison_detects_a_changed_feature(clean_demo, params):
    """The checker itself can fail: one value off by 1e-6 relative is reported."""
    ours = compute_snapshots(clean_demo, params | {"n_snapshots": 2})
    changed = ours.copy()
    changed.loc[changed.index[5], "amount_recent"] = (
        changed["amount_recent"].iat[5] * (1 + 1e-6) + 1e-6
    )
    problems = _module("compare").compare_tables(ours, changed)
    assert len(problems) == 1 and problems[0].startswith("amount_recent: 1 values differ")


def test_baseline_reads_the_clean_parquet_tables_as_arrow_strings(clean_demo, params, tmp_path):
    """What the benchmark times: the clean tables read from Parquet, then the features."""
    for table, frame in clean_demo.items():
        frame.to_parquet(tmp_path / f"{table}.parquet", index=False)
    baseline = _module("features_pandas")
    tables = baseline.read_clean_tables(tmp_path)
    assert tables["events"]["customer_id"].dtype == pd.StringDtype("pyarrow")
    assert list(tables["transactions"].columns) == ["customer_id", "transaction_date", "amount"]
    short = params | {"n_snapshots": 2}
    ours = compute_snapshots(clean_demo, short)
    assert _module("compare").compare_tables(ours, baseline.customer_snapshots(tables, short)) == []


# ---------------------------------------------------------------- the Polars baseline
def polars_snapshots(tables: dict[str, pd.DataFrame], params: dict) -> pd.DataFrame:
    """benchmarks/baselines/features_polars.py on in-memory tables, as the pandas table the
    benchmark compares."""
    baseline = _module("features_polars")
    return baseline.to_pandas(baseline.customer_snapshots(baseline.from_pandas(tables), params))


def test_polars_baseline_equals_feature_stage_on_demo_data(clean_demo, params):
    ours = compute_snapshots({k: v.copy() for k, v in clean_demo.items()}, params)
    theirs = polars_snapshots(clean_demo, params)
    compare = _module("compare")
    assert compare.compare_tables(ours, theirs) == []
    assert len(theirs) > 10_000 and theirs["snapshot_date"].nunique() == params["n_snapshots"]
    for column in ("events_recent", "event_types_recent", "mrr_current", "last_csat", "nps_latest"):
        assert theirs[column].nunique() > 3, column  # not vacuous
    # The check bites on the Polars table's own dtypes: a count and a label changed are found.
    changed = theirs.copy()
    row = changed.index[changed["events_recent"] > 0][0]
    changed.loc[row, "events_recent"] += 1
    labels = changed["nps_class"]
    changed.loc[row, "nps_class"] = "promoter" if labels[row] != "promoter" else "passive"
    problems = compare.compare_tables(ours, changed)
    assert [p.split(":")[0] for p in problems] == ["events_recent", "nps_class"]


@pytest.mark.parametrize("case", ["hand_made", "without_subscriptions_and_optional_tables"])
def test_polars_baseline_equals_feature_stage_on_edge_cases(clean_demo, params, case):
    """An as-of date given as a parameter (three customers by hand), and the non-contractual
    timeline with the optional tables empty."""
    if case == "hand_made":
        tables = tiny_tables()
        params = params | {"as_of_date": "2024-05-01", "n_snapshots": 4, "horizon_days": 30}
    else:
        tables = dict(clean_demo)
        for table in ("subscriptions", "support_tickets", "feedback"):
            tables[table] = tables[table].iloc[:0]
        params = params | {"n_snapshots": 4}
    ours = compute_snapshots({k: v.copy() for k, v in tables.items()}, params)
    assert _module("compare").compare_tables(ours, polars_snapshots(tables, params)) == []


def test_polars_baseline_scans_the_clean_parquet_tables(clean_demo, params, tmp_path):
    """What the benchmark times: lazy scans of the clean Parquet tables, then the features."""
    for table, frame in clean_demo.items():
        frame.to_parquet(tmp_path / f"{table}.parquet", index=False)
    baseline = _module("features_polars")
    short = params | {"n_snapshots": 2}
    seconds: dict = {}
    snapshots = baseline.customer_snapshots(baseline.scan_clean_tables(tmp_path), short, seconds)
    assert set(seconds) == {"as_of_date_and_row_counts", "plan_and_collect"}
    ours = compute_snapshots(clean_demo, short)
    assert _module("compare").compare_tables(ours, baseline.to_pandas(snapshots)) == []
