"""Code run in a fresh interpreter with a bare environment: what a process imports on its own."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_fresh(code: str, home: Path, *args: str) -> str:
    """The output of `code` (dedented; ARGS as `sys.argv[1:]`) run on Headwater home `home`
    with no other variable than PATH, once it exited 0."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HEADWATER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
