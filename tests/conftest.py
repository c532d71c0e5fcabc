"""Shared fixtures: real PostgreSQL, isolated Headwater homes, Dagster instances, the profile."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.profile import (
    EMBEDDED,
    HOME_VARIABLES,
    POSTGRES_URL,
    S3_CREDENTIALS,
    PostgresDatabases,
    Profile,
    S3Server,
    activated,
    home_env,
    libpq,
    profile_name,
    running_s3_server,
)


def _postgres_accepts(url: str) -> bool:
    try:
        with psycopg.connect(libpq(url), connect_timeout=2):
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
def postgres_databases(postgres_server: str) -> Iterator[PostgresDatabases]:
    """Fresh databases cloned from templates, all dropped when the session ends."""
    databases = PostgresDatabases(admin_url=postgres_server)
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def postgres_url(postgres_databases: PostgresDatabases) -> str:
    """A fresh, empty database for this test session."""
    return postgres_databases.fresh("empty")


@pytest.fixture
def dagster_postgres_url(postgres_databases: PostgresDatabases) -> str:
    """A fresh database with Dagster's tables, for one test (a libpq URL)."""
    return postgres_databases.fresh("dagster")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A local S3 server (moto) with the tests' bucket; its credentials in the environment."""
    log = tmp_path_factory.mktemp("s3") / "moto.log"
    with pytest.MonkeyPatch.context() as patch, running_s3_server(log) as server:
        for variable, value in S3_CREDENTIALS.items():
            patch.setenv(variable, value)
        yield server


@pytest.fixture(scope="session", autouse=True)
def test_profile(request: pytest.FixtureRequest) -> Iterator[Profile]:
    """The profile every home of this session runs on (HEADWATER_TEST_PROFILE)."""
    name = profile_name()
    if name == EMBEDDED:
        yield Profile(name)
        return
    profile = Profile(
        name,
        databases=request.getfixturevalue("postgres_databases"),
        s3=request.getfixturevalue("s3_server"),
    )
    with activated(profile):
        yield profile


@pytest.fixture
def headwater_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated HEADWATER_HOME (store, lake, Dagster home on the profile's servers)."""
    home = tmp_path / "home"
    monkeypatch.setenv("HEADWATER_HOME", str(home))
    for variable in (*HOME_VARIABLES, "DAGSTER_HOME"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in home_env(home).items():
        monkeypatch.setenv(variable, value)
    from resources.settings import get_settings

    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()
