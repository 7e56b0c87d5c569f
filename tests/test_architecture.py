"""The layout's import rules (CONTRIBUTING.md): a pipeline imports only the shared core
package, ``models/`` and ``datasets/``, never another pipeline; stages talk through the catalog.
The core package and ``models/`` are plain Python: no Kedro, no pipelines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "customer_retention"
STAGES = sorted(p.name for p in (PACKAGE / "pipelines").iterdir() if (p / "pipeline.py").exists())


def _imports(path: Path, package: str | None = None) -> list[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved against
    ``package``, by default the package the file sits in)."""
    tree = ast.parse(path.read_text())
    if package is None:
        package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.append(module)
            names += [f"{module}.{alias.name}" for alias in node.names]
    return names


def _modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


@pytest.mark.parametrize("stage", STAGES)
def test_a_pipeline_never_imports_another_pipeline(stage):
    own = f"customer_retention.pipelines.{stage}"
    offending = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in _modules(PACKAGE / "pipelines" / stage)
        for name in _imports(path)
        if name.startswith("customer_retention.pipelines.")
        and not (name == own or name.startswith(own + "."))
    ]
    assert offending == []


@pytest.mark.parametrize("package", ["core", "models", "datasets", "hooks"])
def test_shared_packages_never_import_a_pipeline(package):
    offending = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in _modules(PACKAGE / package)
        for name in _imports(path)
        if name.startswith("customer_retention.pipelines")
    ]
    assert offending == []


@pytest.mark.parametrize("package", ["core", "models"])
def test_core_and_models_are_plain_python(package):
    offending = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in _modules(PACKAGE / package)
        for name in _imports(path)
        if name.split(".")[0] == "kedro"
    ]
    assert offending == []


def test_the_rules_see_the_stages_and_catch_a_violation(tmp_path):
    """The checks above read real imports: an import of another stage is found."""
    assert {"churn_model", "reporting", "scoring", "survival_analysis"} <= set(STAGES)
    stage = PACKAGE / "pipelines" / "scoring" / "nodes.py"
    assert any(n.startswith("customer_retention.core") for n in _imports(stage))
    fake = tmp_path / "probe.py"
    fake.write_text("from ..churn_model import nodes\nimport customer_retention.pipelines.clv\n")
    found = _imports(fake, package="customer_retention.pipelines.scoring")
    assert "customer_retention.pipelines.churn_model.nodes" in found
    assert "customer_retention.pipelines.clv" in found


# The pre-flight stage plans the whole run: reading the other stages' settings is its job.
PLANNERS = {"preflight"}


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_reads_only_its_own_parameter_blocks(stage):
    """Shared settings come from globals.yml through the stage's own file, never from another
    stage's block."""
    import importlib

    import yaml

    if stage in PLANNERS:
        pytest.skip("the run plan reads every stage's settings by design")
    conf = PACKAGE.parents[1] / "conf" / "base" / f"parameters_{stage}.yml"
    own = set(yaml.safe_load(conf.read_text())) if conf.exists() else set()
    pipeline = importlib.import_module(f"customer_retention.pipelines.{stage}").create_pipeline()
    blocks = {
        name.split(":")[1].split(".")[0] for name in pipeline.inputs() if name.startswith("params:")
    }
    assert blocks <= own, f"{stage} reads {sorted(blocks - own)}"


def test_node_names_are_the_function_names():
    """A node is found by the name of the function it runs (one function serving several
    tables, partially applied, is named per table: clean_<table>)."""
    from customer_retention.pipeline_registry import register_pipelines

    mismatched = [
        f"{node.name} runs {node.func.__name__}"
        for node in register_pipelines()["__default__"].nodes
        if node.name != node.func.__name__ and not node.name.startswith("clean_")
    ]
    assert mismatched == []
