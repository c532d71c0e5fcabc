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


def write(repo: Path, files: dict[str, str]) -> None:
    """Write text files under `repo`, creating folders."""
    for relative, text in files.items():
        target = repo / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def head(repo: Path) -> str:
    """The commit `HEAD` of `repo` points at."""
    done = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


SEED_FILES = {
    "src/app.py": "print('app')\n",
    "src/util.py": "def helper():\n    return 1\n",
    "src/poetry.lock": "locked\n",
    "docs/guide.md": "# Guide\n",
    "docs/old.md": "# Old\n",
    "README.md": "# Readme\n",
    "node_modules/left-pad/index.js": "module.exports = 1\n",
}


def seeded_repository(repo: Path) -> Path:
    """A new repository at `repo` on branch `main` with `SEED_FILES` in one commit."""
    repo.mkdir(parents=True)
    git(repo, "init", "--quiet", "--initial-branch=main")
    write(repo, SEED_FILES)
    commit_all(repo, "initial")
    return repo
