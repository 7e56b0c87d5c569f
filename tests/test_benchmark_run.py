"""The benchmark runner keeps the parts of a results file that a partial run does not redo."""

from __future__ import annotations

import importlib.util
import json
import sys

from .conftest import PROJECT_ROOT


def _runner():
    if "benchmark_run" not in sys.modules:
        path = PROJECT_ROOT / "benchmarks" / "run.py"
        spec = importlib.util.spec_from_file_location("benchmark_run", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["benchmark_run"] = module
        spec.loader.exec_module(module)
    return sys.modules["benchmark_run"]


def test_a_pipeline_only_run_keeps_the_earlier_comparisons(tmp_path, monkeypatch):
    runner = _runner()
    out = tmp_path / "S.json"
    earlier = {"bg_nbd": {"speedup": 6.0}, "scoring": {"customers_per_second": 5e5}}
    out.write_text(json.dumps({"default_pipeline": {"seconds": 99.0}, "baselines": earlier}))
    fresh = {"default_pipeline": {"seconds": 80.0}, "nodes": [], "datasets": []}
    monkeypatch.setattr(runner, "run_pipeline", lambda size, **options: fresh)
    monkeypatch.setattr(runner, "_format", lambda result: "")
    result = runner.main(["S", "--only", "pipeline", "--out", str(out)])
    assert result["default_pipeline"] == {"seconds": 80.0}
    assert result["baselines"] == earlier
    assert json.loads(out.read_text()) == result


def test_the_runner_s_record_survives_the_emptied_layers_unless_told(tmp_path, monkeypatch):
    """Each benchmark run starts from empty data layers, except the runner's record of the
    previous run (schedule and working memory), which a scheduled run would have."""
    runner = _runner()
    (tmp_path / "conf" / "base").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("")
    project = tmp_path / "data" / "benchmarks" / "S"
    (project / "data" / "01_raw").mkdir(parents=True)
    (project / "data" / "01_raw" / "customers.parquet").write_text("cached")
    reporting = project / "data" / "08_reporting"
    reporting.mkdir(parents=True)
    for name in (*runner.RUNNER_HISTORY, "report.html"):
        (reporting / name).write_text(json.dumps({"train_churn_model": 1.0}))
    seen = []

    def fake_kedro(project, args, timings, engine="duckdb"):
        seen.append((args, sorted(p.name for p in reporting.iterdir())))
        record = {"nodes": [], "datasets": [], "peak_rss_mb": 1.0, "run_seconds": 1.0}
        timings.write_text(json.dumps(record))
        return 2.0, 1.0, 1.0

    monkeypatch.setattr(runner, "ROOT", tmp_path)
    monkeypatch.setattr(runner, "_kedro", fake_kedro)
    result = runner.run_pipeline("S", runner_params="memory_budget_mb=2000")
    assert seen[0][1] == sorted(runner.RUNNER_HISTORY)  # the report went, the record stayed
    assert seen[0][0][-2:] == ["--runner-params", "memory_budget_mb=2000"]
    assert result["default_pipeline"]["runner_history"] == sorted(runner.RUNNER_HISTORY)
    result = runner.run_pipeline("S", runner_history=False)
    assert seen[1][1] == []
    assert result["default_pipeline"]["runner_history"] == "none (first run)"
