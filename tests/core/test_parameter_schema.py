"""The parameter schema: conf/base fits it; every wrong value, unknown key or block, and broken
rule across keys is reported together, one line each, naming the key, the value, what is
allowed and the file (or --params); README's reference is generated from it."""

from __future__ import annotations

import copy
import shutil
import typing
from pathlib import Path

import pytest
import yaml
from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf
from pydantic import BaseModel

from customer_retention.core.parameter_blocks_action import PromotionMetric
from customer_retention.core.parameter_schema import (
    BLOCKS,
    CROSS_RULES,
    ParameterError,
    parameter_problems,
    parameter_reference_markdown,
    readme_section,
    validate_parameters,
)
from customer_retention.core.parameter_sources import parameter_sources
from customer_retention.core.parameter_types import model_of

from ..conftest import PROJECT_ROOT, _base_parameters


def _conf(tmp_path: Path, local: dict[str, str] | None = None) -> Path:
    """A copy of conf/base with the given conf/local files (name -> YAML text)."""
    conf = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf" / "base", conf / "base")
    (conf / "local").mkdir()
    for name, text in (local or {}).items():
        (conf / "local" / name).write_text(text)
    return conf


def _errors(conf: Path, params_cli: list[str] | None = None) -> list[str]:
    """The problem lines of a configuration, merged as the project's settings merge it;
    ``params_cli``: ``--params`` items as typed (``key=value``)."""
    runtime = OmegaConf.to_container(OmegaConf.from_dotlist(params_cli)) if params_cli else None
    loader = OmegaConfigLoader(
        conf_source=str(conf),
        base_env="base",
        default_run_env="local",
        merge_strategy={"parameters": "soft", "globals": "soft"},
        runtime_params=runtime,
    )
    sources = parameter_sources(conf, "local", runtime_params=runtime)
    with pytest.raises(ParameterError) as caught:
        validate_parameters(loader["parameters"], sources)
    return caught.value.lines


def _line(lines: list[str], key: str) -> str:
    """The line of ``key`` (a line may name several keys, comma-separated, before its value)."""
    (found,) = [line for line in lines if key in line.split(" = ")[0].split(":")[0].split(", ")]
    return found


def _walk(model: type[BaseModel], prefix: str = ""):
    for name, field in model.model_fields.items():
        yield f"{prefix}{name}", field
        inner, how = model_of(field.annotation)
        if inner is not None and how in ("", "list"):
            yield from _walk(inner, f"{prefix}{name}{'[]' if how else ''}.")


# ---------------------------------------------------------------- the base configuration


def test_the_base_configuration_fits_the_schema():
    params = _base_parameters()
    assert set(params) == set(BLOCKS)
    assert parameter_problems(params) == []
    validate_parameters(params, None)


def test_every_key_is_documented():
    undocumented = [
        f"{block}.{key}"
        for block, model in BLOCKS.items()
        for key, field in _walk(model)
        if not (field.description or "").strip()
    ]
    assert undocumented == []


def test_the_schema_knows_the_values_the_stages_know():
    """Allowed values written twice (the schema may not import a pipeline) stay equal."""
    from customer_retention.core.attributes import DECLARABLE
    from customer_retention.core.parameter_blocks import AttributeKind
    from customer_retention.core.parameter_blocks_demo import PLAN_LEVELS
    from customer_retention.models.uplift import LEARNERS
    from customer_retention.pipelines.churn_model.common import PROMOTION_DIRECTIONS
    from customer_retention.pipelines.demo_data.nodes import PLAN_ORDER

    assert set(typing.get_args(PromotionMetric)) == set(PROMOTION_DIRECTIONS)
    assert set(typing.get_args(AttributeKind)) == DECLARABLE
    assert PLAN_LEVELS == PLAN_ORDER
    learner = BLOCKS["campaign_analysis"].model_fields["uplift"].annotation.model_fields["learner"]
    assert set(typing.get_args(learner.annotation)) == set(LEARNERS)


# ---------------------------------------------------------------- the known wrong cases


@pytest.mark.parametrize("value", ['"thirty"', "0", "-30"])
def test_a_wrong_horizon_in_globals_names_the_globals_file(tmp_path, value):
    lines = _errors(_conf(tmp_path, {"globals.yml": f"horizon_days: {value}\n"}))
    line = _line(lines, "feature_engineering.horizon_days")
    shown = "'thirty'" if value == '"thirty"' else value
    assert f"= {shown}: expected integer > 0 (days)" in line
    assert "conf/local/globals.yml: horizon_days, through ${globals:horizon_days}" in line
    # One shared setting, one line, every key that uses it named.
    assert {"churn_model.horizon_days", "clv.churn_horizon_days", "reporting.horizon_days"} <= set(
        line.split(" = ")[0].split(", ")
    )


