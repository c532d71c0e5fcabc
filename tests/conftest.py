"""Shared fixtures: real PostgreSQL, isolated Headwater homes, Dagster instances."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get(
    "HEADWATER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _postgres_accepts(url: str) -> bool:
    try:
        with psycopg.connect(_libpq(url), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _start_postgres() -> None:
    """Start this machine's cluster the way the machine's docs say (no-op if it runs)."""
    root = Path("/etc/postgresql")
    versions = sorted(p.name for p in root.iterdir()) if root.exists() else []
    if not versions:
        pytest.fail("PostgreSQL is not installed: run `make install` (scripts/bootstrap.sh)")
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
        check=False,
        capture_output=True,
    )


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of a PostgreSQL server that accepts connections (started if stopped)."""
    if not _postgres_accepts(POSTGRES_URL):
        _start_postgres()
        deadline = time.monotonic() + 30
        while not _postgres_accepts(POSTGRES_URL):
            if time.monotonic() > deadline:
                pytest.fail(f"PostgreSQL at {make_url(POSTGRES_URL).host} did not come up")
            time.sleep(0.5)
    return POSTGRES_URL


@pytest.fixture(scope="session")
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh database for this test session, dropped at the end."""
    name = f"headwater_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_libpq(postgres_server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(_libpq(postgres_server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def headwater_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated HEADWATER_HOME (SQLite store, lake, Dagster home) for one test."""
    home = tmp_path / "home"
    monkeypatch.setenv("HEADWATER_HOME", str(home))
    monkeypatch.delenv("HEADWATER_DATABASE_URL", raising=False)
    monkeypatch.delenv("HEADWATER_DATA_URL", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    from resources.settings import get_settings

    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()
