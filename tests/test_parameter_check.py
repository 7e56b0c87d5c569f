"""A real `kedro run` with a wrong parameter stops before anything runs: no demo data
generated, no node started, no output or run manifest written."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.framework.hooks import hook_impl
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from customer_retention.core.parameter_schema import ParameterError

from .conftest import fresh_project


class _NodeRecorder:
    def __init__(self) -> None:
        self.started: list[str] = []

    @hook_impl
    def before_node_run(self, node) -> None:
        self.started.append(node.name)


def _run(project: Path, runtime_params: dict | None = None) -> tuple[str, list[str]]:
    """The error of `kedro run` (the default pipeline) and the nodes that started."""
    bootstrap_project(project)
    recorder = _NodeRecorder()
    with KedroSession.create(project_path=project, runtime_params=runtime_params) as session:
        session._hook_manager.register(recorder)
        with pytest.raises(ParameterError) as caught:
            session.run()
    return str(caught.value), recorder.started


def _files(project: Path) -> list[Path]:
    return [p for p in (project / "data").rglob("*") if p.is_file()]


def test_a_wrong_parameter_stops_the_run_before_any_node(tmp_path, monkeypatch):
    project = fresh_project(tmp_path)
    (project / "conf" / "local" / "globals.yml").write_text('horizon_days: "thirty"\n')
    (project / "conf" / "local" / "parameters.yml").write_text(
        "feature_engineerin:\n  n_snapshots: 6\nfeature_engineering:\n  n_snapshots: -1\n"
    )
    monkeypatch.chdir(project)
    message, started = _run(project)
    lines = message.splitlines()
    assert lines[0] == "Invalid parameters (3 problems; nothing was run):"
    assert (
        "  - feature_engineerin: unknown parameter block; did you mean 'feature_engineering'? "
        "(in conf/local/parameters.yml)" in lines
    )
    assert (
        "  - feature_engineering.n_snapshots = -1: expected integer ≥ 1 "
        "(in conf/local/parameters.yml)" in lines
    )
    (horizon,) = [line for line in lines if "= 'thirty'" in line]  # one line for the setting
    assert horizon.startswith("  - feature_engineering.horizon_days, ")
    assert "campaign_analysis.horizon_days" in horizon
    assert horizon.endswith(
        "= 'thirty': expected integer > 0 (days) "
        "(in conf/local/globals.yml: horizon_days, through ${globals:horizon_days})"
    )
    assert started == []
    assert _files(project) == []  # no demo data, no outputs, no run manifest


def test_a_wrong_runtime_parameter_is_named_as_such(tmp_path, monkeypatch):
    project = fresh_project(tmp_path)
    monkeypatch.chdir(project)
    message, started = _run(project, {"feature_engineering": {"horizon_days": "thirty"}})
    assert message.splitlines()[1] == (
        "  - feature_engineering.horizon_days = 'thirty': expected integer > 0 (days) "
        "(from --params)"
    )
    assert started == [] and _files(project) == []


def test_kedro_run_with_a_wrong_params_ends_with_the_message_alone(tmp_path, monkeypatch):
    """The project's `kedro run` (customer_retention.cli): the --params text as typed, the
    message without a traceback, exit code 1."""
    from click.testing import CliRunner

    from customer_retention.cli import run

    project = fresh_project(tmp_path)
    monkeypatch.chdir(project)
    bootstrap_project(project)
    result = CliRunner().invoke(run, ["--params", "feature_engineering.horizon_days=thirty"])
    assert result.exit_code == 1
    assert "Error: Invalid parameters (1 problem; nothing was run):\n" in result.output
    assert (
        "  - feature_engineering.horizon_days = 'thirty': expected integer > 0 (days) "
        "(from --params)\n" in result.output
    )
    assert "Traceback" not in result.output
    assert _files(project) == []
