"""A record of every run: ``data/08_reporting/run_manifest.json`` plus a history.

:class:`RunManifestHook` writes, for every ``kedro run`` (the ``retrain`` and ``score`` jobs, a
single stage, or one Airflow task):

* ``run_id`` (Kedro's session id, also the save version of every versioned dataset of the run;
  distinct for runs started in the same millisecond on one machine, see ``settings``),
  ``started_at`` / ``finished_at`` (UTC), ``duration_seconds``;
* ``status``: ``running`` while the run is going (a manifest left ``running`` means the process
  was killed outright, e.g. SIGKILL or out of memory), then ``success``, ``failed`` with
  ``error`` {type, message, node}, or ``interrupted`` (SIGINT or SIGTERM) with ``error``
  {type: the signal name, message, node: the node last started} and ``finished_at`` the time
  the signal arrived;
* ``pipeline`` (names and node filters as given), ``env``, ``runtime_params``, ``scheduler``
  (Airflow dag / run / task ids when run by Airflow), ``git_commit`` (None when the project is
  not a git checkout) and ``git_dirty``, the package and Kedro versions;
* ``parameters_hash``: SHA-256 of all parameters as canonical JSON;
* ``inputs``: for every raw table the pipeline reads, the file, its size, row count and the
  date range of its main date column, from Parquet metadata (row-group statistics) or a
  DuckDB scan of one column, never by loading the table into pandas; for other file inputs
  (e.g. ``customer_value`` of the last retraining in ``score``) size, modification time and,
  for Parquet, the row count;
* ``models``: the models ``used`` (the promoted / champion churn model's id, versions of
  versioned models loaded) and ``produced`` (save versions of the models written, the new
  churn model's id), the ``promotion`` decision of this run and the ``promoted_model`` after
  the run (id, training window, test metrics, from ``data/06_models/promoted``);
* ``drift``: the recommendation and reasons from ``drift_report`` when monitoring ran;
* ``outputs_written``: every persisted dataset saved, so that after a failure it is clear
  which files come from the failed run.

Files are written atomically (temporary file + ``os.replace``): the latest run at
``run_manifest.json``, every run at ``run_history/<run_id>.json``.

The run lock (``core.run_lock``) is taken before the first write: a second run waits or stops
(``run_lock`` parameters) and never touches the running run's manifest. A manifest found still
``running`` by the next run is recorded as ``abandoned`` in its history file (its process is
gone: the lock is free). On success the manifest is also copied to ``last_success.json``, which
a failed or interrupted run leaves as it was.

Interruptions: Kedro 1.7 calls neither ``on_pipeline_error`` nor ``after_pipeline_run`` for a
``BaseException`` (``KeyboardInterrupt`` passes through the runner and ``KedroSession.run``), and
SIGTERM's default action ends the process without running any Python code. So for the length of
the run (main thread only: ``signal.signal`` works nowhere else) the hook routes SIGINT and SIGTERM
through its own handler, which hands the signal to the handler that was there before (SIGINT:
``KeyboardInterrupt``; SIGTERM in an Airflow task: Airflow's) or, where that was the default
action, raises :class:`RunInterrupted`; when the signal stops the run, the handler writes the
``interrupted`` manifest before the exception unwinds it. A signal that was ignored, or handled
outside Python, is left alone. The previous handlers are back when the run ends, however it ends,
so a second signal acts as if the hook were not there.

Hooks run in the Kedro process; with ``ParallelRunner`` the dataset hooks fire in worker
processes and the lists of models and outputs stay empty (the status is still right).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kedro import __version__ as kedro_version
from kedro.framework.hooks import hook_impl
from kedro.io import AbstractVersionedDataset, CatalogProtocol, DatasetError, MemoryDataset
from kedro.pipeline import Node, Pipeline

import customer_retention
from customer_retention.core.run_lock import LOCK_FILE, RunLock, process_alive
from customer_retention.datasets.atomic import write_text_atomic
from customer_retention.datasets.model_store import PromotedModelDataset
from customer_retention.datasets.raw_table import RawTableDataset
from customer_retention.provenance import git_state

from .fingerprints import dataset_path, file_fingerprint, main_date_column, table_fingerprint

logger = logging.getLogger(__name__)

MANIFEST_NAME = "run_manifest.json"
LAST_SUCCESS = (
    "last_success.json"  # the manifest of the last successful run, kept until the next one
)
HISTORY_DIR = "run_history"
PROMOTED_MODEL = "promoted_churn_model"
MODELS_LAYER = "06_models"
AIRFLOW_CONTEXT = {
    "dag_id": "AIRFLOW_CTX_DAG_ID",
    "dag_run_id": "AIRFLOW_CTX_DAG_RUN_ID",
    "task_id": "AIRFLOW_CTX_TASK_ID",
}
INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(SystemExit):
    """Raised by the run's handler for a signal whose previous action was the default one
    (SIGTERM, as a rule), which would end the process without running Python code.

    Like ``sys.exit`` it unwinds the run (``finally`` blocks and context managers run, ``except
    Exception`` does not catch it, ``kedro run`` passes it on without a traceback) and exits with
    128 + the signal number (143 for SIGTERM), the status a shell reports for a process the
    signal killed.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signal = signal.Signals(signum)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to a temporary file beside ``path``, then ``os.replace`` it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def parameters_hash(parameters: Any) -> str:
    """SHA-256 of the parameters as canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(parameters, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def promoted_model_summary(promoted_dir: Path) -> dict[str, Any] | None:
    """Id, creation time, training window, test metrics and promotion decision of the model
    ``current.json`` points at in ``promoted_dir``; None when nothing is promoted."""
    store = PromotedModelDataset(path=str(promoted_dir))
    try:
        model_id = store.current_model_id()
        if model_id is None:
            return None
        metadata = store.read_metadata(model_id)
        if metadata is None:
            raise FileNotFoundError(f"{promoted_dir / model_id} has no metadata")
    except (OSError, ValueError, KeyError, DatasetError) as error:
        return {"error": f"unreadable promoted model: {type(error).__name__}: {error}"}
    calibrated = metadata.get("metrics", {}).get("xgboost_calibrated", {})
    promotion = metadata.get("promotion", {})
    return {
        "model_id": model_id,
        "created_at": metadata.get("created_at"),
        "booster_sha256": metadata.get("booster_sha256"),
        "training_window": {
            part: metadata.get("training_window", {}).get(part)
            for part in ("train", "valid", "test")
        },
        "test_metrics": {
            key: calibrated.get(key)
            for key in ("roc_auc", "pr_auc", "brier_score", "ece", "top_decile_lift")
            if key in calibrated
        },
        "promotion": {
            key: promotion.get(key)
            for key in ("decision", "reason", "metric", "challenger_score", "champion_score")
        },
    }


def is_model_dataset(dataset: Any) -> bool:
    """The promoted-model store, or a dataset stored under the ``06_models`` layer folder."""
    if isinstance(dataset, PromotedModelDataset):
        return True
    path = dataset_path(dataset) if dataset is not None else None
    return path is not None and MODELS_LAYER in Path(path).parts


def drift_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The part of a drift report that belongs in the run manifest."""
    return {
        "retraining_recommended": report.get("retraining_recommended"),
        "reasons": report.get("reasons", []),
        "drifted_features": [f["feature"] for f in report.get("features", []) if f["drifted"]],
        "score_psi": (report.get("score_shift") or {}).get("psi"),
        "model_age_days": report.get("model_age_days"),
        "reference_window": report.get("reference_window"),
        "scoring_snapshot": report.get("scoring_snapshot"),
    }