def test_a_wrong_horizon_from_params_says_so(tmp_path):
    lines = _errors(_conf(tmp_path), ["feature_engineering.horizon_days=thirty"])
    assert lines == [
        "feature_engineering.horizon_days = 'thirty': expected integer > 0 (days) (from --params)"
    ]


def test_a_negative_snapshot_count(tmp_path):
    lines = _errors(
        _conf(tmp_path, {"parameters.yml": "feature_engineering:\n  n_snapshots: -1\n"})
    )
    assert lines == [
        "feature_engineering.n_snapshots = -1: expected integer ≥ 1 (in conf/local/parameters.yml)"
    ]


def test_a_misspelt_block_gets_a_did_you_mean(tmp_path):
    lines = _errors(_conf(tmp_path, {"parameters.yml": "feature_engineerin:\n  n_snapshots: 18\n"}))
    assert lines == [
        "feature_engineerin: unknown parameter block; did you mean 'feature_engineering'? "
        "(in conf/local/parameters.yml)"
    ]


def test_a_misspelt_key_in_a_copied_block(tmp_path):
    """The whole block copied to conf/local with one key misspelt: the soft merge keeps the
    base key, so without the check the run would silently use 12 snapshots."""
    block = yaml.safe_load(
        (PROJECT_ROOT / "conf/base/parameters_feature_engineering.yml").read_text()
    )
    block["feature_engineering"]["n_snapshot"] = block["feature_engineering"].pop("n_snapshots")
    block["feature_engineering"]["windows"]["recnt_days"] = 14
    text = yaml.safe_dump(block, sort_keys=False)
    lines = _errors(_conf(tmp_path, {"parameters_feature_engineering.yml": text}))
    file = "(in conf/local/parameters_feature_engineering.yml)"
    assert set(lines) == {
        f"feature_engineering.n_snapshot = 12: unknown key; did you mean 'n_snapshots'? {file}",
        "feature_engineering.windows.recnt_days = 14: unknown key; did you mean 'recent_days'? "
        + file,
    }


def test_every_problem_is_reported_together(tmp_path):
    local = {
        "globals.yml": "horizon_days: thirty\n",
        "parameters.yml": yaml.safe_dump(
            {
                "feature_engineerin": {"n_snapshots": 3},
                "feature_engineering": {"n_snapshots": -1, "history": "ful"},
                "survival_analysis": {"km_segments": "plan", "cox": {"max_strata": "1"}},
                "churn_model": {"promotion": {"metric": "rocauc"}},
                "scoring": {"approximate_shap": 1},
            }
        ),
    }
    lines = _errors(_conf(tmp_path, local), ["clv.gross_margin=1.5"])
    expected = {
        "feature_engineerin": "did you mean 'feature_engineering'?",
        "feature_engineering.n_snapshots": "= -1: expected integer ≥ 1",
        "feature_engineering.history": "= 'ful': expected auto, full or single_snapshot; did you "
        "mean 'full'?",
        "feature_engineering.horizon_days": "= 'thirty'",
        "survival_analysis.km_segments": "; for one name write [plan]",
        "survival_analysis.cox.max_strata": "= '1': expected integer ≥ 0",
        "churn_model.promotion.metric": "did you mean 'roc_auc'?",
        "scoring.approximate_shap": "= 1: expected auto, true or false",
        "clv.gross_margin": "= 1.5: expected number in (0, 1] (from --params)",
    }
    for key, text in expected.items():
        assert text in _line(lines, key), key
    assert len(lines) == len(expected)
    with pytest.raises(ParameterError) as caught:
        raise ParameterError(lines)
    first = str(caught.value).splitlines()[0]
    assert first == f"Invalid parameters ({len(lines)} problems; nothing was run):"


def test_values_are_not_coerced():
    params = copy.deepcopy(_base_parameters())
    params["feature_engineering"]["n_snapshots"] = "12"
    params["feature_engineering"]["grace_days"] = True
    params["monitoring"]["psi_bins"] = 10.0
    params["data_cleaning"]["reference_date"] = "2026-02-30"
    keys = [p.key for p in parameter_problems(params)]
    assert keys == [
        "data_cleaning.reference_date",
        "feature_engineering.n_snapshots",
        "feature_engineering.grace_days",
        "monitoring.psi_bins",
    ]


# ---------------------------------------------------------------- rules across keys and blocks


