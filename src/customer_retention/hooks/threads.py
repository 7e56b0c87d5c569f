"""BLAS held at one thread during a run, so that results do not depend on the schedule."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl
from threadpoolctl import threadpool_limits

logger = logging.getLogger(__name__)


class BlasThreadsHook:
    """The BLAS library's thread pool (OpenBLAS under numpy and scipy) is held at one thread
    from the start of a run to its end, whichever the runner.

    A multi-threaded BLAS splits a product among its threads and adds the parts in an order
    that depends on how many threads the call got, and OpenBLAS gives a call fewer threads
    when another thread is using its pool. Under the default runner two nodes run at once, so
    a model's last digits depended on what ran beside it: the demo's Weibull AFT acceleration
    factors came out 0.7386828218882979 with two BLAS threads and 0.7386828218882898 with
    one, and the default and the sequential runner wrote different files. With one BLAS
    thread both runners write the same numbers in any schedule (``tests/test_run.py``); the
    second core is used by the second node instead. ``threads`` sets another count (the
    outputs then depend on the schedule again)."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._limits: Any = None

    @hook_impl(wrapper=True)
    def before_pipeline_run(self):
        """Limit, then let the other hooks run: one that refuses the run (Kedro then calls
        neither ``on_pipeline_error`` nor ``after_pipeline_run``) must not leave the process's
        BLAS at one thread, e.g. in a notebook that runs the project again."""
        self._limits = threadpool_limits(limits=self.threads, user_api="blas")
        logger.debug("BLAS held at %d thread(s) for the run", self.threads)
        try:
            return (yield)
        except BaseException:
            self._restore()
            raise

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._restore()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._restore()

    def _restore(self) -> None:
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None
