"""Parameters checked against their typed schema before anything runs.

``after_context_created`` is the earliest hook that sees the merged parameters (conf/base, the
run environment and ``--params``): Kedro calls it when the session loads the context, before the
catalog is built, before ``before_pipeline_run`` (demo data generation, the run manifest) and
before the first node. A problem stops the run with ``ParameterError``, whose message lists
every problem, one per line, with the file each key came from.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl

from customer_retention.core.parameter_schema import (
    ParameterError,
    parameter_problems,
    problem_lines,
)
from customer_retention.core.parameter_sources import (
    GLOBALS_PATTERNS,
    PARAMETER_PATTERNS,
    parameter_sources,
)

logger = logging.getLogger(__name__)


def _sources(context: KedroContext) -> dict[str, str] | None:
    """Dotted key -> the file it came from, for the configuration folders of this run."""
    loader: Any = context.config_loader
    conf = Path(str(loader.conf_source))
    if not conf.is_dir():  # an archive or a remote source: the message names no files
        return None
    patterns = getattr(loader, "config_patterns", {})
    return parameter_sources(
        conf,
        env=loader.env or getattr(loader, "default_run_env", None) or "local",
        base_env=getattr(loader, "base_env", None) or "base",
        runtime_params=loader.runtime_params,
        parameter_patterns=patterns.get("parameters", PARAMETER_PATTERNS),
        globals_patterns=patterns.get("globals", GLOBALS_PATTERNS),
        root=context.project_path,
    )


class ParameterCheckHook:
    """Stop a run whose parameters do not fit the schema (``core.parameter_schema``)."""

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        try:
            params = context.config_loader["parameters"]
        except MissingConfigException:
            return
        problems = parameter_problems(params)
        if problems:
            raise ParameterError(problem_lines(params, problems, _sources(context)))
        logger.debug("Parameters fit the schema (%s blocks)", len(params))
