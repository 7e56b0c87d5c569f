"""The node-timing hook records every node only when asked to."""

import json

from kedro.pipeline import node

from customer_retention.hooks import NodeTimingHook


def _run(hook: NodeTimingHook) -> None:
    step = node(lambda x: x, "a", "b", name="step")
    hook.before_node_run(step)
    hook.after_node_run(step)
    hook.after_pipeline_run()


def test_writes_node_timings_when_the_variable_is_set(tmp_path, monkeypatch):
    target = tmp_path / "timings.json"
    monkeypatch.setenv("CUSTOMER_RETENTION_NODE_TIMINGS", str(target))
    _run(NodeTimingHook())
    result = json.loads(target.read_text())
    assert [r["node"] for r in result["nodes"]] == ["step"]
    assert result["nodes"][0]["seconds"] >= 0 and result["peak_rss_mb"] > 0


def test_is_silent_otherwise(tmp_path, monkeypatch):
    monkeypatch.delenv("CUSTOMER_RETENTION_NODE_TIMINGS", raising=False)
    hook = NodeTimingHook()
    _run(hook)
    assert hook.records == []
