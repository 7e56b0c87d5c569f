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
    monkeypatch.setattr(runner, "run_pipeline", lambda size, runner=None: fresh)
    monkeypatch.setattr(runner, "_format", lambda result: "")
    result = runner.main(["S", "--only", "pipeline", "--out", str(out)])
    assert result["default_pipeline"] == {"seconds": 80.0}
    assert result["baselines"] == earlier
    assert json.loads(out.read_text()) == result
