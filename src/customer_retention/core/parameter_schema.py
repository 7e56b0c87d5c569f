"""The typed schema of every parameter block, checked before the first node runs.

``validate_parameters`` checks the merged parameters (conf/base, the run environment and
``--params``) against one pydantic model per block (``parameter_blocks*.py``): types, ranges,
allowed values, unknown keys and blocks (with a did-you-mean), then the rules across keys and
across blocks. Every problem is reported, one line each, naming the dotted key, its value, what
is allowed and the file it came from (``parameter_sources``). ``hooks.ParameterCheckHook`` runs
it when Kedro creates the context.

``parameter_reference_markdown`` renders the reference in README.md ("Parameter reference"):
``python -m customer_retention.core.parameter_schema --write-readme`` (``make params-doc``).

Plain Python, pydantic and PyYAML: no Kedro, no pipelines.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from .errors import ActionableError
from .parameter_blocks import (
    Clv,
    DataCleaning,
    FeatureEngineering,
    RetentionMetrics,
    SurvivalAnalysis,
)
from .parameter_blocks_action import (
    CampaignAnalysis,
    ChurnModel,
    Monitoring,
    Reporting,
    RetentionPlan,
    RunLock,
    Scoring,
)
from .parameter_blocks_demo import DemoData
from .parameter_blocks_themes import FeedbackThemes
from .parameter_blocks_tracking import Tracking
from .parameter_sources import (
    GLOBALS_PATTERNS,
    GLOBALS_REF,
    MISSING,
    PARAMETER_PATTERNS,
    RUNTIME,
    config_files,
    lookup,
    read_yaml,
    source_of,
)
from .parameter_types import Block, Problem, describe_field, model_of

BLOCKS: dict[str, type[Block]] = {
    "demo_data": DemoData,
    "data_cleaning": DataCleaning,
    "feature_engineering": FeatureEngineering,
    "retention_metrics": RetentionMetrics,
    "survival_analysis": SurvivalAnalysis,
    "churn_model": ChurnModel,
    "campaign_analysis": CampaignAnalysis,
    "feedback_themes": FeedbackThemes,
    "clv": Clv,
    "scoring": Scoring,
    "retention_plan": RetentionPlan,
    "monitoring": Monitoring,
    "reporting": Reporting,
    "run_lock": RunLock,
    "tracking": Tracking,
}
"""The project's parameter blocks (top-level keys), in the order of the flow."""

PROJECT_ROOT = Path(__file__).resolve().parents[3]
README_START = "<!-- parameter-reference:start -->"
README_END = "<!-- parameter-reference:end -->"


class ParameterError(ActionableError, ValueError):
    """The parameters do not fit the schema; the message lists every problem, one per line
    (``kedro run`` shows it without a traceback: ``customer_retention.cli``)."""

    def __init__(self, lines: list[str] | str) -> None:
        lines = [lines] if isinstance(lines, str) else list(lines)
        self.lines = lines
        count = f"{len(lines)} problem{'s' * (len(lines) > 1)}"
        super().__init__(
            f"Invalid parameters ({count}; nothing was run):\n"
            + "\n".join(f"  - {line}" for line in lines)
            + "\nFix them in the file named (or in --params) and run again. The reference of "
            "every key: README.md, 'Parameter reference'."
        )


# ---------------------------------------------------------------- rules across blocks


@dataclass(frozen=True)
class CrossRule:
    text: str
    blocks: tuple[str, ...]
    check: Callable[[dict[str, Any]], Iterator[Problem]]


def _same_horizon(valid: dict[str, Any]) -> Iterator[Problem]:
    labels = valid["feature_engineering"].horizon_days
    others = [
        (f"{block}.{key}", getattr(valid[block], key))
        for block, key in (
            ("churn_model", "horizon_days"),
            ("survival_analysis", "horizon_days"),
            ("clv", "churn_horizon_days"),
            ("reporting", "horizon_days"),
        )
        if block in valid and getattr(valid[block], key) != labels
    ]
    if others:
        listed = ", ".join(f"{key} = {value}" for key, value in others)
        yield Problem(
            "feature_engineering.horizon_days",
            f"differs from {listed}: the labels, the models and the report must use one "
            "horizon; set horizon_days once in conf/local/globals.yml",
            tuple(key for key, _ in others),
        )


def _clv_within_curves(valid: dict[str, Any]) -> Iterator[Problem]:
    months = valid["survival_analysis"].landmark.horizon_months
    if valid["clv"].horizon_months > months:
        yield Problem(
            "clv.horizon_months",
            f"must be ≤ survival_analysis.landmark.horizon_months ({months}): the survival "
            "curves CLV sums end there",
            ("survival_analysis.landmark.horizon_months",),
        )


