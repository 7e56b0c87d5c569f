"""`kedro run` for people: an actionable error prints its message, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import fresh_project

pytestmark = pytest.mark.slow

KEDRO = Path(sys.executable).with_name("kedro")


def _kedro_run(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "200"}
    return subprocess.run(
        [str(KEDRO), "run", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_missing_upstream_stage_is_one_message_and_verbose_adds_the_traceback(tmp_path):
    project = fresh_project(tmp_path)
    plain = _kedro_run(project, "--pipelines", "churn_model")
    output = plain.stdout + plain.stderr
    assert plain.returncode == 1
    assert "Run `kedro run --pipelines data_cleaning,feature_engineering" in output
    assert "Traceback" not in output and "Run with --verbose" in output
    verbose = _kedro_run(project, "--pipelines", "churn_model", "--verbose")
    assert verbose.returncode != 0
    assert "Traceback" in verbose.stdout + verbose.stderr
