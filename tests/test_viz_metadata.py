"""kedro-viz metadata: every persisted dataset has a data layer, and layers read left to right.

kedro-viz draws the flowchart in layer bands only when the layers form no cycle; a dataset whose
layer comes before that of a dataset upstream of it silently turns the layer view off.
Datasets without a catalog entry, or with a ``MemoryDataset`` entry, are in-memory hand-overs
between two nodes of the same run (e.g. ``churn_model_input``, ``usage_features``,
``*_cleaning_report``, the report's figures); they may have no layer, and are allowed only where
they are neither a free input nor a free output of a pipeline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader
from kedro.io.catalog_config_resolver import CatalogConfigResolver
from kedro.pipeline import Pipeline, node

from customer_retention.pipeline_registry import register_pipelines
from customer_retention.settings import CONFIG_LOADER_ARGS

from .conftest import PROJECT_ROOT, fresh_project

# The Kedro data-engineering convention, in flow order (01_raw ... 08_reporting).
LAYERS = (
    "raw",
    "intermediate",
    "primary",
    "feature",
    "model_input",
    "models",
    "model_output",
    "reporting",
)


@pytest.fixture(scope="module")
def catalog_config() -> dict:
    """Every entry of conf/base/catalog*.yml, merged as Kedro merges them (anchors dropped)."""
    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), **CONFIG_LOADER_ARGS)
    return loader["catalog"]


@pytest.fixture(scope="module")
def pipelines() -> dict[str, Pipeline]:
    return register_pipelines()


def _is_parameters(name: str) -> bool:
    return name == "parameters" or name.startswith("params:")


def _layer(config: dict) -> str | None:
    return ((config.get("metadata") or {}).get("kedro-viz") or {}).get("layer")


def _in_memory(config: dict) -> bool:
    return str(config.get("type", "")).rsplit(".", 1)[-1] == "MemoryDataset"


def _layer_lookup(catalog_config: dict):
    """(dataset name -> layer or None, dataset name -> whether the catalog persists it)."""
    resolver = CatalogConfigResolver(config=catalog_config)

    def config_of(name: str) -> dict | None:
        if name in resolver.config:
            return resolver.config[name]
        if resolver.match_dataset_pattern(name):
            return resolver.resolve_pattern(name)
        return None

    def layer_of(name: str) -> str | None:
        config = config_of(name)
        return None if config is None else _layer(config)

    def persisted(name: str) -> bool:
        config = config_of(name)
        return config is not None and not _in_memory(config)

    return layer_of, persisted


def layer_order_violations(pipeline: Pipeline, layer_of) -> list[str]:
    """Datasets whose layer comes before the layer of a dataset upstream of them.

    Layers are carried through datasets without a layer (in-memory hand-overs), as kedro-viz
    does when it sorts layers.
    """
    upstream: dict[str, int] = {}  # dataset -> highest layer index at or upstream of it
    violations = []
    for task in pipeline.nodes:  # topologically sorted
        inputs = [name for name in task.inputs if not _is_parameters(name)]
        for name in inputs:  # a free input carries its own layer
            if name not in upstream:
                layer = layer_of(name)
                upstream[name] = LAYERS.index(layer) if layer in LAYERS else -1
        before = max((upstream[name] for name in inputs), default=-1)
        for output in task.outputs:
            layer = layer_of(output)
            if layer is None:
                upstream[output] = before
                continue
            if LAYERS.index(layer) < before:
                violations.append(
                    f"{task.name}: {output} [{layer}] is downstream of layer {LAYERS[before]}"
                )
            upstream[output] = max(before, LAYERS.index(layer))
    return violations


def test_every_persisted_catalog_entry_has_a_known_layer(catalog_config):
    persisted = {n: c for n, c in catalog_config.items() if not _in_memory(c)}
    assert persisted, "no catalog entries found"
    layers = {name: _layer(config) for name, config in persisted.items()}
    assert {name: layer for name, layer in layers.items() if layer not in LAYERS} == {}
    in_memory = {n: _layer(c) for n, c in catalog_config.items() if _in_memory(c)}
    assert {name: layer for name, layer in in_memory.items() if layer not in (None, *LAYERS)} == {}


def test_free_inputs_and_outputs_of_every_pipeline_have_a_layer(catalog_config, pipelines):
    layer_of, persisted = _layer_lookup(catalog_config)
    for name, pipeline in pipelines.items():
        free = {d for d in pipeline.inputs() | pipeline.outputs() if not _is_parameters(d)}
        assert {d for d in free if not persisted(d)} == set(), f"{name}: free memory datasets"
        assert {d for d in free if layer_of(d) is None} == set(), f"{name}: no layer"


def test_every_persisted_dataset_of_the_default_pipeline_has_a_layer(catalog_config, pipelines):
    layer_of, persisted = _layer_lookup(catalog_config)
    datasets = {d for d in pipelines["__default__"].datasets() if not _is_parameters(d)}
    assert {d for d in datasets if persisted(d) and layer_of(d) not in LAYERS} == set()
    in_memory = {d for d in datasets if not persisted(d)}
    produced = {d for n in pipelines["__default__"].nodes for d in n.outputs}
    consumed = {d for n in pipelines["__default__"].nodes for d in n.inputs}
    assert in_memory <= produced & consumed  # hand-overs only, never a result that is lost


def test_layers_read_left_to_right_in_every_pipeline(catalog_config, pipelines):
    layer_of, _ = _layer_lookup(catalog_config)
    for name, pipeline in pipelines.items():
        assert layer_order_violations(pipeline, layer_of) == [], name


def test_layer_order_check_finds_a_layer_that_goes_back():
    """The checker itself: a model trained after its output was reported is flagged, also
    through an in-memory dataset."""
    layers = {"a": "model_output", "c": "models", "d": "reporting"}
    pipeline = Pipeline(
        [
            node(lambda a: a, "a", "b", name="hand_over"),
            node(lambda b: (b, b), "b", ["c", "d"], name="train"),
        ]
    )
    assert layer_order_violations(pipeline, layers.get) == [
        "train: c [models] is downstream of layer model_output"
    ]
    layers["a"] = "model_input"
    assert layer_order_violations(pipeline, layers.get) == []


@pytest.mark.slow
def test_kedro_viz_build_writes_an_offline_site_with_ordered_layers(
    tmp_path, pipelines, record_property
):
    """`kedro viz build` on a fresh copy of the project (no data needed) writes index.html and
    the API files the page reads; the layers come in flow order and every node is there."""
    pytest.importorskip("kedro_viz")
    project = fresh_project(tmp_path)
    kedro = Path(sys.executable).parent / "kedro"
    env = os.environ | {"KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    started = time.perf_counter()
    result = subprocess.run(
        [str(kedro), "viz", "build"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    record_property("kedro_viz_build_seconds", round(time.perf_counter() - started, 1))
    assert result.returncode == 0, result.stderr[-3000:]
    build = project / "build"
    # kedro viz build reports failures but still exits 0: the files are the real check.
    assert (build / "index.html").is_file(), result.stdout[-3000:]
    main = json.loads((build / "api" / "main").read_text())
    assert main["layers"] == list(LAYERS)
    task_names = {n["name"] for n in main["nodes"] if n["type"] == "task"}
    assert {n.name for n in pipelines["__default__"].nodes} <= task_names
    assert {p["id"] for p in main["pipelines"]} == set(pipelines)
    default = json.loads((build / "api" / "pipelines" / "__default__").read_text())
    assert default["layers"] == list(LAYERS)
