"""Optional analyses that must not take the whole run down.

A survival model that fails to converge on somebody's data, or runs out of memory, should
cost its own section of the report, not the report: the node returns its outputs for "not
available", with the reason, and the rest of the run completes. The error is logged with its
traceback at ERROR, the summary's ``status`` says ``failed`` and the report shows the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")


def run_or_explain(step: str, run: Callable[[], T], fallback: Callable[[str], T]) -> T:
    """``run()``, or, when it raises, ``fallback(reason)`` after logging the error."""
    try:
        return run()
    except Exception as error:  # any failure of an optional analysis
        reason = f"failed ({type(error).__name__}: {error})"
        logger.error(
            "%s %s; the rest of the run goes on and the report says so",
            step,
            reason,
            exc_info=True,
        )
        return fallback(reason)
