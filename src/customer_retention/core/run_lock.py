"""One run at a time per project: a lock file held for the length of a ``kedro run``.

``retrain`` and ``score`` write the same intermediate tables; run together they read each
other's half-written files. :class:`RunLock` takes an exclusive ``flock`` on
``data/.run.lock`` (the operating system drops it when the process ends, however it ends,
so a killed run never leaves a stale lock) and writes who holds it (process id, host, run id,
pipeline, start time) into the file, so that a second run can name the first.

The second run, by the ``run_lock`` parameters (parameters_run_lock.yml):

* ``when_busy: wait`` (default): logs who is running and waits, up to ``max_wait_minutes``,
  then stops with :class:`RunLockBusy`;
* ``when_busy: stop``: stops at once with :class:`RunLockBusy` naming the running process.

Where ``fcntl`` is missing (Windows) the lock is not taken and a warning says so.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

from customer_retention.core.errors import ActionableError

logger = logging.getLogger(__name__)

LOCK_FILE = "data/.run.lock"
STAMP_LOCK_FILE = "customer_retention-run-ids-{uid}.lock"  # in the system's temporary folder
WHEN_BUSY = ("wait", "stop")
POLL_SECONDS = 1.0


class RunLockBusy(ActionableError, RuntimeError):
    """Another run of this project holds the lock."""


def _holder_text(holder: dict[str, Any]) -> str:
    if not holder:
        return "another run (no details in the lock file)"
    return (
        f"run {holder.get('run_id', '?')} ({', '.join(holder.get('pipelines') or ['?'])}), "
        f"process {holder.get('pid', '?')} on {holder.get('host', '?')}, "
        f"started {holder.get('started_at', '?')}"
    )


class RunLock:
    """An exclusive lock on ``path``; :meth:`acquire` then :meth:`release`.

    Args:
        path: the lock file (created when missing).
        when_busy: ``wait`` or ``stop`` (module docstring).
        max_wait_minutes: how long ``wait`` waits; None = no limit.
    """

    def __init__(
        self, path: Path, when_busy: str = "wait", max_wait_minutes: float | None = 120
    ) -> None:
        if when_busy not in WHEN_BUSY:
            raise ValueError(f"run_lock.when_busy must be one of {WHEN_BUSY}, got {when_busy!r}")
        self.path = Path(path)
        self.when_busy = when_busy
        self.max_wait_minutes = max_wait_minutes
        self._handle: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def holder(self) -> dict[str, Any]:
        """Who holds (or last held) the lock, from the lock file; {} when unreadable."""
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def _try_lock(self, handle: IO[str]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def acquire(self, run_id: str, pipelines: list[str]) -> None:
        """Take the lock (waiting or stopping when busy), then record the holder in it.

        Raises:
            RunLockBusy: another run holds it and ``when_busy`` is ``stop`` or the wait ran out.
        """
        if self.held:
            return
        if fcntl is None:
            logger.warning("No run lock on this platform: do not start two runs at once")
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held for the run)
        try:
            self._wait_for(handle)
            handle.seek(0)
            handle.truncate()
            holder = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "run_id": run_id,
                "pipelines": pipelines,
                "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            handle.write(json.dumps(holder) + "\n")
            handle.flush()
        except BaseException:
            handle.close()
            raise
        self._handle = handle

    def _wait_for(self, handle: IO[str]) -> None:
        if self._try_lock(handle):
            return
        holder = _holder_text(self.holder())
        if self.when_busy == "stop":
            raise RunLockBusy(
                f"Another run of this project is going: {holder}. Wait for it to finish, or "
                "set run_lock.when_busy: wait to queue behind it. (Lock file: "
                f"{self.path}; it is released when that process ends.)"
            )
        limit = None if self.max_wait_minutes is None else self.max_wait_minutes * 60
        logger.warning("Waiting for another run of this project to finish: %s", holder)
        started = time.monotonic()
        while not self._try_lock(handle):
            if limit is not None and time.monotonic() - started > limit:
                raise RunLockBusy(
                    f"Waited {self.max_wait_minutes} minutes for another run of this project "
                    f"({holder}) and it is still going. Raise run_lock.max_wait_minutes, or "
                    "check that process."
                )
            time.sleep(POLL_SECONDS)
        logger.info(
            "The other run finished after %.0f s; this run starts", time.monotonic() - started
        )

    def release(self) -> None:
        """Let the next run go (also done by the operating system when the process ends)."""
        if self._handle is None:
            return
        try:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
        finally:
            self._handle.close()
            self._handle = None


def process_alive(pid: int | None) -> bool:
    """Whether a process with this id runs on this machine."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def distinct_stamp(read_clock: Callable[[], str], lock_path: Path | None = None) -> str:
    """``read_clock()``, distinct from every other reading taken through this function on
    this machine, in this process or another.

    Kedro names a run (its ``run_id``, the save version of every versioned dataset, the
    run's ``run_history`` file) by the time to the millisecond. Two runs started together
    (``retrain`` and ``score`` from one cron line, two Airflow tasks) can read the same
    millisecond: the second run's history then replaces the first's. Here the clock is read
    under an exclusive ``flock`` on ``lock_path`` (default: a per-user file in the temporary
    folder), which is held until the clock reads something else, so the next reader, whoever
    it is, gets a later value. Costs at most one clock tick. Where ``fcntl`` is missing
    (Windows) or the lock file cannot be opened, the plain reading is returned.
    """
    if fcntl is None:
        return read_clock()
    path = lock_path or Path(tempfile.gettempdir()) / STAMP_LOCK_FILE.format(uid=os.getuid())
    try:
        handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError as error:
        logger.debug("Run ids are not made distinct across processes: %s", error)
        return read_clock()
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        stamp = read_clock()
        while read_clock() == stamp:
            time.sleep(0.0002)
        return stamp  # closing the file releases the lock
