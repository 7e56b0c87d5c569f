"""Shared fixtures: small demo data sets generated with the project's own parameters."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from customer_retention.pipelines.demo_data.nodes import generate_demo_data
from customer_retention.pipelines.demo_data.pipeline import RAW_TABLES

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def load_parameters(pipeline: str) -> dict:
    """The parameters a pipeline runs with, as in conf/base/parameters_<pipeline>.yml."""
    path = PROJECT_ROOT / "conf" / "base" / f"parameters_{pipeline}.yml"
    return yaml.safe_load(path.read_text())[pipeline]


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