def _same_contract(valid: dict[str, Any]) -> Iterator[Problem]:
    cleaning, features = valid["data_cleaning"].contract, valid["feature_engineering"].contract
    if cleaning != features:
        yield Problem(
            "feature_engineering.contract",
            f"differs from data_cleaning.contract ({cleaning}): one business model per run; "
            "set contract once in conf/local/globals.yml",
            ("data_cleaning.contract",),
        )


CROSS_RULES = (
    CrossRule(
        "churn_model.horizon_days, survival_analysis.horizon_days, clv.churn_horizon_days and "
        "reporting.horizon_days equal feature_engineering.horizon_days (the labels' horizon; "
        "all from globals.yml `horizon_days`)",
        ("feature_engineering",),
        _same_horizon,
    ),
    CrossRule(
        "clv.horizon_months ≤ survival_analysis.landmark.horizon_months",
        ("clv", "survival_analysis"),
        _clv_within_curves,
    ),
    CrossRule(
        "data_cleaning.contract equals feature_engineering.contract (globals.yml `contract`)",
        ("data_cleaning", "feature_engineering"),
        _same_contract,
    ),
)


# ---------------------------------------------------------------- finding the problems


def _suggest(word: str, known: Iterable[str]) -> str:
    known = list(known)
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"known: {', '.join(known)}"


def _literal_words(annotation: Any) -> list[str]:
    """The text values a Literal inside ``annotation`` allows (for a did-you-mean)."""
    if typing.get_origin(annotation) is Literal:
        return [v for v in typing.get_args(annotation) if isinstance(v, str)]
    return [w for arg in typing.get_args(annotation) for w in _literal_words(arg)]


@dataclass
class _Located:
    path: str
    model: type[BaseModel]
    field: FieldInfo | None
    unknown: bool


def _locate(block: str, model: type[BaseModel], loc: tuple, extra: bool) -> _Located:
    """The dotted key of a pydantic error location: field names followed through nested
    models (list items as ``[i]``); union-member tags and positions inside a leaf value are
    dropped. ``unknown``: the last part is a key the model does not declare."""
    path, current, field = block, model, None
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if current is not None and isinstance(part, str) and part in current.model_fields:
            field = current.model_fields[part]
            path += f".{part}"
            inner, how = model_of(field.annotation)
            if inner is None:
                break
            if how == "list" and parts and isinstance(parts[0], int):
                path += f"[{parts.pop(0)}]"
            elif how == "dict" and parts and isinstance(parts[0], str):
                path += f".{parts.pop(0)}"
            elif how:
                break
            current = inner
        elif current is not None and part == current.__name__:
            continue  # the tag of a union member
        else:
            if extra and not parts:
                return _Located(f"{path}.{part}", current, None, True)
            break
    return _Located(path, current, field, False)


def _expected(located: _Located) -> str:
    if located.field is None:
        return f"a mapping with the keys {', '.join(located.model.model_fields)}"
    inner, how = model_of(located.field.annotation)
    if inner is not None and not how:
        return f"a mapping with the keys {', '.join(inner.model_fields)}"
    return describe_field(located.field)[1]


def _field_problems(
    block: str, model: type[Block], error: ValidationError, raw: Any
) -> list[Problem]:
    found: dict[str, Problem] = {}
    for item in error.errors():
        extra = item["type"] == "extra_forbidden"
        located = _locate(block, model, item["loc"], extra)
        key = located.path
        if located.unknown:
            word = key.rsplit(".", 1)[-1]
            message = f"unknown key; {_suggest(word, located.model.model_fields)}"
            found[key] = Problem(key, message)
        elif item["type"] == "missing":
            found.setdefault(
                key, Problem(key, f"missing; expected {_expected(located)}", show_value=False)
            )
        elif key not in found:
            message = f"expected {_expected(located)}"
            value = lookup(raw, key.split(".", 1)[1]) if "." in key else raw
            words = _literal_words(located.field.annotation) if located.field else []
            if isinstance(value, str) and words and value not in words:
                close = difflib.get_close_matches(value, words, n=1, cutoff=0.6)
                if close:
                    message += f"; did you mean '{close[0]}'?"
                elif located.field and "list" in describe_field(located.field)[0]:
                    message += f"; for one name write [{value}]"
            found[key] = Problem(key, message)
    return list(found.values())


