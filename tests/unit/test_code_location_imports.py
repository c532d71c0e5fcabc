"""Loading the code location stays cheap: every run worker, and the code server the daemon
restarts every minute, imports it before anything else happens (see
docs/api-and-webhook-latency.md)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_loading_the_definitions_imports_no_lake_or_vector_library(tmp_path: Path) -> None:
    code = """
        import sys

        from connector_assets.definitions import defs

        defs().resolve_job_def("sync_source")
        heavy = {"duckdb", "pyarrow", "numpy", "jsonschema"} & set(sys.modules)
        assert not heavy, f"imported when the code location loads: {sorted(heavy)}"
        print("ok")
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HEADWATER_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
