"""Where each parameter came from: the parameter file of conf/base or of the run environment
(which overrides base key by key), the globals.yml file of a ``${globals:name}`` value, or
``--params``. ``core.parameter_schema`` names these files in its messages.

Plain Python and PyYAML: no Kedro.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

RUNTIME = "from --params"
PARAMETER_PATTERNS = ("parameters*", "parameters*/**", "**/parameters*")
GLOBALS_PATTERNS = ("globals.yml",)
GLOBALS_REF = re.compile(r"^\$\{globals:\s*([^,}\s]+)\s*(?:,[^}]*)?\}$")

MISSING = object()


def lookup(params: Any, key: str) -> Any:
    """The value at a dotted key (``a.b[0].c``), or ``MISSING``."""
    value = params
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        if part.startswith("[") and isinstance(value, list):
            index = int(part[1:-1])
            value = value[index] if index < len(value) else MISSING
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return MISSING
    return value


def source_of(key: str, sources: dict[str, str] | None) -> str | None:
    """The file a dotted key came from: the key's own entry, else its nearest parent's."""
    if not sources:
        return None
    while key:
        if key in sources:
            return sources[key]
        cut = max(key.rfind("."), key.rfind("["))
        key = key[:cut] if cut > 0 else ""
    return None


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if prefix:
        yield prefix, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))


def config_files(folder: Path, patterns: Iterable[str]) -> list[Path]:
    found = {p for pattern in patterns for p in folder.glob(pattern)}
    return sorted(
        p
        for p in found
        if p.is_file()
        and p.suffix in (".yml", ".yaml", ".json")
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf8"))
    except (OSError, yaml.YAMLError):
        return None


def parameter_sources(
    conf_source: str | Path,
    env: str | None = "local",
    base_env: str = "base",
    runtime_params: dict[str, Any] | None = None,
    parameter_patterns: Iterable[str] = PARAMETER_PATTERNS,
    globals_patterns: Iterable[str] = GLOBALS_PATTERNS,
    root: str | Path | None = None,
) -> dict[str, str]:
    """Dotted key -> where its value came from: the parameter file (base, then the run
    environment, which overrides it key by key), the globals.yml file of a
    ``${globals:name}`` value, or ``from --params``. Paths relative to ``root`` (default: the
    folder above ``conf_source``)."""
    conf = Path(conf_source)
    root = Path(root) if root is not None else conf.parent
    folders = [conf / base_env] + ([conf / env] if env and env != base_env else [])

    def label(path: Path) -> str:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            return path.as_posix()

    shared: dict[str, str] = {}
    raw: dict[str, tuple[str, Any]] = {}
    for folder in folders:
        for path in config_files(folder, globals_patterns) if folder.is_dir() else []:
            for key, _ in flatten(read_yaml(path)):
                shared[key] = label(path)
        for path in config_files(folder, parameter_patterns) if folder.is_dir() else []:
            for key, value in flatten(read_yaml(path)):
                raw[key] = (label(path), value)
    sources = {}
    for key, (file, value) in raw.items():
        match = GLOBALS_REF.match(value) if isinstance(value, str) else None
        if match and source_of(match.group(1), shared):
            name = match.group(1)
            sources[key] = f"{source_of(name, shared)}: {name}, through ${{globals:{name}}}"
        else:
            sources[key] = file
    for key, _ in flatten(runtime_params or {}):
        sources[key] = RUNTIME
    return sources