def _rule_problems(model: BaseModel, prefix: str = "") -> Iterator[Problem]:
    """``problems()`` of a validated block and of every block nested in it."""
    if isinstance(model, Block):
        for problem in model.problems():
            yield problem.within(prefix.rstrip(".")) if prefix else problem
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _rule_problems(value, f"{prefix}{name}.")
        elif isinstance(value, list):
            for number, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from _rule_problems(item, f"{prefix}{name}[{number}].")


def _partial_rule_problems(model: type[BaseModel], raw: Any, prefix: str) -> Iterator[Problem]:
    """Rules of the nested blocks that are valid inside a block that is not (the block's own
    rules need every key valid)."""
    if not isinstance(raw, dict):
        return
    for name, field in model.model_fields.items():
        inner, how = model_of(field.annotation)
        if inner is None or how or not isinstance(raw.get(name), dict):
            continue
        try:
            valid = inner.model_validate(raw[name])
        except ValidationError:
            yield from _partial_rule_problems(inner, raw[name], f"{prefix}.{name}")
        else:
            yield from (p.within(f"{prefix}.{name}") for p in _rule_problems(valid))


def parameter_problems(params: dict[str, Any]) -> list[Problem]:
    """Every problem of the merged parameters, keys dotted from the top level."""
    problems: list[Problem] = []
    for name in params:
        if not name.startswith("_") and name not in BLOCKS:
            problems.append(
                Problem(
                    name, f"unknown parameter block; {_suggest(name, BLOCKS)}", show_value=False
                )
            )
    valid: dict[str, Block] = {}
    for name, model in BLOCKS.items():
        if name not in params:
            problems.append(
                Problem(
                    name, "missing parameter block (conf/base/parameters_*.yml)", show_value=False
                )
            )
            continue
        try:
            valid[name] = model.model_validate(params[name])
        except ValidationError as error:
            problems += _field_problems(name, model, error, params[name])
            problems += _partial_rule_problems(model, params[name], name)
        else:
            problems += [p.within(name) for p in _rule_problems(valid[name])]
    for rule in CROSS_RULES:
        if all(block in valid for block in rule.blocks):
            problems += rule.check(valid)
    return problems


# ---------------------------------------------------------------- the message


def _shown(value: Any, width: int = 60) -> str:
    if isinstance(value, str):
        return repr(value)
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False).strip()
    text = text.removesuffix("\n...").removesuffix("...").strip()
    return text if len(text) <= width else text[: width - 1] + "…"


def _where(problem: Problem, sources: dict[str, str] | None) -> str:
    own = source_of(problem.key, sources)
    others: dict[str, list[str]] = {}
    for key in problem.related:
        label = source_of(key, sources)
        if label and label != own:
            others.setdefault(label, []).append(key)
    parts = [f"in {own}" if own and own != RUNTIME else own] if own else []
    parts += [
        f"{', '.join(keys)} {'' if label == RUNTIME else 'in '}{label}"
        for label, keys in others.items()
    ]
    return f" ({'; '.join(parts)})" if parts else ""


def problem_lines(
    params: dict[str, Any], problems: list[Problem], sources: dict[str, str] | None
) -> list[str]:
    """One line per problem: ``key = value: what is wrong (in file)``. Problems that share a
    value, a message and a globals.yml source (one shared setting used by several blocks)
    become one line naming every key."""
    grouped: dict[tuple[str, str, str, str], list[str]] = {}
    for problem in problems:
        value = lookup(params, problem.key)
        shown = f" = {_shown(value)}" if problem.show_value and value is not MISSING else ""
        where = _where(problem, sources)
        alone = "" if "${globals:" in where else problem.key
        grouped.setdefault((shown, problem.message, where, alone), []).append(problem.key)
    return [
        f"{', '.join(keys)}{shown}: {message}{where}"
        for (shown, message, where, _), keys in grouped.items()
    ]


def validate_parameters(params: dict[str, Any], sources: dict[str, str] | None = None) -> None:
    """Check the merged parameters against the schema.

    Args:
        params: the parameters as Kedro merges them (top-level blocks).
        sources: dotted key -> the file it came from (``parameter_sources``), to name it.

    Raises:
        ParameterError: listing every problem, one per line.
    """
    problems = parameter_problems(params)
    if problems:
        raise ParameterError(problem_lines(params, problems, sources))


# ---------------------------------------------------------------- the reference


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default(value: Any, base_globals: dict[str, Any]) -> str:
    if value is MISSING:
        return "—"
    match = GLOBALS_REF.match(value) if isinstance(value, str) else None
    if match:
        shared = lookup(base_globals, match.group(1))
        return f"`{_plain(shared)}` (globals.yml `{match.group(1)}`)"
    return f"`{_plain(value)}`"


