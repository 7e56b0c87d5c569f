"""Where the Ibis stages' data live: the embedded DuckDB (default) or Spark (``--env spark``).

Engine-neutral helpers for the cleaning and feature stages and the Spark hook:

* :func:`keeps_data_in_engine`: whether a stage hands Ibis tables on (Spark: the rows stay on
  the cluster) or brings results back as pandas (embedded DuckDB: the driver is the engine);
* :func:`drop_memtable` / :func:`drop_memtables`: unregister ``ibis.memtable`` data from the
  backend that holds them (Ibis 12 keeps every registered memtable until the process exits);
* :func:`run_spark_session`: the Spark session of the current run, set by
  ``hooks.spark.SparkHook`` only in the ``spark`` environment (cleaning runs there on Spark).

No Kedro imports (see CONTRIBUTING.md).
"""

from __future__ import annotations

import logging
from typing import Any

import ibis.expr.operations as ops
import ibis.expr.types as ir

logger = logging.getLogger(__name__)

ENGINE_BACKENDS = frozenset({"pyspark"})
"""Ibis backends whose results stay in the engine: a stage hands their tables on instead of
collecting them into pandas on the driver."""

_run_session: Any = None


def backend_name(table: ir.Table) -> str:
    """The name of the Ibis backend ``table`` is bound to (``duckdb``, ``pyspark``)."""
    return table.get_backend().name


def keeps_data_in_engine(table: ir.Table) -> bool:
    """True when ``table`` lives in an engine whose results should stay there (Spark)."""
    return backend_name(table) in ENGINE_BACKENDS


def drop_memtable(backend: Any, memtable: ir.Table | str) -> None:
    """Unregister one ``ibis.memtable`` from ``backend`` (its data, held by the engine).

    DuckDB holds a registered Arrow object (``unregister``); Spark a temporary view
    (``spark.catalog.dropTempView``). A memtable never registered is no error.
    """
    name = memtable if isinstance(memtable, str) else memtable.get_name()
    if backend.name == "duckdb":
        backend.con.unregister(name)
    elif backend.name == "pyspark":
        backend._session.catalog.dropTempView(name)
    else:  # other backends: their own view clean-up, where they have one
        backend.drop_view(name, force=True)


def drop_memtables(expr: ir.Expr) -> int:
    """Unregister every ``ibis.memtable`` ``expr`` reads from its backend (once the expression
    has been executed for the last time); return how many were dropped."""
    backend = expr.get_backend()
    memtables = expr.op().find(ops.InMemoryTable)
    for memtable in memtables:
        drop_memtable(backend, memtable.name)
    return len(memtables)


def run_spark_session() -> Any:
    """The Spark session the run's Ibis stages use, or None (the default environment)."""
    return _run_session


def set_run_spark_session(session: Any) -> None:
    """Set (or clear, with None) the run's Spark session; called by the Spark hook."""
    global _run_session
    _run_session = session
