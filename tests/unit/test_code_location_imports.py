"""Loading the code location stays cheap: every run worker, and the code server the daemon
restarts every minute, imports it before anything else happens (see
docs/api-and-webhook-latency.md)."""

from __future__ import annotations

from pathlib import Path

from tests.fresh_python import run_fresh


def test_loading_the_definitions_imports_no_lake_or_vector_library(tmp_path: Path) -> None:
    code = """
        import sys

        from connector_assets.definitions import defs

        defs().resolve_job_def("sync_source")
        heavy = {"duckdb", "pyarrow", "numpy", "jsonschema"} & set(sys.modules)
        assert not heavy, f"imported when the code location loads: {sorted(heavy)}"
        print("ok")
    """
    assert run_fresh(code, tmp_path).strip() == "ok"
