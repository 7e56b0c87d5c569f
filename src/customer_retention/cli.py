"""``kedro run`` for people: the same command, with ``--verbose`` and errors without tracebacks.

Kedro loads this module's ``cli`` group and its ``run`` replaces the built-in one (Kedro's
documented way to modify a command). It takes every option of Kedro's ``run`` and adds:

* ``--verbose`` / ``-v``: dataset load and save lines in the log (hidden by default, see
  ``hooks.summary``) and the full traceback of any error;
* the default runner is ``customer_retention.runner.OverlapRunner`` (independent nodes two at
  a time, on threads; the same outputs as one at a time); ``--runner SequentialRunner`` runs
  one node at a time;
* errors a person can act on (``core.errors.ActionableError``: bad input, parameters that do
  not fit, a busy project, a missing upstream stage, implausible scores) and Kedro's dataset
  errors (a missing or unreadable file) end the run with their message alone and exit code 1,
  instead of a page of traceback. Other exceptions are bugs and keep their traceback.
"""

from __future__ import annotations

import os
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.io import DatasetError

from customer_retention.core.errors import ActionableError

FOR_PEOPLE = (ActionableError, DatasetError)
LOG_DATASETS = "CUSTOMER_RETENTION_LOG_DATASETS"
DEFAULT_RUNNER = "customer_retention.runner.OverlapRunner"


@click.group(name="customer_retention")
def cli() -> None:
    """Project commands."""


def _run(verbose: bool, **kwargs: Any) -> Any:
    if verbose:
        os.environ[LOG_DATASETS] = "1"
    kwargs["runner"] = kwargs.get("runner") or DEFAULT_RUNNER
    try:
        return kedro_run.callback(**kwargs)
    except FOR_PEOPLE as error:
        if verbose:
            raise
        raise click.ClickException(
            f"{error}\n(Run with --verbose to see the traceback.)"
        ) from error


run = click.Command(
    name="run",
    callback=_run,
    params=[
        *kedro_run.params,
        click.Option(
            ["--verbose", "-v"],
            is_flag=True,
            help="Show dataset load/save lines and the full traceback of any error.",
        ),
    ],
    help=kedro_run.help,
    short_help=kedro_run.short_help,
)
cli.add_command(run)
