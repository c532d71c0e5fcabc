"""What the tests run Headwater on: the embedded defaults, or production's servers.

`HEADWATER_TEST_PROFILE=production` puts every Headwater home a test makes (`headwater_home`,
`run_server`, `run_stack`, a CLI's home) on production's configuration: a fresh metadata
database and a fresh Dagster database (`deploy/dagster.yaml`, dagster-postgres and the
queued run coordinator) on the machine's PostgreSQL, cloned from templates migrated once per
test process, and the lake under a fresh prefix of a local S3 server (moto in server mode).
The default, `embedded`, leaves a home on its SQLite files and its local lake.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx
import psycopg
import pyarrow.fs as pafs
import pytest
from sqlalchemy.engine import make_url

from resources.instance_config import DEPLOY_INSTANCE_YAML
from resources.lake import Lake
from resources.ports import free_port
from resources.store.engine import make_engine, migrate

PROFILE_VARIABLE = "HEADWATER_TEST_PROFILE"
EMBEDDED, PRODUCTION = "embedded", "production"
POSTGRES_URL = os.environ.get(
    "HEADWATER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
MAX_CONCURRENT_RUNS = "4"
BUCKET = "headwater-test"
REGION = "us-east-1"
# moto takes any credentials; the AWS SDK must not go looking for others.
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}
# Every variable a profile sets for a home (the embedded profile leaves them unset).
HOME_VARIABLES = (
    "HEADWATER_DATABASE_URL",
    "HEADWATER_DATA_URL",
    "HEADWATER_DAGSTER_YAML",
    "HEADWATER_DAGSTER_POSTGRES_URL",
    "HEADWATER_MAX_CONCURRENT_RUNS",
)
SERVER_START_DEADLINE_S = 30
DROP_THREADS = 8

Kind = Literal["empty", "metadata", "dagster"]


def profile_name() -> str:
    """The profile this test run asked for."""
    name = os.environ.get(PROFILE_VARIABLE, EMBEDDED)
    if name not in (EMBEDDED, PRODUCTION):
        raise ValueError(f"{PROFILE_VARIABLE} must be {EMBEDDED!r} or {PRODUCTION!r}, not {name!r}")
    return name


def only_in(profile: str) -> pytest.MarkDecorator:
    """Skip a test outside `profile`'s pass of `make test`: one that builds production's
    set-up itself (run once, not twice), or one about the embedded defaults."""
    return pytest.mark.skipif(
        profile_name() != profile,
        reason=f"runs in make test's {profile} pass ({PROFILE_VARIABLE}={profile})",
    )


def libpq(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as libpq (psycopg, Dagster) spells it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def dagster_url(url: str) -> str:
    """A PostgreSQL URL as dagster-postgres needs it: on psycopg2, whose client-side binding
    its `NOTIFY` statement relies on (SQLAlchemy 2.1 picks psycopg 3 for `postgresql://`)."""
    return make_url(url).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


@dataclass
class PostgresDatabases:
    """Fresh databases on one server, cloned from templates made on first use; dropped at the end.

    Cloning a template costs a fraction of migrating a database (or letting Dagster create its
    tables); dropping forces a checkpoint, so the drops run together, once.
    """

    admin_url: str
    templates: dict[str, str] = field(default_factory=dict)
    made: list[str] = field(default_factory=list)

    def fresh(self, kind: Kind) -> str:
        """The URL of a new database: empty, migrated, or with Dagster's tables."""
        template = None if kind == "empty" else self.templates.get(kind) or self._template(kind)
        url = self._create(template=template)
        return dagster_url(url) if kind == "dagster" else url

    def drop_all(self) -> None:
        """Drop every database made here, templates included."""
        with ThreadPoolExecutor(DROP_THREADS) as pool:
            list(pool.map(self._drop, self.made))
        self.made.clear()
        self.templates.clear()

    def _template(self, kind: Literal["metadata", "dagster"]) -> str:
        url = self._create(template=None)
        if kind == "metadata":
            engine = make_engine(url)
            migrate(engine)
            engine.dispose()
        else:
            _create_dagster_tables(dagster_url(url))
        name = make_url(url).database
        assert name is not None
        self.templates[kind] = name
        return name

    def _create(self, *, template: str | None) -> str:
        name = f"headwater_test_{uuid.uuid4().hex[:12]}"
        clause = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(libpq(self.admin_url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{clause}')
        self.made.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def _drop(self, name: str) -> None:
        with psycopg.connect(libpq(self.admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _create_dagster_tables(url: str) -> None:
    """Let Dagster create its run, event-log and schedule tables in the database at `url`."""
    from dagster import DagsterInstance

    with tempfile.TemporaryDirectory() as home, environ(_dagster_env(url)):
        (Path(home) / "dagster.yaml").write_bytes(DEPLOY_INSTANCE_YAML.read_bytes())
        instance = DagsterInstance.from_config(home)  # creates the tables of all three storages
        instance.get_runs(limit=1)
        instance.dispose()


def _dagster_env(url: str) -> dict[str, str]:
    return {
        "HEADWATER_DAGSTER_POSTGRES_URL": url,
        "HEADWATER_MAX_CONCURRENT_RUNS": MAX_CONCURRENT_RUNS,
    }


@contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    """`values` in this process's environment for the block, the old ones back after it."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class S3Server:
    """moto in server mode on a loopback port, with one bucket for the tests' lakes."""

    endpoint: str
    process: subprocess.Popen[bytes]

    def lake_url(self, prefix: str) -> str:
        """An S3 lake URL under `prefix` of the test bucket, as an operator would write it."""
        return (
            f"s3://{BUCKET}/{prefix}?endpoint_override={self.endpoint}&scheme=http&region={REGION}"
        )


@contextmanager
def running_s3_server(log: Path) -> Iterator[S3Server]:
    """Start moto's S3 server on a free loopback port, make the bucket, stop it afterwards."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = S3Server(endpoint=f"127.0.0.1:{port}", process=process)
    try:
        wait_for_http(f"http://{server.endpoint}/", process, log, name="moto")
        fs = pafs.S3FileSystem(
            access_key=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            secret_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            endpoint_override=server.endpoint,
            scheme="http",
            region=REGION,
            allow_bucket_creation=True,
        )
        fs.create_dir(BUCKET)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=20)


def wait_for_http(url: str, process: subprocess.Popen[bytes], log: Path, *, name: str) -> None:
    """Wait until `url` answers over HTTP (any status), failing with `log` if `process` exits."""
    deadline = time.monotonic() + SERVER_START_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited early:\n{log.read_text()[-3000:]}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{name} did not come up:\n{log.read_text()[-3000:]}")


@dataclass
class Profile:
    """The variables that put a home on this profile's servers (none: the embedded defaults)."""

    name: str
    databases: PostgresDatabases | None = None
    s3: S3Server | None = None
    homes: dict[Path, dict[str, str]] = field(default_factory=dict)

    def home_env(self, home: Path) -> dict[str, str]:
        """The same variables every time for one home: its own databases and lake prefix."""
        if self.databases is None or self.s3 is None:
            return {}
        key = home.resolve()
        if key not in self.homes:
            self.homes[key] = {
                "HEADWATER_DATABASE_URL": self.databases.fresh("metadata"),
                "HEADWATER_DATA_URL": self.s3.lake_url(f"lake-{uuid.uuid4().hex[:12]}"),
                "HEADWATER_DAGSTER_YAML": str(DEPLOY_INSTANCE_YAML),
                "HEADWATER_DAGSTER_POSTGRES_URL": self.databases.fresh("dagster"),
                "HEADWATER_MAX_CONCURRENT_RUNS": MAX_CONCURRENT_RUNS,
            }
        return self.homes[key]


_active = Profile(EMBEDDED)


@contextmanager
def activated(profile: Profile) -> Iterator[Profile]:
    """Serve `profile` to `home_env` for the block (the session fixture does this)."""
    global _active
    previous, _active = _active, profile
    try:
        yield profile
    finally:
        _active = previous


def home_env(home: Path) -> dict[str, str]:
    """The variables of `home` under the active profile."""
    return _active.home_env(home)


def process_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment for a Headwater process on `home`, under the active profile.

    Variables a profile sets are cleared first, so a home never inherits another's.
    """
    inherited = {
        k: v for k, v in os.environ.items() if k not in HOME_VARIABLES and k != "DAGSTER_HOME"
    }
    return {**inherited, "HEADWATER_HOME": str(home), **home_env(home), **extra}


def database_url(env: dict[str, str], home: Path) -> str:
    """The metadata store a process with `env` on `home` uses."""
    return env.get("HEADWATER_DATABASE_URL") or f"sqlite:///{home / 'headwater.db'}"


def lake_url(env: dict[str, str], home: Path) -> str:
    """The lake a process with `env` on `home` uses."""
    return env.get("HEADWATER_DATA_URL") or str(home / "lake")


def lake_objects(url: str, source_id: str) -> list[str]:
    """Every file (object) the lake at `url` holds for a source, in any table."""
    opened = Lake(url=url).opened
    tables = opened.fs.get_file_info(pafs.FileSelector(opened.root, allow_not_found=True))
    found: list[str] = []
    for table in tables:
        selector = pafs.FileSelector(
            f"{table.path}/{source_id}", recursive=True, allow_not_found=True
        )
        found += [
            info.path
            for info in opened.fs.get_file_info(selector)
            if info.type == pafs.FileType.File
        ]
    return found


def stored_bytes(url: str) -> bytes:
    """All a metadata store holds, as bytes: its SQLite files, or every PostgreSQL row as text."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        return b"".join(p.read_bytes() for p in path.parent.glob(f"{path.name}*"))
    with psycopg.connect(libpq(url)) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        ]
        rows = [
            str(row[0]).encode()
            for table in tables
            for row in conn.execute(f'SELECT t::text FROM "{table}" t')
        ]
    return b"\n".join(rows)