def _plain(value: Any) -> str:
    """A default as written in YAML (text unquoted)."""
    return value if isinstance(value, str) else _shown(value, 80)


def _rows(
    model: type[BaseModel], raw: Any, base_globals: dict[str, Any], prefix: str = ""
) -> Iterator[str]:
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        value = lookup(raw, name) if isinstance(raw, dict) else MISSING
        kind, allowed = describe_field(field)
        inner, how = model_of(field.annotation)
        if how == "list":
            shown = (
                f"{len(value)} items" if isinstance(value, list) else _default(value, base_globals)
            )
            allowed = "list of mappings with the keys below"
        elif inner is not None and not how and isinstance(value, dict):
            shown = "—"
        else:
            shown = _default(value, base_globals)
        row = [f"`{key}`", kind, shown, allowed, field.description or ""]
        yield "| " + " | ".join(_cell(c) for c in row) + " |"
        if inner is not None and how in ("", "list"):
            nested = value if isinstance(value, dict) else {}
            yield from _rows(
                inner, nested, base_globals, f"{key}[]." if how == "list" else f"{key}."
            )


def _rules(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for rule in getattr(model, "RULES", ()):
        yield f"{prefix}{rule}" if not prefix else f"`{prefix.rstrip('.')}`: {rule}"
    for name, field in model.model_fields.items():
        inner, how = model_of(field.annotation)
        if inner is not None and how in ("", "list"):
            yield from _rules(inner, f"{prefix}{name}{'[]' if how == 'list' else ''}.")


def parameter_reference_markdown(conf_dir: str | Path | None = None) -> str:
    """The parameter reference: one table per block (key, type, default in conf/base, allowed
    values or range, description) and the rules across keys and blocks."""
    base = Path(conf_dir) if conf_dir is not None else PROJECT_ROOT / "conf" / "base"
    files: dict[str, str] = {}
    values: dict[str, Any] = {}
    for path in config_files(base, PARAMETER_PATTERNS):
        for name, value in (read_yaml(path) or {}).items():
            files[name], values[name] = path.name, value
    base_globals: dict[str, Any] = {}
    for path in config_files(base, GLOBALS_PATTERNS):
        base_globals.update(read_yaml(path) or {})
    lines = [
        "Generated from the schema (`src/customer_retention/core/parameter_schema.py` and "
        "`parameter_blocks*.py`) by `make params-doc`; a test keeps this section and the schema "
        "equal. Every run checks the merged parameters (conf/base, conf/local or `--env`, "
        "`--params`) against it before the first node: a wrong type, a value out of range, an "
        "unknown key or block stops the run with one line per problem naming the key, its "
        "value, what is allowed and the file. Defaults are the values in conf/base. Top-level "
        "keys starting with `_` (YAML anchors to reuse) are not checked.",
        "",
    ]
    for name, model in BLOCKS.items():
        lines += [f"### `{name}`", "", f"In `conf/base/{files.get(name, '?')}`.", ""]
        lines += [
            "| key | type | default | allowed / range | description |",
            "|---|---|---|---|---|",
        ]
        lines += list(_rows(model, values.get(name, {}), base_globals))
        rules = list(_rules(model))
        if rules:
            lines += ["", "Rules across keys:", ""] + [f"- {rule}" for rule in rules]
        lines.append("")
    lines += ["### Rules across blocks", ""] + [f"- {rule.text}" for rule in CROSS_RULES]
    return "\n".join(lines) + "\n"


def write_readme(readme: str | Path = PROJECT_ROOT / "README.md") -> bool:
    """Write the reference between the README's markers; True when the file changed."""
    path = Path(readme)
    text = path.read_text(encoding="utf8")
    if README_START not in text or README_END not in text:
        raise ValueError(f"{path} has no {README_START} ... {README_END} markers")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    new = f"{head}{README_START}\n{parameter_reference_markdown()}{README_END}{tail}"
    if new != text:
        path.write_text(new, encoding="utf8")
    return new != text


def readme_section(readme: str | Path = PROJECT_ROOT / "README.md") -> str:
    """The text between the README's markers."""
    text = Path(readme).read_text(encoding="utf8")
    return text.split(README_START, 1)[1].split(README_END, 1)[0].removeprefix("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write-readme", action="store_true", help="write README.md's section")
    args = parser.parse_args(argv)
    if args.write_readme:
        changed = write_readme()
        print(f"README.md parameter reference {'updated' if changed else 'already up to date'}")  # noqa: T201
    else:
        print(parameter_reference_markdown(), end="")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
