"""Where a result came from: the git commit of the code that produced it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent


def _git(cwd: Path, *args: str) -> str | None:
    """Output of ``git <args>`` in ``cwd``; None when git or the checkout is unavailable."""
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip()


def git_state(path: Path = PACKAGE_DIR) -> dict[str, Any]:
    """``git_commit`` of the checkout holding ``path`` (None outside one) and ``git_dirty``."""
    commit = _git(path, "rev-parse", "HEAD") or None
    if commit is None:
        return {"git_commit": None, "git_dirty": None}
    status = _git(path, "status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def git_commit(path: Path = PACKAGE_DIR) -> str:
    """The commit of the code (``"unknown"`` outside a git checkout)."""
    return git_state(path)["git_commit"] or "unknown"
