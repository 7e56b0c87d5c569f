"""This process's memory and the machine's, as the runner and the timing hook read them
(Linux ``/proc``; None or 0 where it cannot be read)."""

from __future__ import annotations

import os
import resource
from pathlib import Path

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def process_rss_mb() -> float | None:
    """Resident memory of this process in MB (``/proc/self/statm``); None where unreadable."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * PAGE_BYTES / 1e6


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (``getrusage``; kB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def available_memory_mb() -> tuple[float, float] | None:
    """(MemAvailable, MemTotal) of ``/proc/meminfo`` in MB; None where unreadable."""
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
        info = {key: value.split()[0] for key, value in (line.split(":", 1) for line in lines)}
        return int(info["MemAvailable"]) / 1e3, int(info["MemTotal"]) / 1e3
    except (OSError, KeyError, ValueError, IndexError):
        return None
