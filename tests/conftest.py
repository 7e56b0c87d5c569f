"""Shared fixtures: small demo data sets generated with the project's own parameters."""

from __future__ import annotations

import contextlib
import copy
import functools
import shutil
from pathlib import Path

import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from customer_retention.core.contract import RAW_TABLES
from customer_retention.core.layout import DATA_LAYERS
from customer_retention.pipelines.data_cleaning.nodes import clean_customer_table, clean_customers
from customer_retention.pipelines.demo_data.nodes import generate_demo_data

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def _base_parameters() -> dict:
    """conf/base's parameters as Kedro resolves them (``${globals:...}`` filled in)."""
    loader = OmegaConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="base"
    )
    return loader["parameters"]


def load_parameters(pipeline: str, key: str | None = None) -> dict:
    """The parameters under ``key`` (default: the pipeline's name) in parameters_<pipeline>.yml,
    with the shared settings of globals.yml filled in; a fresh copy every call."""
    return copy.deepcopy(_base_parameters()[key or pipeline])


@pytest.fixture(scope="session")
def demo_params() -> dict:
    """Demo-data parameters at a test-sized number of customers."""
    params = load_parameters("demo_data")
    params["n_customers"] = 3000
    return params


@pytest.fixture(scope="session")
def demo_output(demo_params) -> tuple:
    return generate_demo_data(copy.deepcopy(demo_params))


@pytest.fixture
def demo_tables(demo_output) -> dict:
    """A fresh copy of every demo table, keyed by table name."""
    return {table: frame.copy() for table, frame in zip(RAW_TABLES, demo_output[:-1], strict=True)}


@pytest.fixture(scope="session")
def ground_truth(demo_output) -> dict:
    return demo_output[-1]


@pytest.fixture
def cleaning_params() -> dict:
    params = load_parameters("data_cleaning")
    params["reference_date"] = "2026-01-31"
    return params


@pytest.fixture(scope="session")
def clean_demo(request) -> dict[str, pd.DataFrame]:
    """The demo tables after the cleaning stage."""
    demo_tables = {
        t: f.copy()
        for t, f in zip(RAW_TABLES, request.getfixturevalue("demo_output")[:-1], strict=True)
    }
    params = load_parameters("data_cleaning") | {"reference_date": "2026-01-31"}
    customers = clean_customers(demo_tables["customers"], params)[0]
    clean = {"customers": customers}
    for table in RAW_TABLES[1:]:
        clean[table] = clean_customer_table(demo_tables[table], customers, params, table=table)[0]
    return clean


def attribute_profile(customers: pd.DataFrame) -> dict:
    """The attribute profile cleaning writes for ``customers`` (default parameters)."""
    from customer_retention.core.attributes import profile_attributes

    extra = [c for c in customers.columns if c not in ("customer_id", "signup_date")]
    return profile_attributes(customers, extra, load_parameters("data_cleaning")["attributes"])[1]


def run_plan(*, landmark: bool = True, cox: bool = True, segments: tuple = ()) -> dict:
    """A run plan (as ``feature_engineering.preflight.plan_run`` writes it) with the given
    decisions, for calling stage nodes directly."""

    def decision(run: bool) -> dict:
        return {"run": run, "why": "test"}

    return {
        "segments": list(segments),
        "stages": {
            "cox_and_aft": decision(cox),
            "landmark_model": decision(landmark),
            "kaplan_meier_segments": decision(bool(segments)),
            "retention_kpis": decision(True),
        },
    }


