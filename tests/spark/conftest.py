"""One local Spark session for the whole test run (tests marked ``spark``), tiny data.

The session is configured from ``conf/spark/spark.yml`` (what ``kedro run --env spark``
uses, ANSI mode included), tuned for tiny tables: two shuffle partitions (the snapshot table
is still written in more than one part), no adaptive execution and no code generation, which
take longer than the queries themselves here (the tests' Spark time halves). Without pyspark
(the ``spark`` extra) or Java, every test asking for it is skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest
import yaml

from ..conftest import PROJECT_ROOT


def spark_unavailable() -> str | None:
    """Why Spark cannot run here, or None."""
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install -e '.[spark]', which make test does)"
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and (Path(java_home) / "bin/java").exists()):
        return "Java is not installed (Spark needs a JVM: java on PATH or JAVA_HOME)"
    return None


def project_spark_settings() -> dict[str, str]:
    """conf/spark/spark.yml as the hook reads it."""
    from customer_retention.hooks.spark import _spark_value

    settings = yaml.safe_load((PROJECT_ROOT / "conf" / "spark" / "spark.yml").read_text())
    return {key: _spark_value(value) for key, value in settings.items()}


@pytest.fixture(scope="session")
def spark():
    """The shared local session (``local[2]``), stopped at the end of the test run."""
    reason = spark_unavailable()
    if reason:
        pytest.skip(reason)
    from customer_retention.hooks.spark import start_session

    settings = project_spark_settings() | {
        "spark.master": "local[2]",
        "spark.sql.shuffle.partitions": "2",
        "spark.sql.adaptive.enabled": "false",
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.factoryMode": "NO_CODEGEN",
        "spark.driver.memory": "1g",
    }
    session, started = start_session(settings)
    yield session
    if started:
        session.stop()


@pytest.fixture(scope="session")
def spark_ibis(spark):
    """An Ibis pyspark connection to the shared session."""
    import ibis

    return ibis.pyspark.connect(spark)
