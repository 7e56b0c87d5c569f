"""Experiment tracking: every ``kedro run`` logged to MLflow, every trained churn model
registered (``tracking`` parameters, ``conf/base/parameters_tracking.yml``).

One MLflow run per Kedro run, in the experiment ``tracking.experiment`` of the store
``tracking.uri`` (null: ``$MLFLOW_TRACKING_URI``, else the project's SQLite store
``data/09_tracking/mlflow.db`` with the artifacts beside it). The run records:

* tags: Kedro run id (also the run's name), pipeline and node filters, environment, git commit
  (``mlflow.source.git.commit``) and whether the checkout was dirty, package and Kedro versions,
  ``parameters_hash`` and ``data_fingerprint`` (the run manifest's, from its input
  fingerprints), the promotion decision and the churn model used or produced;
* params: every parameter, flattened (``churn_model.promotion.tolerance``), and the rows of each
  input table;
* metrics: the churn model's test metrics with their bootstrap intervals
  (``test.<scorer>.roc_auc``, ``..._ci_low`` / ``_ci_high``), the paired differences, the
  backtest means and spreads, the promotion scores; the survival summary (Kaplan-Meier,
  C-index and Brier scores of each model); CLV totals; the report's headline numbers; in
  ``score``, the scores, the drift summary and the retention plan; ``tracking_seconds``;
* artifacts (``tracking.log_artifacts``): ``report/report.html``, the key charts under
  ``report/charts/``, the JSON summaries under ``summaries/`` and ``data_inputs.json``.

The churn model is registered by :mod:`customer_retention.datasets.registry` (its docstring has
the order of the writes): after ``promote_churn_model`` runs, the challenger becomes a version;
after the promoted store is written, ``champion`` follows the store and ``challenger`` marks a
rejected model. At the start of every run the alias is reconciled with the store. With
``tracking.score_from: registry`` the ``score`` job loads ``models:/<name>@champion`` instead of
the store.

The MLflow calls run on one worker thread, in the order the hooks queue them, beside the
pipeline (importing MLflow and opening its store take seconds); the run waits for the queue at
its end, before the run manifest is finished and the run lock released. The values logged are
taken in the hooks themselves (``tracking_content``): the data may be released afterwards.

Tracking never stops a run: the first error is logged, the rest of the run is not tracked and
its MLflow run ends with the tag ``tracking_error``. Loading the champion from the registry
(``score_from: registry``) is the run's model, and its errors do stop the run. Node hooks fire
in the Kedro process only (``SequentialRunner``, the default). A run killed outright leaves its
MLflow run ``RUNNING`` (the run manifest says ``abandoned`` or ``interrupted``).
"""

from __future__ import annotations

import atexit
import contextlib
import getpass
import json
import logging
import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from kedro import __version__ as kedro_version
from kedro.framework.hooks import hook_impl
from kedro.io import CatalogProtocol, DatasetError
from kedro.pipeline import Node, Pipeline

import customer_retention
from customer_retention.datasets.model_store import PromotedModelDataset
from customer_retention.datasets.registry import (
    CHALLENGER,
    ModelRegistry,
    RegistryChampionDataset,
    mlflow_module,
    relocate_local_store,
    resolve_tracking_uri,
)
from customer_retention.provenance import git_state

from .run_manifest import MANIFEST_NAME, parameters_hash
from .tracking_content import (
    EXTRACTORS,
    KEY_CHARTS,
    SUMMARIES,
    data_fingerprint,
    flatten_parameters,
    metric_key,
)

logger = logging.getLogger(__name__)

PROMOTION_NODE = "promote_churn_model"
PROMOTED = "promoted_churn_model"
REGISTRY_MIRROR = Path("data") / "06_models" / "registry_champion"
REPORTING = Path("data") / "08_reporting"
BATCH = {"params": 100, "metrics": 1000, "tags": 100}
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
"""A tracking server that is down costs a run seconds, not MLflow's default minutes."""


