"""Configuration: conf/local and --params override parameters key by key."""

from __future__ import annotations

import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from .conftest import fresh_project, load_parameters


def _parameters(project, runtime_params=None) -> dict:
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=runtime_params) as session:
        return session.load_context().params


def test_conf_local_overriding_one_key_keeps_the_rest_of_the_block(tmp_path, monkeypatch):
    project = fresh_project(tmp_path)
    (project / "conf" / "local" / "parameters_feature_engineering.yml").write_text(
        yaml.safe_dump(
            {"feature_engineering": {"as_of_date": "2025-06-01", "windows": {"recent_days": 14}}}
        )
    )
    monkeypatch.chdir(project)
    params = _parameters(project)["feature_engineering"]
    base = load_parameters("feature_engineering")
    assert params["as_of_date"] == "2025-06-01"
    assert params["windows"]["recent_days"] == 14
    # Every other key, nested ones included, is still the base value (a hard merge lost them:
    # KeyError: 'grace_days').
    assert params["grace_days"] == base["grace_days"]
    assert params["horizon_days"] == base["horizon_days"]
    assert params["windows"]["previous_days"] == base["windows"]["previous_days"]


def test_runtime_params_override_one_nested_key(tmp_path, monkeypatch):
    project = fresh_project(tmp_path)
    monkeypatch.chdir(project)
    params = _parameters(project, {"survival_analysis": {"cox": {"max_strata": 1}}})
    cox = params["survival_analysis"]["cox"]
    assert cox["max_strata"] == 1
    assert cox["penalizer"] == load_parameters("survival_analysis")["cox"]["penalizer"]


def test_a_shared_setting_changed_in_conf_local_globals_reaches_every_stage(tmp_path, monkeypatch):
    project = fresh_project(tmp_path)
    (project / "conf" / "local" / "globals.yml").write_text("horizon_days: 60\n")
    monkeypatch.chdir(project)
    params = _parameters(project)
    horizons = {
        "feature_engineering": params["feature_engineering"]["horizon_days"],
        "churn_model": params["churn_model"]["horizon_days"],
        "survival_analysis": params["survival_analysis"]["horizon_days"],
        "reporting": params["reporting"]["horizon_days"],
        "clv": params["clv"]["churn_horizon_days"],
    }
    assert set(horizons.values()) == {60}, horizons
    # The other shared settings keep their base values (globals merge key by key).
    assert params["churn_model"]["seed"] == params["survival_analysis"]["seed"] == 42
    assert params["reporting"]["currency"] == "$"
