"""Before the first node: every input the run reads but does not write must already exist.

``kedro run --pipelines churn_model`` on a fresh checkout used to fail inside a node with a
bare ``FileNotFoundError``. :class:`InputsCheckHook` stops the run at once instead, listing
each missing input with its file and the stage that writes it ("run ``kedro run --pipelines
data_cleaning`` first"). The promoted churn model keeps its own message (run ``retrain``).
Raw tables (the demo-data hook and cleaning speak for them) and optional inputs (the stages
that read them say what is missing) are not checked.
"""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import CatalogProtocol, DatasetError, MemoryDataset
from kedro.pipeline import Pipeline

from customer_retention.core.errors import ActionableError
from customer_retention.datasets import (
    OptionalDataset,
    PromotedModelDataset,
    RawTableDataset,
)
from customer_retention.datasets.model_store import OptionalDataset as OptionalModelDataset

from .fingerprints import dataset_path
from .run_manifest import PROMOTED_MODEL

JOBS = ("__default__", "retrain", "score")


class MissingInputError(ActionableError, DatasetError):
    """An input of the run is missing and no node of the run writes it."""


def _not_checked(dataset: Any) -> bool:
    return dataset is None or isinstance(
        dataset, MemoryDataset | RawTableDataset | OptionalDataset | OptionalModelDataset
    )


def _writer(name: str, pipelines: dict[str, Pipeline]) -> str | None:
    """The smallest registered stage whose outputs include ``name`` (not a whole job)."""
    writers = [
        (len(pipeline.nodes), stage)
        for stage, pipeline in pipelines.items()
        if stage not in JOBS and name in pipeline.all_outputs()
    ]
    return min(writers)[1] if writers else None


def missing_inputs_message(missing: dict[str, Any], pipelines: dict[str, Pipeline]) -> str:
    """One line per missing input: the dataset, its file and what to run first."""
    lines = ["This run reads outputs of stages it does not include, and they are missing:"]
    stages = []
    for name, dataset in missing.items():
        stage = _writer(name, pipelines)
        where = f"written by the {stage} stage" if stage else "written by no registered stage"
        path = dataset_path(dataset)
        lines.append(f"  - {name}{f' ({path})' if path else ''}: {where}")
        if stage and stage not in stages:
            stages.append(stage)
    if stages:
        order = list(pipelines)  # the registry lists the stages in the order they run
        stages.sort(key=order.index)
        lines.append(
            f"Run `kedro run --pipelines {','.join(stages)}` first, or the whole pipeline with "
            "`kedro run`."
        )
    return "\n".join(lines)


class InputsCheckHook:
    """Stops a run, before any node, whose inputs are missing (module docstring)."""

    def __init__(self, pipelines: dict[str, Pipeline] | None = None) -> None:
        self._pipelines = pipelines

    def _registered(self) -> dict[str, Pipeline]:
        if self._pipelines is None:
            from kedro.framework.project import pipelines

            self._pipelines = dict(pipelines)
        return self._pipelines

    @hook_impl
    def before_pipeline_run(self, pipeline: Pipeline, catalog: CatalogProtocol) -> None:
        inputs = pipeline.inputs()
        if PROMOTED_MODEL in inputs and not catalog.exists(PROMOTED_MODEL):
            catalog.load(PROMOTED_MODEL)  # raises DatasetError: how to create one
        missing = {}
        for name in sorted(inputs):
            if name == "parameters" or name.startswith("params:") or name == PROMOTED_MODEL:
                continue
            dataset = catalog.get(name)
            if _not_checked(dataset) or isinstance(dataset, PromotedModelDataset):
                continue
            if not catalog.exists(name):
                missing[name] = dataset
        if missing:
            raise MissingInputError(missing_inputs_message(missing, self._registered()))
