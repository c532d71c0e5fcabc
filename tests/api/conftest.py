"""The API under uvicorn on a free loopback port, against its own HEADWATER_HOME."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from dagster import DagsterInstance

from api.auth import mint_token
from resources.dagster_home import PROJECT_ROOT, WORKSPACE_YAML, create_dagster_storage
from resources.instance_config import DEFAULT_INSTANCE_YAML
from resources.metadata import MetadataStore
from resources.settings import Settings, get_settings
from resources.store.models import SyncJob
from tests.fakes.github_server import FAKE_TOKEN, FakeGithubServer, running_github_server
from tests.gitrepo import commit_all, git
from tests.profile import (
    HOME_VARIABLES,
    database_url,
    environ,
    free_port,
    lake_url,
    process_env,
)
from tests.runs import run_job

SECRET = "test-signing-key-" + "x" * 32
SERVICE_TOKEN = "test-service-token-" + "y" * 32
START_DEADLINE_S = 60
JOB_DEADLINE_S = 240
JOB_POLL_S = 0.2
MAX_REQUEST_BYTES = 4_096
REDIS_URL = "redis://127.0.0.1:6379/0"


def server_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a server on `home` under the test profile, free of the caller's."""
    env = {k: v for k, v in process_env(home).items() if k != "HEADWATER_REDIS_URL"}
    return {
        **env,
        "HEADWATER_JWT_SECRET": SECRET,
        "HEADWATER_SERVICE_TOKEN": SERVICE_TOKEN,
        "HEADWATER_MAX_REQUEST_BYTES": str(MAX_REQUEST_BYTES),
        **extra,
    }


@dataclass
class ApiServer:
    """A running API and helpers to call it as some user."""

    url: str
    home: Path
    log: Path
    env: dict[str, str]
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        """The server's metadata store."""
        return database_url(self.env, self.home)

    @property
    def data_url(self) -> str:
        """The server's lake."""
        return lake_url(self.env, self.home)

    def store(self) -> MetadataStore:
        """The server's metadata store, opened in this process."""
        return MetadataStore(database_url=self.database_url)

    def dagster_instance(self) -> DagsterInstance:
        """The server's Dagster instance (its home's), opened in this process."""
        with environ(self.env):
            return DagsterInstance.from_config(str(self.home / "dagster"))

    def client(self, user: str | None = None, *, tenant: str | None = None) -> httpx.Client:
        """An HTTP client acting as `user` (a fresh random user if None)."""
        token = mint_token(SECRET, user=user or new_user(), tenant=tenant, ttl=timedelta(hours=1))
        client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        self.clients.append(client)
        return client

    def anonymous(self) -> httpx.Client:
        """An HTTP client without credentials."""
        client = httpx.Client(base_url=self.url, timeout=60)
        self.clients.append(client)
        return client


