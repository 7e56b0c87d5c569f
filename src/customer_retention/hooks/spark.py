"""The Spark session of ``kedro run --env spark``: started before the run, stopped after it.

Only an environment with a ``spark.yml`` (``conf/spark/spark.yml``; ``conf/base`` has none)
starts Spark; every other run is untouched and never imports pyspark. The file holds Spark
properties (memory, shuffle partitions, Arrow transfer, UTC session time zone, ANSI mode).
The master is ``local[2]`` only when none is configured anywhere: ``spark.master`` in the
file, ``spark-submit --master`` (or ``PYSPARK_SUBMIT_ARGS``), ``spark-defaults.conf``, or a
Spark context that already runs (a notebook, a managed cluster, the test suite's session),
so the same environment runs unchanged on a cluster. A session this hook did not start is
reused (its runtime SQL settings applied) and left running.

The Ibis datasets of the environment (``backend: pyspark``) connect to this session; the
cleaning stage finds it through ``core.engines.run_spark_session``.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import ibis.expr.types as ir
from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset

from customer_retention.core.engines import drop_memtables, set_run_spark_session
from customer_retention.core.errors import ActionableError

logger = logging.getLogger(__name__)


class SparkSetupError(ActionableError, RuntimeError):
    """Spark cannot start for this run (pyspark missing)."""


CONFIG_KEY = "spark"
CONFIG_PATTERNS = ["spark*", "spark*/**"]
DEFAULT_MASTER = "local[2]"


def spark_settings(config_loader: Any) -> dict[str, str]:
    """The Spark properties of the run's environment (``spark*.yml``), as strings; empty when
    the environment has none."""
    patterns = getattr(config_loader, "config_patterns", None)
    if patterns is not None:
        patterns.setdefault(CONFIG_KEY, CONFIG_PATTERNS)
    try:
        settings = config_loader[CONFIG_KEY]
    except (KeyError, MissingConfigException):
        return {}
    return {str(k): _spark_value(v) for k, v in (settings or {}).items()}


def _spark_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def configured_master(settings: dict[str, str]) -> str | None:
    """Where a Spark master is configured, in words; None when nowhere (then ``local[2]``)."""
    if "spark.master" in settings:
        return f"spark.yml ({settings['spark.master']})"
    if "--master" in os.environ.get("PYSPARK_SUBMIT_ARGS", ""):
        return "PYSPARK_SUBMIT_ARGS"
    if os.environ.get("PYSPARK_GATEWAY_PORT"):
        return "spark-submit (the driver's JVM is already running)"
    for folder in (os.environ.get("SPARK_CONF_DIR"), os.environ.get("SPARK_HOME")):
        if not folder:
            continue
        for defaults in (
            Path(folder) / "spark-defaults.conf",
            Path(folder) / "conf/spark-defaults.conf",
        ):
            if defaults.is_file() and any(
                line.split() and line.split()[0] == "spark.master"
                for line in defaults.read_text().splitlines()
            ):
                return str(defaults)
    return None


def start_session(settings: dict[str, str]) -> tuple[Any, bool]:
    """A Spark session with ``settings``: (session, started here). An active session is reused
    with the runtime SQL settings applied (static ones, such as memory, cannot change; see
    :func:`apply_sql_settings`)."""
    try:
        from pyspark import SparkContext
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise SparkSetupError(
            "This environment runs on Spark (it has a spark.yml) but pyspark is not installed: "
            "pip install -e '.[spark]' (make install does), with Java 17 or later."
        ) from error

    active = SparkSession.getActiveSession()
    if active is None and SparkContext._active_spark_context is not None:
        active = SparkSession.builder.getOrCreate()  # running, started in another thread
    if active is not None:
        logger.info("Spark: using the running session (master %s)", active.sparkContext.master)
        return active, False
    builder = SparkSession.builder
    for key, value in settings.items():
        builder = builder.config(key, value)
    where = configured_master(settings)
    if where is None:
        builder = builder.master(DEFAULT_MASTER)
    started = time.perf_counter()
    session = builder.getOrCreate()
    logger.info(
        "Spark %s session started in %.1f s: master %s (%s)",
        session.version,
        time.perf_counter() - started,
        session.sparkContext.master,
        where or "none configured: the default",
    )
    return session, True


def apply_sql_settings(session: Any, settings: dict[str, str]) -> dict[str, str | None]:
    """Set the runtime SQL settings (``spark.sql.*``) on a running session; return the values
    they replaced (None: unset), to restore them afterwards."""
    previous = {}
    for key, value in settings.items():
        if key.startswith("spark.sql."):
            previous[key] = session.conf.get(key, None)
            session.conf.set(key, value)
    return previous


def _forget_ibis_connections() -> None:
    """Drop kedro-datasets' cached Ibis connections to Spark: they hold the stopped session,
    and a later run in this process must connect to its own."""
    try:
        from kedro_datasets.ibis import FileDataset
    except ImportError:  # pragma: no cover - kedro-datasets' ibis extra absent
        return
    connections = FileDataset._connections
    for key, backend in list(connections.items()):
        if getattr(backend, "name", None) == "pyspark":
            del connections[key]


class SparkHook:
    """Start the Spark session of a run in an environment with ``spark.yml``; stop it (when
    started here) at the end of the run, failed or not.

    Also drops the in-memory tables (the spine keys a feature node uploaded) a node's Ibis
    outputs read once the engine has written all of them: they would stay in the driver
    until the session ends.
    """

    def __init__(self) -> None:
        self._settings: dict[str, str] = {}
        self._session: Any = None
        self._started_here = False
        self._catalog: Any = None
        # Output name -> (names of the node's Ibis outputs not written yet, their expressions).
        self._unwritten: dict[str, tuple[set[str], list[ir.Table]]] = {}
        self._restore: dict[str, str | None] = {}

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._settings = spark_settings(context.config_loader)

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        self._catalog = catalog

    @hook_impl
    def before_pipeline_run(self) -> None:
        if not self._settings:
            return
        self._session, self._started_here = start_session(self._settings)
        if not self._started_here:  # restored after the run: the session is not ours
            self._restore = apply_sql_settings(self._session, self._settings)
        set_run_spark_session(self._session)

    def _in_memory(self, dataset_name: str) -> bool:
        try:
            dataset = self._catalog.get(dataset_name) if self._catalog is not None else None
        except Exception:  # a pattern that cannot be resolved: treat as held in memory
            return True
        return dataset is None or isinstance(dataset, MemoryDataset)

    @hook_impl
    def after_node_run(self, outputs: dict[str, Any]) -> None:
        if self._session is None:
            return
        written = {
            name: data
            for name, data in outputs.items()
            if isinstance(data, ir.Table) and not self._in_memory(name)
        }
        group = (set(written), list(written.values()))
        self._unwritten |= dict.fromkeys(written, group)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        group = self._unwritten.pop(dataset_name, None)
        if group is None:
            return
        waiting, expressions = group
        waiting.discard(dataset_name)
        if waiting:  # another output of the node still reads the same in-memory tables
            return
        dropped = sum(drop_memtables(expression) for expression in expressions)
        logger.debug("Spark: %s in-memory table(s) dropped after %s", dropped, dataset_name)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._stop()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._session is None:
            return
        set_run_spark_session(None)
        self._unwritten.clear()
        _forget_ibis_connections()
        if self._started_here:
            self._session.stop()
            logger.info("Spark session stopped")
        else:
            for key, value in self._restore.items():
                if value is None:
                    self._session.conf.unset(key)
                else:
                    self._session.conf.set(key, value)
        self._session, self._started_here, self._restore = None, False, {}
