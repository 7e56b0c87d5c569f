"""notebooks/explore_retention.ipynb runs against a freshly built project, so it cannot rot."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from .conftest import PROJECT_ROOT, fresh_project

NOTEBOOK = PROJECT_ROOT / "notebooks" / "explore_retention.ipynb"
SMALL_DEMO = {"demo_data": {"n_customers": 600}, "data_cleaning": {"reference_date": "2026-01-31"}}
KERNEL_PROBE = "import sys; print('KERNEL_PREFIX=' + sys.prefix)"


def test_notebook_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert [cell.outputs for cell in code] == [[] for _ in code]
    assert {cell.execution_count for cell in code} == {None}


@pytest.fixture(scope="module")
def built_project(tmp_path_factory) -> Path:
    """A fresh project copy after `kedro run` of the default pipeline on a small demo data set."""
    project = fresh_project(tmp_path_factory.mktemp("notebook"))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        bootstrap_project(project)
        with KedroSession.create(project_path=project, runtime_params=SMALL_DEMO) as session:
            session.run()
    return project


def _text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def _images(cell) -> int:
    return sum("image/png" in output.get("data", {}) for output in cell.get("outputs", []))


@pytest.mark.slow
def test_notebook_explores_the_top_customer_of_a_fresh_project(
    built_project, monkeypatch, record_property
):
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(KERNEL_PROBE))
    monkeypatch.setenv("CUSTOMER_RETENTION_PROJECT", str(built_project))
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "1")
    # The venv's kernelspec first, whatever the user's ~/.local/share/jupyter holds.
    venv_jupyter = str(Path(sys.prefix) / "share" / "jupyter")
    monkeypatch.setenv(
        "JUPYTER_PATH", os.pathsep.join([venv_jupyter, os.environ.get("JUPYTER_PATH", "")])
    )
    started = time.perf_counter()
    NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()  # raises CellExecutionError on the first failing cell
    record_property("notebook_seconds", round(time.perf_counter() - started, 1))

    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert f"KERNEL_PREFIX={sys.prefix}" in _text(cells[-1])  # the venv's python ran it

    # The customer shown is the top of this project's at-risk list, not of /work/main's data.
    output = built_project / "data" / "07_model_output"
    at_risk = pd.read_csv(output / "at_risk_customers.csv", dtype={"customer_id": str})
    top = at_risk.sort_values("value_at_risk", ascending=False).iloc[0]["customer_id"]
    everything = "\n".join(_text(cell) for cell in cells)
    assert f"Customer {top}: number 1 of {len(at_risk):,} by value at risk" in everything

    # The survival figure is this customer's curve.
    curves = pd.read_parquet(output / "survival_curves.parquet").astype({"customer_id": str})
    own = curves.set_index("customer_id").loc[top]
    survival_cell = next(c for c in cells if 'catalog.load("survival_curves")' in c.source)
    assert _images(survival_cell) == 1
    assert (
        f"Still a customer in 3 months: {own['survival_month_3']:.0%}, "
        f"in 12 months: {own['survival_month_12']:.0%}"
    ) in _text(survival_cell)
    assert sum(_images(cell) for cell in cells) >= 3  # history, survival curve, peers
