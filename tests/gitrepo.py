"""Real git repositories for tests: run `git` with a fixed author."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

AUTHOR_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git(repo: Path, *args: str) -> None:
    """Run `git -C repo ARGS`, failing the test if git fails."""
    subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        env={**os.environ, **AUTHOR_ENV},
    )


def commit_all(repo: Path, message: str) -> None:
    """Stage everything in the work tree and commit it."""
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", message)
