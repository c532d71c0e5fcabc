"""The API under uvicorn on a free loopback port, against its own HEADWATER_HOME."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.auth import mint_token
from resources.dagster_home import DEFAULT_INSTANCE_YAML, PROJECT_ROOT, WORKSPACE_YAML
from tests.fakes.github_server import FAKE_TOKEN, FakeGithubServer, running_github_server
from tests.gitrepo import commit_all, git

SECRET = "test-signing-key-" + "x" * 32
SERVICE_TOKEN = "test-service-token-" + "y" * 32
START_DEADLINE_S = 60
JOB_DEADLINE_S = 240
JOB_POLL_S = 0.2
MAX_REQUEST_BYTES = 4_096
CLEARED = ("HEADWATER_DATABASE_URL", "HEADWATER_DATA_URL", "HEADWATER_REDIS_URL", "DAGSTER_HOME")
REDIS_URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a server on `home`, free of the caller's Headwater settings."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    return {
        **env,
        "HEADWATER_HOME": str(home),
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
    clients: list[httpx.Client] = field(default_factory=list)

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
            env=server_env(home, **env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = ApiServer(url=f"http://127.0.0.1:{port}", home=home, log=log)
    try:
        _wait_until_up(server, process)
        yield server
    finally:
        for client in server.clients:
            client.close()
        process.terminate()
        try:
            process.wait(timeout=20)
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
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True)
    shutil.copyfile(DEFAULT_INSTANCE_YAML, dagster_home / "dagster.yaml")
    with (home / "daemon.log").open("wb") as log:
        daemon = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(WORKSPACE_YAML)],
            env={**server_env(home, **env), "DAGSTER_HOME": str(dagster_home)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with run_server(home, **env) as server:
            yield server
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


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
        for name in ("api", "web"):
            work = root / name
            work.mkdir()
            git(work, "init", "-q", "-b", "main")
            (work / "README.md").write_text(f"# {name}\n")
            commit_all(work, "first")
            server.add_repository("acme", name, source=work)
        yield server
