"""The project run lock: a second run waits or stops, naming the first; a killed run frees it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from customer_retention.core.run_lock import RunLock, RunLockBusy, distinct_stamp, process_alive


def test_a_second_run_that_may_not_wait_stops_naming_the_running_one(tmp_path):
    first = RunLock(tmp_path / ".run.lock")
    first.acquire("run-A", ["retrain"])
    with pytest.raises(RunLockBusy) as busy:
        RunLock(tmp_path / ".run.lock", when_busy="stop").acquire("run-B", ["score"])
    message = str(busy.value)
    assert "run run-A (retrain)" in message and f"process {os.getpid()}" in message
    assert "run_lock.when_busy" in message
    first.release()
    second = RunLock(tmp_path / ".run.lock", when_busy="stop")
    second.acquire("run-B", ["score"])  # free again
    assert second.holder()["run_id"] == "run-B"
    second.release()


def test_a_waiting_run_starts_when_the_first_finishes_and_gives_up_after_its_limit(
    tmp_path, caplog
):
    first = RunLock(tmp_path / ".run.lock")
    first.acquire("run-A", ["retrain"])
    with pytest.raises(RunLockBusy, match="Waited 0.001 minutes"):
        RunLock(tmp_path / ".run.lock", max_wait_minutes=0.001).acquire("run-B", ["score"])
    started = []
    waiter = RunLock(tmp_path / ".run.lock", max_wait_minutes=1)
    thread = threading.Thread(target=lambda: started.append(waiter.acquire("run-B", ["score"])))
    with caplog.at_level("INFO"):
        thread.start()
        time.sleep(0.3)
        assert not started  # still waiting
        first.release()
        thread.join(timeout=10)
    assert started and waiter.held
    assert "Waiting for another run of this project to finish: run run-A" in caplog.text
    waiter.release()


def test_a_killed_run_never_leaves_a_stale_lock(tmp_path):
    code = (
        "import sys, time; from pathlib import Path;"
        "from customer_retention.core.run_lock import RunLock;"
        f"lock = RunLock(Path({str(tmp_path / '.run.lock')!r})); lock.acquire('run-K', ['retrain']);"
        "print('locked', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockBusy, match=f"process {child.pid}"):
            RunLock(tmp_path / ".run.lock", when_busy="stop").acquire("run-B", ["score"])
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        child.kill()
    assert not process_alive(child.pid)
    after = RunLock(tmp_path / ".run.lock", when_busy="stop")
    after.acquire("run-B", ["score"])
    after.release()


def test_an_unknown_busy_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="when_busy"):
        RunLock(tmp_path / ".run.lock", when_busy="queue")


def _stamps_from_processes(tmp_path, processes: int, each: int, distinct: bool) -> list[str]:
    """Kedro's session-id clock read `each` times by `processes` processes started together."""
    read = "distinct_stamp(generate_timestamp, lock)" if distinct else "generate_timestamp()"
    code = (
        "import sys; from pathlib import Path; from kedro.io.core import generate_timestamp;"
        "from customer_retention.core.run_lock import distinct_stamp;"
        f"lock = Path({str(tmp_path / 'ids.lock')!r}); sys.stdin.readline();"
        f"print(' '.join({read} for _ in range({each})))"
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(processes)
    ]
    for child in children:  # every child ready and told to go before any is read
        child.stdin.write("go\n")
        child.stdin.flush()
    outputs = [child.communicate(timeout=60)[0] for child in children]
    return " ".join(outputs).split()


def test_runs_started_together_get_distinct_ids_in_kedros_format(tmp_path):
    plain = _stamps_from_processes(tmp_path, processes=3, each=40, distinct=False)
    assert len(set(plain)) < len(plain)  # Kedro's own clock repeats within a millisecond
    stamps = _stamps_from_processes(tmp_path, processes=3, each=40, distinct=True)
    assert len(stamps) == 120 and len(set(stamps)) == 120
    assert all(len(s) == 24 and s.endswith("Z") and s[10] == "T" for s in stamps)


def test_kedro_sessions_of_this_project_take_their_ids_from_distinct_stamp():
    from kedro.framework.session import session as kedro_session

    import customer_retention.settings  # noqa: F401 (installs the distinct clock)

    clock = kedro_session.generate_timestamp
    assert clock.func is distinct_stamp
    ids = [clock() for _ in range(20)]
    assert len(set(ids)) == 20 and ids == sorted(ids)