class RunManifestHook:
    """Writes the run manifest (module docstring) at the start and at the end of every run.

    Args:
        reporting_dir: folder of ``run_manifest.json`` and ``run_history/``, relative to the
            project path unless absolute.
    """

    def __init__(self, reporting_dir: str = "data/08_reporting") -> None:
        self._reporting_dir = Path(reporting_dir)
        self._manifest: dict[str, Any] | None = None
        self._catalog: CatalogProtocol | None = None
        self._started = 0.0
        self._current_node: str | None = None
        self._project_path = Path.cwd()
        self._previous_handlers: dict[int, Any] = {}
        self._pid = os.getpid()
        self._lock: RunLock | None = None

    # --- paths -------------------------------------------------------------------------------

    def _absolute(self, path: Path) -> Path:
        return path if path.is_absolute() else self._project_path / path

    def _relative(self, path: str) -> str:
        try:
            return Path(path).relative_to(self._project_path).as_posix()
        except ValueError:
            return path

    @property
    def manifest_path(self) -> Path:
        return self._absolute(self._reporting_dir) / MANIFEST_NAME

    def _history_path(self, run_id: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
        return self._absolute(self._reporting_dir) / HISTORY_DIR / f"{safe}.json"

    def _promoted_dir(self) -> Path | None:
        dataset = self._catalog.get(PROMOTED_MODEL) if self._catalog is not None else None
        if not isinstance(dataset, PromotedModelDataset):
            return None
        return self._absolute(Path(dataset._describe()["path"]))

    def _dataset(self, name: str) -> Any:
        try:
            return self._catalog.get(name) if self._catalog is not None else None
        except Exception:  # a pattern that cannot be resolved: treat as unknown
            return None

    def _write(self) -> None:
        if self._manifest is None:
            return
        try:
            write_json_atomic(self.manifest_path, self._manifest)
            write_json_atomic(self._history_path(self._manifest["run_id"]), self._manifest)
        except OSError as error:  # never hide the run's own outcome behind a manifest error
            logger.error("Could not write the run manifest: %s", error)

    # --- hooks -------------------------------------------------------------------------------

    @hook_impl(wrapper=True)
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: CatalogProtocol
    ):
        """Record the start (status ``running``), let the other hooks run (demo data,
        pre-flight checks), then fingerprint the inputs; a failing hook fails the manifest."""
        self._start(run_params, pipeline, catalog)
        try:
            result = yield
        except BaseException as error:
            self._finish("failed", error)
            raise
        self._fingerprint_inputs(pipeline)
        self._write()
        return result

    def _start(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: CatalogProtocol
    ) -> None:
        self._catalog = catalog
        self._current_node = None
        self._project_path = Path(run_params.get("project_path") or Path.cwd())
        self._started = time.perf_counter()
        try:
            parameters = catalog.load("parameters")
        except Exception:  # no parameters dataset in a hand-built catalog
            parameters = {}
        run_id = str(run_params.get("run_id"))
        names = run_params.get("pipeline_names") or ["__default__"]
        self._take_lock(parameters.get("run_lock") or {}, run_id, names)
        self._mark_abandoned(run_id)
        scheduler = {key: os.environ.get(var) for key, var in AIRFLOW_CONTEXT.items()}
        promoted_dir = self._promoted_dir()
        before = promoted_model_summary(promoted_dir) if promoted_dir else None
        self._manifest = {
            "run_id": run_id,
            "status": "running",
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": utc_now(),
            "finished_at": None,
            "duration_seconds": None,
            "error": None,
            "pipeline": {
                "names": names,
                "node_filter": {
                    key: run_params.get(key)
                    for key in ("node_names", "from_nodes", "to_nodes", "tags", "namespaces")
                    if run_params.get(key)
                },
                "nodes_planned": len(pipeline.nodes),
                "nodes_completed": 0,
            },
            "env": run_params.get("env"),
            "runtime_params": run_params.get("runtime_params") or {},
            "scheduler": scheduler if any(scheduler.values()) else None,
            **git_state(self._project_path),
            "package_version": customer_retention.__version__,
            "kedro_version": kedro_version,
            "parameters_hash": parameters_hash(parameters),
            "inputs": {},
            "models": {
                "used": {},
                "produced": {},
                "promoted_before": before.get("model_id") if before else None,
                "promotion": None,
                "promoted_model": before,
            },
            "drift": None,
            "outputs_written": [],
        }
        self._write()
        self._install_signal_handlers()

    def _take_lock(self, settings: dict[str, Any], run_id: str, names: list[str]) -> None:
        """Wait for (or stop at) another run of this project (``core.run_lock``); before
        anything is written, so a refused run leaves the running run's manifest alone."""
        if self._lock is None or not self._lock.held:
            self._lock = RunLock(
                self._project_path / LOCK_FILE,
                settings.get("when_busy", "wait"),
                settings.get("max_wait_minutes", 120),
            )
        self._lock.acquire(run_id, names)

    def _mark_abandoned(self, run_id: str) -> None:
        """A manifest still ``running`` when this run holds the lock belongs to a run whose
        process is gone (killed outright, out of memory): it becomes ``abandoned`` in its
        history file. Without a lock (Windows) only a process that no longer exists counts."""
        try:
            previous = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return
        if previous.get("status") != "running" or previous.get("run_id") == run_id:
            return
        locked = self._lock is not None and self._lock.held
        same_host = previous.get("host") == socket.gethostname()
        if not locked and same_host and process_alive(previous.get("pid")):
            return  # no lock on this platform and the process lives: it may still be running
        previous["status"] = "abandoned"
        previous["error"] = previous.get("error") or {
            "type": "abandoned",
            "message": "the run's process ended without finishing it (killed outright or out "
            f"of memory); found by run {run_id}",
            "node": None,
        }
        logger.warning(
            "Run %s never finished (its process is gone): recorded as abandoned",
            previous.get("run_id"),
        )
        try:
            write_json_atomic(self._history_path(str(previous.get("run_id"))), previous)
        except OSError as error:
            logger.error("Could not record the abandoned run: %s", error)

    # --- signals -----------------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        """Route SIGINT and SIGTERM through :meth:`_on_signal` until :meth:`_finish` (module
        docstring); only in the main thread, and not for a signal that is ignored (``SIG_IGN``)
        or whose handler was not set from Python (``getsignal`` gives None: it cannot be put
        back)."""
        self._restore_signal_handlers()  # never chain to the handler of an unfinished run
        if threading.current_thread() is not threading.main_thread():
            return
        self._pid = os.getpid()
        for signum in INTERRUPT_SIGNALS:
            previous = signal.getsignal(signum)
            if previous is None or previous == signal.SIG_IGN:
                continue
            signal.signal(signum, self._on_signal)
            self._previous_handlers[signum] = previous

    def _restore_signal_handlers(self) -> None:
        """Put the previous handlers back, unless someone else replaced ours meanwhile."""
        for signum, previous in self._previous_handlers.items():
            if signal.getsignal(signum) == self._on_signal:
                signal.signal(signum, previous)
        self._previous_handlers = {}

    def _on_signal(self, signum: int, frame: Any) -> None:
        """Do what the previous handler would do (the default action of SIGTERM becomes
        :class:`RunInterrupted`); when that stops the run, record it as ``interrupted`` first.

        A worker forked by ``ParallelRunner`` inherits this handler but not the run: there the
        default action stays the default action and nothing is written.
        """
        previous = self._previous_handlers.get(signum, signal.SIG_DFL)
        owner = os.getpid() == self._pid
        try:
            if callable(previous):
                previous(signum, frame)  # may return: then the run goes on
            elif owner:
                raise RunInterrupted(signum)
            else:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
        except BaseException:
            if owner:
                self._finish("interrupted", signal_name=signal.Signals(signum).name)
            raise

    def _fingerprint_inputs(self, pipeline: Pipeline) -> None:
        if self._manifest is None:
            return
        started = time.perf_counter()
        inputs = {}
        for name in sorted(pipeline.inputs()):
            if name == "parameters" or name.startswith("params:"):
                continue
            dataset = self._dataset(name)
            if isinstance(dataset, RawTableDataset):
                file = dataset._existing_file()
                table = dataset._describe()["table"]
                inputs[name] = (
                    table_fingerprint(self._absolute(file), main_date_column(table))
                    if file is not None
                    else {"file": None, "exists": False}
                )
            elif isinstance(dataset, PromotedModelDataset):
                continue  # recorded under models
            elif dataset is not None and not isinstance(dataset, MemoryDataset):
                filepath = dataset_path(dataset)
                if filepath:
                    inputs[name] = file_fingerprint(self._absolute(Path(str(filepath))))
        for fingerprint in inputs.values():  # project-relative paths: comparable across copies
            if fingerprint.get("file"):
                fingerprint["file"] = self._relative(fingerprint["file"])
        self._manifest["inputs"] = inputs
        logger.info("Run manifest: inputs fingerprinted in %.2f s", time.perf_counter() - started)

    def _enter(self, node: Node) -> None:
        self._current_node = node.name

    @hook_impl
    def before_dataset_loaded(self, node: Node) -> None:
        self._enter(node)

    @hook_impl
    def before_node_run(self, node: Node) -> None:
        self._enter(node)

    @hook_impl
    def before_dataset_saved(self, node: Node) -> None:
        self._enter(node)

    @hook_impl
    def after_node_run(self, node: Node) -> None:
        if self._manifest is not None:
            self._manifest["pipeline"]["nodes_completed"] += 1

    @hook_impl
    def on_node_error(self, error: Exception, node: Node) -> None:
        if self._manifest is not None:
            self._manifest["error"] = {
                "type": type(error).__name__,
                "message": str(error),
                "node": node.name,
            }

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any) -> None:
        if self._manifest is None:
            return
        dataset = self._dataset(dataset_name)
        models = self._manifest["models"]
        if not is_model_dataset(dataset) or dataset_name in models["produced"]:
            return  # not a model, or one this run wrote itself
        used = models["used"]
        if isinstance(data, dict) and isinstance(data.get("metadata"), dict):
            used[dataset_name] = data["metadata"].get("model_id")
        elif data is None:
            used[dataset_name] = None
        elif isinstance(dataset, AbstractVersionedDataset):
            used[dataset_name] = dataset.resolve_load_version()

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if self._manifest is None:
            return
        dataset = self._dataset(dataset_name)
        if dataset is None or isinstance(dataset, MemoryDataset):
            return
        self._manifest["outputs_written"].append(dataset_name)
        models = self._manifest["models"]
        if is_model_dataset(dataset):
            if isinstance(dataset, AbstractVersionedDataset):
                models["produced"][dataset_name] = dataset.resolve_save_version()
            elif isinstance(data, dict) and isinstance(data.get("metadata"), dict):
                models["produced"][dataset_name] = data["metadata"].get("model_id")
        if dataset_name == "churn_model_metadata" and isinstance(data, dict):
            models["produced"]["churn_model_id"] = data.get("model_id")
        if dataset_name == "churn_model_metrics" and isinstance(data, dict):
            models["promotion"] = data.get("promotion")
        if dataset_name == "drift_report" and isinstance(data, dict):
            self._manifest["drift"] = drift_summary(data)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._finish("success")

    @hook_impl
    def on_pipeline_error(self, error: Exception) -> None:
        self._finish("failed", error)

    def _finish(
        self, status: str, error: BaseException | None = None, signal_name: str | None = None
    ) -> None:
        """Write the final manifest (once: later calls find none) and, however the run ended,
        put the signal handlers back; last, so that a signal while writing is still recorded."""
        try:
            if self._manifest is None:
                return
            manifest = self._manifest
            manifest["status"] = status
            manifest["finished_at"] = utc_now()
            manifest["duration_seconds"] = round(time.perf_counter() - self._started, 3)
            if error is not None or signal_name is not None:
                node = (manifest["error"] or {}).get("node") or self._current_node
                manifest["error"] = {
                    "type": signal_name or type(error).__name__,
                    "message": f"run stopped by {signal_name}" if signal_name else str(error),
                    "node": node,
                }
            promoted_dir = self._promoted_dir()
            if promoted_dir is not None:
                manifest["models"]["promoted_model"] = promoted_model_summary(promoted_dir)
            manifest["outputs_written"] = sorted(set(manifest["outputs_written"]))
            self._write()
            if status == "success":
                write_json_atomic(self.manifest_path.with_name(LAST_SUCCESS), manifest)
            (logger.info if status == "success" else logger.error)(
                "Run %s %s; manifest: %s", manifest["run_id"], status, self.manifest_path
            )
            self._manifest = None
        finally:
            self._restore_signal_handlers()
            if self._lock is not None:
                self._lock.release()
