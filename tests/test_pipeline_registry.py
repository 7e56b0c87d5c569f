"""Every stage folder is registered, and the composite jobs are made of the right stages."""

from pathlib import Path

from customer_retention.pipeline_registry import RETRAIN, SCORE, STAGES, register_pipelines


def test_every_pipeline_folder_is_a_registered_stage():
    folders = Path(__file__).resolve().parents[1] / "src" / "customer_retention" / "pipelines"
    assert {p.name for p in folders.iterdir() if (p / "pipeline.py").exists()} == set(STAGES)


def test_jobs_are_made_of_their_stages():
    pipelines = register_pipelines()
    for job, stages in (("retrain", RETRAIN), ("score", SCORE)):
        expected = {n.name for stage in stages for n in pipelines[stage].nodes}
        assert {n.name for n in pipelines[job].nodes} == expected
    assert "generate_demo_data" not in {n.name for n in pipelines["__default__"].nodes}
    assert "score_customers" not in {n.name for n in pipelines["retrain"].nodes}
    assert "train_churn_model" not in {n.name for n in pipelines["score"].nodes}


def test_frames_handed_over_in_memory_are_outputs_of_the_default_pipeline():
    """The catalog's in-memory entries name real node outputs (a typo would silently create
    an unused entry and bring back the deep copy for the real name)."""
    import yaml

    catalog = yaml.safe_load(
        (Path(__file__).resolve().parents[1] / "conf/base/catalog.yml").read_text()
    )
    handed_over = {
        name
        for name, entry in catalog.items()
        if not name.startswith("_") and entry.get("type") == "kedro.io.MemoryDataset"
    }
    assert {"churn_model_input", "scoring_input"} <= handed_over
    assert all(catalog[name]["copy_mode"] == "assign" for name in handed_over)
    outputs = register_pipelines()["__default__"].all_outputs()
    assert handed_over <= outputs, handed_over - outputs