LOG_TAIL_BYTES = 6_000


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing test's report carries the tail of its API's and daemon's logs: what the
    server saw (a 503's cause, a traceback) is otherwise gone with the test's home."""
    report = yield
    if report.failed:
        servers = [v for v in getattr(item, "funcargs", {}).values() if isinstance(v, ApiServer)]
        for server in servers:
            for log in (server.log, server.home / "daemon.log"):
                if log.exists():
                    with log.open("rb") as file:
                        file.seek(max(0, log.stat().st_size - LOG_TAIL_BYTES))
                        tail = file.read().decode(errors="replace")
                    report.sections.append((f"{log.name} (tail)", tail))
    return report


def new_user() -> str:
    """A user id no other test (or earlier run, in a shared Redis) has used."""
    return f"user-{uuid.uuid4().hex[:12]}"


@contextmanager
def run_server(home: Path, *, workers: int = 1, **env: str) -> Iterator[ApiServer]:
    """Start `uvicorn --factory api.main:create_app` (`workers` processes) on `home`; stop it
    afterwards."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = home / f"api-{port}.log"
    env = server_env(home, **env)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "api.main:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = ApiServer(url=f"http://127.0.0.1:{port}", home=home, log=log, env=env)
    try:
        _wait_until_up(server, process)
        yield server
    finally:
        for client in server.clients:
            client.close()
        stop(process)


def stop(process: subprocess.Popen[bytes], *, grace_s: float = 20) -> None:
    """Terminate a server process; kill it if it has not exited within `grace_s`."""
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _wait_until_up(server: ApiServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the API exited early:\n{server.log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"the API did not come up:\n{server.log.read_text()[-3000:]}")


@contextmanager
def run_stack(home: Path, **env: str) -> Iterator[ApiServer]:
    """The API and one `dagster-daemon run` on one fresh home; both stopped afterwards."""
    with run_daemon(home, **env), run_server(home, **env) as server:
        yield server


@contextmanager
def run_daemon(home: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """`dagster-daemon run` on `home` (its Dagster home made on first use), stopped afterwards.

    Its output is appended to `home/daemon.log`, so a daemon started again keeps the log.
    """
    dagster_home = home / "dagster"
    daemon_env = server_env(home, **env)
    if not dagster_home.exists():
        dagster_home.mkdir(parents=True)
        instance_yaml = daemon_env.get("HEADWATER_DAGSTER_YAML", DEFAULT_INSTANCE_YAML)
        shutil.copyfile(instance_yaml, dagster_home / "dagster.yaml")
    with environ(daemon_env):
        create_dagster_storage(dagster_home)  # as `headwater up` does before its children start
    with (home / "daemon.log").open("ab") as log:
        daemon = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(WORKSPACE_YAML)],
            env={**daemon_env, "DAGSTER_HOME": str(dagster_home)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield daemon
    finally:
        stop(daemon, grace_s=30)


def watch_job(client: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    """Poll a job until it finishes; every state seen, in order."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + JOB_DEADLINE_S
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
        if not seen or (job["status"], job["progress"]) != (
            seen[-1]["status"],
            seen[-1]["progress"],
        ):
            seen.append(job)
        if job["status"] in ("completed", "failed", "cancelled"):
            return seen
        time.sleep(JOB_POLL_S)
    pytest.fail(f"job {job_id} did not finish: {seen[-1:]}")


RunHere = Callable[[ApiServer, str], SyncJob]


def settings_like(server: ApiServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """This process's settings switched to the server's home and profile, as its daemon's."""
    for name in HOME_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # DAGSTER_HOME set here (not by a run) is restored afterwards.
    here = {"DAGSTER_HOME": str(server.home / "dagster")}
    for name, value in {**server.env, **here}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def run_here(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunHere]:
    """Runs a job a server queued in this process, on the server's home and settings (the
    API's own tests start no daemon)."""

    def run(server: ApiServer, job_id: str) -> SyncJob:
        settings = settings_like(server, monkeypatch)
        return run_job(settings, MetadataStore(database_url=settings.resolved_database_url), job_id)

    yield run
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """One API on a fresh home for the module, rate limits counted in the metadata store."""
    with run_server(tmp_path_factory.mktemp("api") / "home") as server:
        yield server


def notes_folder(root: Path, files: int = 3) -> Path:
    """A folder of markdown and Python files for a `local` source."""
    root.mkdir(parents=True, exist_ok=True)
    for n in range(files):
        (root / f"note{n}.md").write_text(f"# Note {n}\n\nBody of note {n}.\n")
    return root


def create_local_source(client: httpx.Client, folder: Path) -> dict[str, object]:
    """POST /sources for a `local` folder; the 201 body."""
    response = client.post("/sources", json={"type": "local", "config": {"path": str(folder)}})
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGithubServer]:
    """A fake GitHub serving two private repositories, for the whole module."""
    root = tmp_path_factory.mktemp("github")
    with running_github_server(root / "served", token=FAKE_TOKEN) as server:
        serve_repositories(server, root, ("api", "web"))
        yield server


def serve_repositories(server: FakeGithubServer, root: Path, names: Iterable[str]) -> list[Path]:
    """Serve `acme/NAME` for each name, a README committed on `main`; their work trees."""
    works = []
    for name in names:
        work = root / name
        work.mkdir()
        git(work, "init", "-q", "-b", "main")
        (work / "README.md").write_text(f"# {name}\n")
        commit_all(work, "first")
        server.add_repository("acme", name, source=work)
        works.append(work)
    return works