def tiny_tables() -> dict[str, pd.DataFrame]:
    """Three customers by hand: A churns 2024-03-15; B stays; C leaves and comes back."""

    def frame(rows, dates):
        df = pd.DataFrame(rows)
        for column in dates:
            df[column] = pd.to_datetime(df[column])
        return df.astype({"customer_id": "string"})

    return {
        "customers": frame(
            [
                {"customer_id": "A", "signup_date": "2024-01-01", "plan": "basic"},
                {"customer_id": "B", "signup_date": "2024-02-01", "plan": "pro"},
                {"customer_id": "C", "signup_date": "2024-01-10", "plan": "basic"},
            ],
            ["signup_date"],
        ),
        "subscriptions": frame(
            [
                {
                    "customer_id": "A",
                    "start_date": "2024-01-01",
                    "end_date": "2024-03-15",
                    "plan": "basic",
                    "mrr": 50.0,
                },
                {
                    "customer_id": "B",
                    "start_date": "2024-02-01",
                    "end_date": None,
                    "plan": "pro",
                    "mrr": 150.0,
                },
                {
                    "customer_id": "C",
                    "start_date": "2024-01-10",
                    "end_date": "2024-02-01",
                    "plan": "basic",
                    "mrr": 50.0,
                },
                {
                    "customer_id": "C",
                    "start_date": "2024-03-01",
                    "end_date": None,
                    "plan": "pro",
                    "mrr": 150.0,
                },
            ],
            ["start_date", "end_date"],
        ),
        "transactions": frame(
            [
                {
                    "transaction_id": "T1",
                    "customer_id": "A",
                    "transaction_date": "2024-01-01",
                    "amount": 50.0,
                }
            ],
            ["transaction_date"],
        ),
        "events": frame(
            [
                {"customer_id": "A", "event_time": "2024-01-20", "event_type": "login"},
                {"customer_id": "A", "event_time": "2024-02-20", "event_type": "export"},
                {"customer_id": "A", "event_time": "2024-02-29", "event_type": "login"},
                {
                    "customer_id": "A",
                    "event_time": "2024-03-01",
                    "event_type": "login",
                },  # at t: excluded
            ],
            ["event_time"],
        ),
        "support_tickets": frame(
            [
                {
                    "ticket_id": "K1",
                    "customer_id": "A",
                    "opened_at": "2024-02-10",
                    "first_response_at": "2024-02-10 06:00",
                    "resolved_at": "2024-03-05",
                    "csat": 2.0,
                },
            ],
            ["opened_at", "first_response_at", "resolved_at"],
        ),
        "feedback": frame(
            [
                {
                    "customer_id": "A",
                    "response_date": "2024-01-15",
                    "survey": "nps",
                    "score": 9.0,
                    "reason": None,
                    "comment": None,
                },
                {
                    "customer_id": "A",
                    "response_date": "2024-02-15",
                    "survey": "nps",
                    "score": 4.0,
                    "reason": None,
                    "comment": None,
                },
                {
                    "customer_id": "A",
                    "response_date": "2024-02-25",
                    "survey": "exit",
                    "score": None,
                    "reason": "too_expensive",
                    "comment": None,
                },
            ],
            ["response_date"],
        ),
    }


def tiny_timeline(tables: dict[str, pd.DataFrame], as_of_date: str = "2024-05-01") -> pd.DataFrame:
    """The customer timeline of ``tiny_tables()`` at the given as-of date."""
    import ibis

    from customer_retention.pipelines.feature_engineering.nodes import build_customer_timeline

    params = load_parameters("feature_engineering") | {"as_of_date": as_of_date}
    return build_customer_timeline(
        tables["customers"],
        ibis.memtable(tables["subscriptions"]),
        ibis.memtable(tables["transactions"]),
        params,
    )


def fresh_project(root: Path) -> Path:
    """A copy of the project's configuration at ``root/project`` with empty data folders and an
    empty src/ (the package is imported from the installed project), as a new user has it.

    Nothing is run and the working directory is not changed.
    """
    project = root / "project"
    shutil.copytree(PROJECT_ROOT / "conf" / "base", project / "conf" / "base")
    (project / "conf" / "local").mkdir()
    (project / "src").mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", project / "pyproject.toml")
    for layer in DATA_LAYERS:
        (project / "data" / layer).mkdir(parents=True)
    return project


# A small demo business (600 customers) with a fixed reference date: the end-to-end tests' data.
SMALL_DEMO = {"demo_data": {"n_customers": 600}, "data_cleaning": {"reference_date": "2026-01-31"}}


def run_job(project: Path, pipeline: str, params: dict | None = None) -> None:
    """``kedro run --pipelines <pipeline>`` in ``project`` (in this process), on the small demo."""
    with KedroSession.create(project_path=project, runtime_params=params or SMALL_DEMO) as session:
        session.run(pipeline_names=[pipeline])


@pytest.fixture(scope="session")
def retrained(tmp_path_factory) -> Path:
    """A project after one ``retrain`` on freshly generated demo data (shared, never modified:
    tests work on copies, see ``project_copy``)."""
    project = fresh_project(tmp_path_factory.mktemp("retrained"))
    with contextlib.chdir(project):
        bootstrap_project(project)
        run_job(project, "retrain")
    return project


def project_copy(retrained: Path, tmp_path: Path, monkeypatch) -> Path:
    """A private copy of the retrained project, made the working directory."""
    copy_ = tmp_path / "project"
    shutil.copytree(retrained, copy_)
    monkeypatch.chdir(copy_)
    bootstrap_project(copy_)
    return copy_
