"""The CLI starts quickly: it imports a command's libraries only when that command runs, so
`headwater --help` loads click alone, `headwater jobs show` no pipeline, API or lake
library and `headwater sources list` no Dagster (see the README's "The command line")."""

from __future__ import annotations

from pathlib import Path

from resources.store import jobs, sources
from resources.store.engine import session_factory, transaction
from resources.store.models import SyncType
from tests.fresh_python import run_fresh

PIPELINE_LIBRARIES = {"dagster", "fastapi", "duckdb", "pyarrow"}


def _imported_by(home: Path, *args: str) -> set[str]:
    """The top-level packages that `headwater ARGS` imports, run in a fresh interpreter."""
    code = """
        import contextlib, io, sys

        from cli.main import cli

        with contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(sys.argv[1:], prog_name="headwater", standalone_mode=False)
        assert not code, code
        print(" ".join(sorted({name.partition(".")[0] for name in sys.modules})))
    """
    return set(run_fresh(code, home, *args).split())


def test_help_imports_click_and_no_library_of_a_command(tmp_path: Path) -> None:
    heavy = _imported_by(tmp_path, "--help") & {*PIPELINE_LIBRARIES, "sqlalchemy", "pydantic"}
    assert not heavy, f"imported by `headwater --help`: {sorted(heavy)}"


def test_showing_a_job_imports_the_store_but_no_pipeline_library(tmp_path: Path) -> None:
    with transaction(session_factory(f"sqlite:///{tmp_path / 'headwater.db'}")) as session:
        source = sources.create_source(
            session, owner_id="local", tenant_id=None, type="local", name="n", config={}
        )
        job_id = jobs.create_job(session, source=source, type=SyncType.FULL, trigger="cli").id
    imported = _imported_by(tmp_path, "jobs", "show", job_id, "--json")
    assert "sqlalchemy" in imported  # it did read the job
    heavy = imported & PIPELINE_LIBRARIES
    assert not heavy, f"imported by `headwater jobs show`: {sorted(heavy)}"


def test_listing_sources_imports_no_dagster(tmp_path: Path) -> None:
    with transaction(session_factory(f"sqlite:///{tmp_path / 'headwater.db'}")) as session:
        sources.create_source(
            session, owner_id="local", tenant_id=None, type="local", name="n", config={}
        )
    imported = _imported_by(tmp_path, "sources", "list", "--json")
    assert "sqlalchemy" in imported  # it did read the sources
    assert "dagster" not in imported