class _Worker:
    """One daemon thread running the queued calls in order. A daemon: a run stopped by a
    signal exits at once instead of waiting for MLflow (its MLflow run stays ``RUNNING``)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="tracking", daemon=True)
        self._thread.start()
        atexit.register(self._exit_like_python)

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            function, args = item
            function(*args)

    def submit(self, function: Any, *args: Any) -> None:
        self._queue.put((function, args))

    def close(self) -> None:
        """Wait for every call queued so far."""
        self._queue.put(None)
        self._thread.join()
        atexit.unregister(self._exit_like_python)

    def _exit_like_python(self) -> None:
        """A process that Ctrl-C (an unhandled KeyboardInterrupt) ends while this worker still
        runs: end it by SIGINT, as CPython does. CPython decides that after finalization from a
        flag that imports in another thread clear (the exit status would be 1 instead)."""
        if not self._thread.is_alive() or getattr(sys, "last_type", None) is not KeyboardInterrupt:
            return
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# ---------------------------------------------------------------- the hook


class TrackingHook:
    """Logs each run to MLflow and keeps the registry's aliases on the promoted store
    (module docstring)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._client: Any = None
        self._registry: ModelRegistry | None = None
        self._run_id: str | None = None
        self._settings: dict[str, Any] = {}
        self._project_path = Path.cwd()
        self._catalog: CatalogProtocol | None = None
        self._metrics: dict[str, float] = {}
        self._tags: dict[str, str] = {}
        self._staging: Path | None = None
        self._challenger: Any = None
        self._decision: dict[str, Any] = {}
        self._seconds = 0.0
        self._cpu_seconds = 0.0
        self._error: str | None = None
        self._kedro_run_id: str | None = None
        self._tracking = False  # main thread: this run is tracked (its steps are queued)
        self._worker: _Worker | None = None
        self._waited = 0.0
        self._finished: tuple[str, str] | None = None
        self._promoted_store: PromotedModelDataset | None = None

    # --- plumbing ----------------------------------------------------------------------------

    def _submit(self, step: str, function: Any, *args: Any) -> None:
        """Queue one tracking step on the run's worker thread (steps run one at a time, in
        the order queued: the MLflow import and the store's start-up overlap the pipeline)."""
        if self._tracking and self._worker is not None:
            self._worker.submit(self._safely, step, function, *args)

    def _drain(self) -> None:
        """Wait for the queued steps (the time the run waits for tracking)."""
        if self._worker is None:
            return
        started = time.perf_counter()
        self._worker.close()
        self._worker = None
        self._waited = time.perf_counter() - started

    def _safely(self, step: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one tracking step, timed; the first failure ends tracking for this run."""
        if self._run_id is None and step != "start":
            return None
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return function(*args, **kwargs)
        except Exception as error:
            self._error = f"{step}: {type(error).__name__}: {error}"
            logger.error(
                "Experiment tracking failed at %s (%s: %s); the run goes on untracked. The "
                "registry's alias is put back in step with the promoted store at the start of "
                "the next run.",
                step,
                type(error).__name__,
                str(error).splitlines()[0] if str(error) else "",
            )
            self._end("FINISHED")
            return None
        finally:
            self._seconds += time.perf_counter() - started
            self._cpu_seconds += time.thread_time() - cpu

    def _store(self) -> PromotedModelDataset | None:
        try:
            dataset = self._catalog.get(PROMOTED) if self._catalog is not None else None
        except Exception:
            return None
        if isinstance(dataset, PromotedModelDataset) and not isinstance(
            dataset, RegistryChampionDataset
        ):
            return dataset
        return None

    # --- start ---------------------------------------------------------------------------------

    @hook_impl(wrapper=True)
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: CatalogProtocol
    ):
        """Before the other hooks: the registry's champion in place of the store (``score_from:
        registry``, before the inputs are checked). After them (the run lock held, the inputs
        fingerprinted; nothing when one of them stopped the run): the MLflow run starts and the
        registry is reconciled with the store, on the worker thread."""
        self._reset()
        self._catalog = catalog
        self._project_path = Path(run_params.get("project_path") or Path.cwd())
        try:
            parameters = catalog.load("parameters")
        except Exception:
            parameters = {}
        settings = parameters.get("tracking") or {}
        self._settings = settings
        _, folder = resolve_tracking_uri(settings.get("uri"), self._project_path)
        if folder is not None:
            try:  # before anything reads the store (cheap: SQLite, no MLflow)
                relocate_local_store(folder)
            except Exception as error:
                logger.warning("Tracking store %s not relocated: %s", folder, error)
        if settings.get("score_from") == "registry" and PROMOTED in pipeline.inputs():
            self._serve_from_registry(catalog, settings)
        result = yield
        if settings.get("enabled", False):
            self._tracking = True
            self._promoted_store = self._store()  # resolved here: the catalog stays in this thread
            self._staging = Path(tempfile.mkdtemp(prefix="tracking-"))
            self._worker = _Worker()
            self._submit("start", self._start, run_params, parameters)
        return result

    def _serve_from_registry(self, catalog: CatalogProtocol, settings: dict[str, Any]) -> None:
        uri, _ = resolve_tracking_uri(settings.get("uri"), self._project_path)
        catalog[PROMOTED] = RegistryChampionDataset(
            path=str(self._project_path / REGISTRY_MIRROR),
            tracking_uri=uri,
            registered_model=settings["registered_model"],
        )
        logger.info(
            "The score job loads models:/%s@champion from %s", settings["registered_model"], uri
        )

    def _start(self, run_params: dict[str, Any], parameters: dict[str, Any]) -> None:
        for name, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
        settings = self._settings
        mlflow = mlflow_module()
        uri, folder = resolve_tracking_uri(settings.get("uri"), self._project_path)
        if folder is not None:
            (folder / "artifacts").mkdir(parents=True, exist_ok=True)
        client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        experiment = client.get_experiment_by_name(settings["experiment"])
        if experiment is None:
            artifacts = (folder / "artifacts").as_uri() if folder is not None else None
            experiment_id = client.create_experiment(settings["experiment"], artifacts)
        else:
            experiment_id = experiment.experiment_id
        run_id = str(run_params.get("run_id"))
        names = run_params.get("pipeline_names") or ["__default__"]
        git = git_state(self._project_path)
        filters = {
            key: run_params.get(key)
            for key in ("node_names", "from_nodes", "to_nodes", "tags", "namespaces")
            if run_params.get(key)
        }
        tags = {
            "kedro.run_id": run_id,
            "kedro.pipeline": ",".join(names),
            "kedro.env": str(run_params.get("env") or "local"),
            "kedro.node_filter": json.dumps(filters) if filters else "",
            "kedro.runtime_params": json.dumps(run_params.get("runtime_params") or {})[:5000],
            "git_commit": str(git["git_commit"]),
            "git_dirty": str(git["git_dirty"]),
            "package_version": customer_retention.__version__,
            "kedro_version": kedro_version,
            "parameters_hash": parameters_hash(parameters),
            "mlflow.user": _user(),
            "mlflow.source.name": f"kedro run --pipelines {','.join(names)}",
        }
        if git["git_commit"]:
            tags["mlflow.source.git.commit"] = git["git_commit"]
        run = client.create_run(experiment_id, run_name=run_id, tags=tags)
        self._client, self._run_id, self._kedro_run_id = client, run.info.run_id, run_id
        params = flatten_parameters(parameters)
        self._log_batch(params={metric_key(k): v for k, v in params.items()})
        self._registry = ModelRegistry(client, settings["registered_model"], uri)
        store = self._promoted_store
        if store is not None and settings.get("score_from") != "registry":
            try:
                outcome = self._registry.follow_store(store, self._run_id, repair=True)
            except DatasetError as error:  # a damaged store: the run says so itself
                outcome = f"skipped: {error}"
                logger.warning("Model registry not reconciled with the store: %s", error)
            self._tags["registry.reconciliation"] = outcome[:5000]
        logger.info("Tracking run %s in %s (experiment %s)", run_id, uri, settings["experiment"])

    def _log_batch(
        self, params: dict | None = None, metrics: dict | None = None, tags: dict | None = None
    ) -> None:
        from mlflow.entities import Metric, Param, RunTag

        stamp = int(time.time() * 1000)
        for chunk in _chunks([Param(k, v) for k, v in (params or {}).items()], BATCH["params"]):
            self._client.log_batch(self._run_id, params=chunk)
        for chunk in _chunks(
            [Metric(metric_key(k), v, stamp, 0) for k, v in (metrics or {}).items()],
            BATCH["metrics"],
        ):
            self._client.log_batch(self._run_id, metrics=chunk)
        for chunk in _chunks([RunTag(k, str(v)) for k, v in (tags or {}).items()], BATCH["tags"]):
            self._client.log_batch(self._run_id, tags=chunk)

    # --- during the run ------------------------------------------------------------------------

    @hook_impl
    def after_node_run(self, node: Node, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        """The promotion has decided: register the new model (before the store is written)."""
        if node.name == PROMOTION_NODE and self._tracking:
            model = {
                "model": inputs["churn_model_file"],
                "calibrator": inputs["churn_model_calibrator"],
                "metadata": outputs["churn_model_metadata"],
            }
            self._submit("registering the churn model", self._register, model)

    def _register(self, model: dict[str, Any]) -> None:
        metadata = model["metadata"]
        self._decision = metadata.get("promotion") or {}
        self._challenger = self._registry.register(self._run_id, model)
        self._tags.update(
            {
                "churn_model.trained": str(metadata.get("model_id")),
                "churn_model.version": str(self._challenger.version),
                "churn_model.kind": str(metadata.get("model_kind")),
                "promotion.decision": str(self._decision.get("decision")),
                "promotion.reason": str(self._decision.get("reason"))[:5000],
            }
        )

    def _after_store_write(self) -> None:
        """The store holds its new (or kept) model: ``champion`` follows it; a rejected model
        becomes ``challenger`` (a promotion clears the old one)."""
        store = self._promoted_store
        if store is None or self._registry is None:
            return
        self._registry.follow_store(store, self._run_id, repair=False)
        if self._challenger is None:
            return
        if self._decision.get("decision") == "promoted":
            self._registry.clear_alias(CHALLENGER)
        else:
            self._registry.set_alias(CHALLENGER, self._challenger)

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any) -> None:
        if dataset_name == PROMOTED and isinstance(data, dict) and self._tracking:
            self._tags["churn_model.used"] = str((data.get("metadata") or {}).get("model_id"))

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if not self._tracking:
            return
        if dataset_name == PROMOTED:
            self._submit("setting the registry aliases", self._after_store_write)
        elif (
            dataset_name in EXTRACTORS
            or dataset_name in SUMMARIES
            or dataset_name.startswith("report_")
        ):
            try:  # here, not queued: the data may be released once the hook returns
                self._record(dataset_name, data)
            except Exception as error:
                logger.warning("Tracking: %s not recorded (%s)", dataset_name, error)

    def _record(self, name: str, data: Any) -> None:
        if data is None:
            return
        if name in EXTRACTORS:
            self._metrics.update(EXTRACTORS[name](data))
        if not self._settings.get("log_artifacts", True) or self._staging is None:
            return
        if name in SUMMARIES and isinstance(data, dict | list):
            target = self._staging / "summaries" / f"{name}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
        elif name == "report_html" and isinstance(data, str):
            (self._staging / "report").mkdir(exist_ok=True)
            (self._staging / "report" / "report.html").write_text(data, encoding="utf-8")
        elif name == "report_charts" and isinstance(data, dict):
            charts = self._staging / "report" / "charts"
            charts.mkdir(parents=True, exist_ok=True)
            for file_name, image in data.items():
                if file_name in KEY_CHARTS and isinstance(image, bytes):
                    (charts / file_name).write_bytes(image)

    # --- end -----------------------------------------------------------------------------------

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._submit("finishing the run", self._finish, "FINISHED")
        self._drain()
        self._cleanup()
        if self._finished is not None:
            logger.info(
                "Run tracked in %s (MLflow run %s): %.1f s of tracking work beside the "
                "pipeline (%.1f s CPU), %.1f s waited for at the end",
                *self._finished,
                self._seconds,
                self._cpu_seconds,
                self._waited,
            )

    @hook_impl
    def on_pipeline_error(self, error: Exception) -> None:
        self._tags["error"] = f"{type(error).__name__}: {error}"[:5000]
        self._submit("recording the failed run", self._finish, "FAILED")
        self._drain()
        self._cleanup()

    def _finish(self, status: str) -> None:
        manifest = self._manifest()
        if manifest is not None:
            inputs = manifest.get("inputs") or {}
            self._tags["data_fingerprint"] = data_fingerprint(inputs)
            rows = {
                metric_key(f"data.{name}.rows"): str(info.get("rows"))
                for name, info in inputs.items()
                if isinstance(info, dict) and info.get("rows") is not None
            }
            self._log_batch(params=rows)
            if self._staging is not None and self._settings.get("log_artifacts", True):
                (self._staging / "data_inputs.json").write_text(
                    json.dumps({"run_id": manifest.get("run_id"), "inputs": inputs}, indent=2),
                    encoding="utf-8",
                )
        if self._staging is not None and any(self._staging.iterdir()):
            self._client.log_artifacts(self._run_id, str(self._staging))
        self._metrics["tracking_seconds"] = round(self._seconds, 3)
        self._metrics["tracking_cpu_seconds"] = round(self._cpu_seconds, 3)
        self._log_batch(metrics=self._metrics, tags=self._tags)
        run_id = self._run_id
        self._end(status)
        self._finished = (self._client.tracking_uri, run_id)

    def _manifest(self) -> dict[str, Any] | None:
        path = self._project_path / REPORTING / MANIFEST_NAME
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return manifest if manifest.get("run_id") == self._kedro_run_id else None

    def _end(self, status: str) -> None:
        """End the MLflow run (once), tagged with the tracking error if there was one."""
        if self._run_id is None or self._client is None:
            return
        run_id, self._run_id = self._run_id, None
        try:
            if self._error:  # what is known so far, then what failed
                for key, value in {**self._tags, "tracking_error": self._error}.items():
                    self._client.set_tag(run_id, key, str(value)[:5000])
            self._client.set_terminated(run_id, status)
        except Exception as error:  # the server is gone: nothing more to do
            logger.debug("Could not end MLflow run %s: %s", run_id, error)

    def _cleanup(self) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
        self._staging = None


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"
