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


def test_a_file_the_default_pipeline_writes_is_read_under_its_own_name():
    """A node reading a file that another node writes must name the writer's dataset (or a
    transcoded form of it): Kedro orders readers after writers by dataset name only, so a
    second catalog entry on the same file is read whenever the schedule reaches it -- the
    previous run's file, or none. (The uplift models read the CLV through such an entry and
    weighed customers by last run's values, or by 1 each, depending on the runner's order.)
    Allowed: the node that writes the file reads its previous version first (the report's
    "what changed since the previous run")."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    root = Path(__file__).resolve().parents[1]
    bootstrap_project(root)
    with KedroSession.create(project_path=root) as session:
        catalog = session.load_context().catalog

    def filepath(name: str) -> str | None:
        dataset = catalog.get(name, fallback_to_runtime_pattern=True)
        dataset = getattr(dataset, "wrapped", dataset)
        path = getattr(dataset, "_filepath", None)
        return None if path is None else str(path)

    def base(name: str) -> str:
        return name.split("@")[0]

    pipeline = register_pipelines()["__default__"]
    writers = {}
    for node in pipeline.nodes:
        for name in node.outputs:
            if path := filepath(name):
                writers[path] = (base(name), node)
    assert len(writers) > 50  # the catalog's file paths were resolved
    hidden = [
        f"{node.name} reads {name} ({path}), written as {writers[path][0]}"
        for node in pipeline.nodes
        for name in node.inputs
        if (path := filepath(name)) in writers
        and base(name) != writers[path][0]
        and writers[path][1] is not node
    ]
    assert not hidden, hidden
