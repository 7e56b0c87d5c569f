"""The Spark hook's configuration and the benchmark's engine switch (no Spark needed)."""

from __future__ import annotations

import json

import pytest
from kedro.config import OmegaConfigLoader

from customer_retention.hooks import SparkHook
from customer_retention.hooks.spark import configured_master, spark_settings

from ..conftest import PROJECT_ROOT
from ..test_benchmark_run import _runner


def _loader(env: str) -> OmegaConfigLoader:
    return OmegaConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"), base_env="base", default_run_env=env
    )


def test_only_the_spark_environment_has_spark_settings():
    assert spark_settings(_loader("base")) == {}
    settings = spark_settings(_loader("spark"))
    assert settings["spark.sql.session.timeZone"] == "UTC"
    assert settings["spark.sql.ansi.enabled"] == "true"
    assert settings["spark.sql.execution.arrow.pyspark.enabled"] == "true"
    assert settings["spark.sql.parquet.outputTimestampType"] == "TIMESTAMP_MICROS"
    assert {"spark.driver.memory", "spark.sql.shuffle.partitions"} <= set(settings)
    assert "spark.master" not in settings  # local[2] unless a master comes from elsewhere


def test_a_master_configured_elsewhere_is_respected(tmp_path, monkeypatch):
    for variable in ("PYSPARK_SUBMIT_ARGS", "PYSPARK_GATEWAY_PORT", "SPARK_CONF_DIR", "SPARK_HOME"):
        monkeypatch.delenv(variable, raising=False)
    assert configured_master({}) is None
    assert configured_master({"spark.master": "yarn"}) == "spark.yml (yarn)"
    (tmp_path / "spark-defaults.conf").write_text("spark.master  spark://host:7077\n")
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    assert configured_master({}) == str(tmp_path / "spark-defaults.conf")
    monkeypatch.delenv("SPARK_CONF_DIR")
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--master local[4] pyspark-shell")
    assert configured_master({}) == "PYSPARK_SUBMIT_ARGS"


def test_the_hook_does_nothing_in_the_default_environment():
    class Context:
        config_loader = _loader("base")

    hook = SparkHook()
    hook.after_context_created(Context())
    hook.before_pipeline_run()  # no spark.yml: no session, pyspark not even imported
    assert hook._session is None
    hook.after_pipeline_run()


@pytest.mark.parametrize(
    "previous", [{}, {"default_pipeline": {"seconds": 40.9}, "baselines": {"x": 1}}]
)
def test_the_spark_benchmark_records_both_engines_beside_the_rest(previous, tmp_path, monkeypatch):
    runner = _runner()
    out = tmp_path / "S.json"
    if previous:
        out.write_text(json.dumps(previous))

    def run(size, engine="duckdb"):
        pipeline = {"seconds": 1.0 if engine == "duckdb" else 2.0, "node_seconds": 1.0}
        return {"default_pipeline": pipeline, "stages": {"feature_engineering": 0.5}, "nodes": []}

    monkeypatch.setattr(runner, "run_pipeline", run)
    result = runner.main(["S", "--engine", "spark", "--out", str(out)])
    assert set(result["engines"]) == {"duckdb", "spark"}
    assert result["engines"]["spark"]["default_pipeline"]["seconds"] == 2.0
    for key, value in previous.items():  # the DuckDB run and comparisons already recorded
        assert result[key] == value
    assert json.loads(out.read_text()) == result
    assert "DuckDB" in runner._format_engines(result)