def test_a_lookback_shorter_than_the_trend_windows(tmp_path):
    local = {"parameters.yml": "feature_engineering:\n  windows: {support_lookback_days: 60}\n"}
    (line,) = _errors(_conf(tmp_path, local))
    assert line == (
        "feature_engineering.windows.support_lookback_days = 60: must be at least recent_days + "
        "previous_days = 120 (30 + 90), or the previous window is cut short (in "
        "conf/local/parameters.yml; feature_engineering.windows.recent_days, "
        "feature_engineering.windows.previous_days in "
        "conf/base/parameters_feature_engineering.yml)"
    )


def test_a_rule_inside_a_block_is_checked_when_another_key_of_the_block_is_wrong():
    params = copy.deepcopy(_base_parameters())
    params["feature_engineering"]["n_snapshots"] = 0
    params["feature_engineering"]["windows"]["usage_lookback_days"] = 7
    keys = [p.key for p in parameter_problems(params)]
    assert keys == [
        "feature_engineering.n_snapshots",
        "feature_engineering.windows.usage_lookback_days",
    ]


def test_one_horizon_for_every_stage(tmp_path):
    """--params for one block's horizon leaves the others at 90: the labels and the models
    would speak of different horizons."""
    (line,) = _errors(_conf(tmp_path), ["feature_engineering.horizon_days=60"])
    assert line.startswith(
        "feature_engineering.horizon_days = 60: differs from churn_model.horizon_days = 90, "
        "survival_analysis.horizon_days = 90, clv.churn_horizon_days = 90, "
        "reporting.horizon_days = 90"
    )
    assert "set horizon_days once in conf/local/globals.yml (from --params; " in line
    assert "in conf/base/globals.yml: horizon_days, through ${globals:horizon_days})" in line
    # Set once in globals.yml, every stage follows: no problem.
    validate_parameters(
        OmegaConfigLoader(
            conf_source=str(_conf(tmp_path / "ok", {"globals.yml": "horizon_days: 60\n"})),
            base_env="base",
            default_run_env="local",
            merge_strategy={"parameters": "soft", "globals": "soft"},
        )["parameters"]
    )


@pytest.mark.parametrize(
    ("change", "key", "text"),
    [
        (("clv", "horizon_months", 48), "clv.horizon_months", "≤ survival_analysis.landmark"),
        (
            ("data_cleaning", "reference_date", "1989-01-01"),
            "data_cleaning.reference_date",
            "after",
        ),
        (("reporting", "health_bands", [70, 40]), "reporting.health_bands", "low must be below"),
        (("retention_plan", "save_rate_range", [2, 1]), "retention_plan.save_rate_range", "low"),
        (("demo_data", "end_date", "2022-01-01"), "demo_data.end_date", "after start_date"),
    ],
)
def test_rules_across_keys_and_blocks(change, key, text):
    params = copy.deepcopy(_base_parameters())
    block, name, value = change
    params[block][name] = value
    found = {p.key: p.message for p in parameter_problems(params)}
    assert text in found[key]
    if block != "demo_data":  # demo dates: the campaigns fall outside them too
        assert list(found) == [key]


def test_demo_hazard_ratios_must_name_real_levels():
    params = copy.deepcopy(_base_parameters())
    params["demo_data"]["hazard_ratios"]["plan"] = {"Pro": 0.75}
    params["demo_data"]["campaigns"][1]["hazard_ratios"]["region"] = {"emea": 2.0}
    lines = [f"{p.key}: {p.message}" for p in parameter_problems(params)]
    assert lines == [
        "demo_data.hazard_ratios.plan: unknown level(s) ['Pro'] of plan (basic, pro, enterprise): "
        "their ratios would have no effect",
        "demo_data.campaigns[1].hazard_ratios.region: unknown level(s) ['emea'] of region "
        "(north_america, europe, apac, latam): their ratios would have no effect",
    ]


def test_save_rates_name_driver_groups():
    params = copy.deepcopy(_base_parameters())
    params["retention_plan"]["save_rate_by_driver_group"]["suport"] = 0.3
    (problem,) = parameter_problems(params)
    assert problem.key == "retention_plan.save_rate_by_driver_group.suport"
    assert problem.message == "unknown key; did you mean 'support'?"


# ---------------------------------------------------------------- the reference in README.md


def test_the_readme_reference_is_the_generated_one():
    """Run `make params-doc` when this fails."""
    assert readme_section(PROJECT_ROOT / "README.md") == parameter_reference_markdown()


def test_the_reference_has_every_key_and_rule():
    text = parameter_reference_markdown()
    for block, model in BLOCKS.items():
        section = text.split(f"### `{block}`\n", 1)[1].split("\n### ", 1)[0]
        for key, _ in _walk(model):
            assert f"| `{key}` |" in section, f"{block}.{key}"
        for rule in getattr(model, "RULES", ()):
            assert rule in section
    for rule in CROSS_RULES:
        assert f"- {rule.text}" in text
