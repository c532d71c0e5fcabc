"""Faults on production's configuration (PostgreSQL, the lake on S3, the daemon): a run killed
mid-sync, the daemon stopped while deliveries arrive, the store unreachable for a while.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from sqlalchemy.engine import make_url

from resources import duck
from resources.lake import Lake
from resources.metadata import MetadataStore
from resources.run_tags import JOB_TAG
from resources.store import webhooks
from resources.store.engine import POSTGRES_CONNECT_ARGS, make_engine
from tests.api.conftest import (
    ApiServer,
    create_local_source,
    notes_folder,
    run_daemon,
    run_server,
    serve_repositories,
    watch_job,
)
from tests.fakes.github_server import (
    FakeGithubServer,
    github_server_fixture,  # noqa: F401  (fixture)
)
from tests.fakes.webhooks import Commit, github_delivery, github_push
from tests.gitrepo import head
from tests.profile import (
    POSTGRES_URL,
    PRODUCTION,
    PostgresDatabases,
    Profile,
    S3Server,
    only_in,
)
from tests.runs import table
from tests.tcp_gate import running_gate

pytestmark = [pytest.mark.slow, only_in(PRODUCTION)]

DEADLINE_S = 240
POLL_S = 0.2
# How long an answer may take while the store is unreachable: the 5 s connect (or pool
# checkout) timeout, and slack for a loaded machine.
UNREACHABLE_ANSWER_S = 30
TABLES = {"documents": "file_id", "chunks": "chunk_id", "embeddings": "chunk_id"}

HomeEnv = Callable[[Path], dict[str, str]]


@pytest.fixture
def production(postgres_databases: PostgresDatabases, s3_server: S3Server) -> HomeEnv:
    """Production's variables for a home, whatever the session's profile."""
    return Profile(PRODUCTION, databases=postgres_databases, s3=s3_server).home_env


def _until(check: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + deadline_s
    while not check():
        assert time.monotonic() < deadline, f"not within {deadline_s} s: {what}"
        time.sleep(POLL_S)


# --- kill -9 mid-sync -----------------------------------------------------------------------


def _snapshot(lake: Lake, source_id: str) -> dict[str, tuple[str, int]]:
    """Each table's current version and the rows read from it."""
    found = {}
    for asset, key in TABLES.items():
        version = lake.current(asset, source_id)
        assert version is not None
        con = duck.connect()
        lake.register(con, "t", version)  # this version, whatever is current by now
        ((rows, distinct),) = con.sql(f"SELECT count(*), count(DISTINCT {key}) FROM t").fetchall()
        assert rows == distinct == version.rows, (asset, rows, distinct, version.rows)
        found[asset] = (version.name, rows)
    return found


class Reader:
    """Reads every table's current version of a source, again and again, until stopped."""

    def __init__(self, lake: Lake, source_id: str) -> None:
        self.lake = lake
        self.source_id = source_id
        self.reads: list[dict[str, tuple[str, int]]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.reads.append(_snapshot(self.lake, self.source_id))


def _worker_pid(instance: DagsterInstance, run_id: str) -> int:
    """The process executing the run's steps (its `Executing steps in process` event)."""
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        data = event.engine_event_data if event else None
        if data is not None and "pid" in data.metadata:
            return int(str(data.metadata["pid"].value))
    raise AssertionError(f"run {run_id} names no process")


def test_a_run_killed_mid_sync_is_retried_and_the_last_good_version_stays_readable(
    production: HomeEnv, s3_server: S3Server, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = {**production(home), "HEADWATER_RATE_LIMIT_DEFAULT": "100000/minute"}
    host, port = s3_server.endpoint.split(":")
    # Runs reach the lake through a gate; the API and the test read it directly.
    with running_gate((host, int(port))) as gate:
        gated = env["HEADWATER_DATA_URL"].replace(s3_server.endpoint, f"127.0.0.1:{gate.port}")
        with (
            run_daemon(home, **{**env, "HEADWATER_DATA_URL": gated}),
            run_server(home, **env) as api,
        ):
            folder = notes_folder(tmp_path / "notes", files=4)
            client = api.client("owner")
            created = create_local_source(client, folder)
            source_id = str(created["source"]["id"])
            assert watch_job(client, str(created["syncJob"]["id"]))[-1]["status"] == "completed"
            lake = Lake(url=api.data_url)
            good = _snapshot(lake, source_id)

            (folder / "note1.md").write_text("# Note 1\n\nRewritten.\n" * 20)
            (folder / "added.py").write_text("def added() -> int:\n    return 1\n")
            # Hold the run at its last switch: raw files, documents and chunks are committed,
            # the embeddings are not; kill its process there.
            bucket_path = api.data_url.split("://", 1)[1].split("?", 1)[0]
            gate.hold = f"PUT /{bucket_path}/embeddings/{source_id}/_CURRENT ".encode()
            reader = Reader(lake, source_id)
            with ThreadPoolExecutor(1) as pool:
                reading = pool.submit(reader.run)
                job_id = client.post(f"/sources/{source_id}/sync").json()["job"]["id"]
                assert gate.held.wait(DEADLINE_S)
                instance = api.dagster_instance()
                (killed,) = instance.get_runs(RunsFilter(tags={JOB_TAG: job_id}))
                os.kill(_worker_pid(instance, killed.run_id), signal.SIGKILL)
                killed_at = len(reader.reads)
                gate.hold = None  # the retry runs through
                _until(lambda: len(reader.reads) > killed_at + 1, "a read after the kill")
                dying = reader.reads[killed_at + 1]
                states = watch_job(client, job_id)
                reader.stopped.set()
                reading.result()
            runs = instance.get_runs(RunsFilter(tags={JOB_TAG: job_id}))

    # The job ran on through Dagster's retry of the dead run, never shown failed.
    assert [state["status"] for state in states if state["status"] == "failed"] == []
    assert states[-1]["status"] == "completed"
    retry, dead = runs  # newest first
    assert dead.run_id == killed.run_id and dead.status == DagsterRunStatus.FAILURE
    assert retry.status == DagsterRunStatus.SUCCESS and retry.parent_run_id == dead.run_id
    # Every read (each one consistent: distinct ids == rows == the manifest's count) saw the
    # last good embeddings until the retry switched to the new ones, the dying run's time too.
    after = _snapshot(lake, source_id)
    assert dying["embeddings"] == good["embeddings"]
    seen = [read["embeddings"] for read in reader.reads]
    assert seen == sorted(seen, key=[good["embeddings"], after["embeddings"]].index)
    assert after["embeddings"][0] != good["embeddings"][0]
    assert after["embeddings"][1] == after["chunks"][1]  # one vector per chunk, none twice
    ((added,),) = table(lake, "chunks", source_id, "SELECT count(*) FROM t WHERE path = 'added.py'")
    assert added == 1


# --- the daemon stopped while deliveries arrive --------------------------------------------


def _github_source(api: ApiServer, github: FakeGithubServer, work: Path) -> tuple[str, str, str]:
    """A `github` source of a repository the fake serves, its hook registered; its repository,
    head and secret."""
    full_name = f"acme/{work.name}"
    config = {"owner": "acme", "repo": work.name, "token": github.token, "apiUrl": github.api_url}
    created = api.client("owner").post("/sources", json={"type": "github", "config": config})
    assert created.status_code == 201, created.text
    ((_hook_id, hook),) = github.hooks(full_name).items()
    return full_name, head(work), github.subscription(hook).secret


class Deliveries:
    """Sends signed push deliveries for some sources, one after another, until stopped."""

    def __init__(self, api: ApiServer, targets: list[tuple[str, str, str]]) -> None:
        self.api = api
        self.targets = targets
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[tuple[int, str]] = []
        self.stopped = threading.Event()

    def send(self) -> None:
        client = self.api.anonymous()
        n = 0
        while not self.stopped.is_set():
            full_name, after, secret = self.targets[n % len(self.targets)]
            payload = github_push(
                full_name, branch="main", before="0" * 40, after=after, commits=[Commit(after)]
            )
            delivery = github_delivery(payload, secret=secret)
            answer = client.post(
                "/webhooks/github", content=delivery.body, headers=delivery.headers
            )
            if answer.status_code == 200:
                self.accepted.append(
                    {**answer.json(), "deliveryId": delivery.headers["X-GitHub-Delivery"]}
                )
            else:
                self.refused.append((answer.status_code, answer.text))
            n += 1
            time.sleep(POLL_S)

    def wait_for(self, more: int) -> None:
        target = len(self.accepted) + more
        _until(lambda: len(self.accepted) >= target, f"{more} more deliveries accepted")


def test_deliveries_while_the_daemon_is_down_each_become_one_job_and_one_run(
    production: HomeEnv, github_server: FakeGithubServer, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = {**production(home), "HEADWATER_RATE_LIMIT_DEFAULT": "100000/minute"}
    with run_daemon(home, **env) as daemon, run_server(home, **env) as api:
        works = serve_repositories(github_server, tmp_path, ("api", "web"))
        targets = [_github_source(api, github_server, work) for work in works]
        deliveries = Deliveries(api, targets)
        with ThreadPoolExecutor(1) as pool:
            sender = pool.submit(deliveries.send)
            deliveries.wait_for(3)
            daemon.send_signal(signal.SIGTERM)  # as an operator's restart would
            daemon.wait(timeout=60)
            down_from = len(deliveries.accepted)
            deliveries.wait_for(6)
            down_until = len(deliveries.accepted)
            with run_daemon(home, **env):
                deliveries.wait_for(3)
                deliveries.stopped.set()
                sender.result()
                job_ids = {job for answer in deliveries.accepted for job in answer["jobIds"]}
                client = api.client("owner")
                _until(
                    lambda: all(
                        client.get(f"/jobs/{job_id}").json()["status"] in ("completed", "failed")
                        for job_id in job_ids
                    ),
                    "every delivery's job finished",
                )
        assert deliveries.refused == []
        assert down_until - down_from >= 6  # accepted while no daemon ran
        jobs = {job_id: client.get(f"/jobs/{job_id}").json() for job_id in job_ids}
        assert {job["status"] for job in jobs.values()} == {"completed"}, jobs
        instance = api.dagster_instance()
        for job_id in job_ids:
            runs = instance.get_runs(RunsFilter(tags={JOB_TAG: job_id}))
            assert len(runs) == 1, (job_id, [run.run_id for run in runs])
        store = MetadataStore(database_url=api.database_url)
        with store.session() as session:
            assert webhooks.count_deliveries(session, provider="github") == len(deliveries.accepted)
            for answer in deliveries.accepted:
                assert answer["jobId"] is not None
                stored = webhooks.get_delivery(
                    session, provider="github", delivery_id=answer["deliveryId"]
                )
                assert stored is not None


# --- the store unreachable -------------------------------------------------------------------


def _timed(client: httpx.Client, method: str, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = client.request(method, path)
    return answer, time.monotonic() - started


def test_an_unreachable_store_is_a_prompt_503_and_the_api_recovers_by_itself(
    production: HomeEnv, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = production(home)
    store_url = make_url(env["HEADWATER_DATABASE_URL"])
    postgres = make_url(POSTGRES_URL)
    with running_gate((postgres.host or "127.0.0.1", postgres.port or 5432)) as gate:
        gated = store_url.set(host="127.0.0.1", port=gate.port).render_as_string(
            hide_password=False
        )
        with run_server(home, **{**env, "HEADWATER_DATABASE_URL": gated}) as api:
            client = api.client("owner")
            created = create_local_source(client, notes_folder(tmp_path / "notes"))
            source_id = created["source"]["id"]
            requests = [
                ("GET", "/sources"),
                ("GET", f"/sources/{source_id}"),
                ("GET", "/jobs"),
                ("POST", f"/sources/{source_id}/sync"),
            ] * 5
            assert client.get("/sources").status_code == 200

            gate.cut()
            with ThreadPoolExecutor(len(requests)) as pool:
                answers = list(pool.map(lambda request: _timed(client, *request), requests))
            for answer, took in answers:
                assert answer.status_code == 503, answer.text
                assert answer.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
                assert set(answer.json()["error"]) == {"code", "message", "details"}
                assert int(answer.headers["Retry-After"]) > 0
                assert took < UNREACHABLE_ANSWER_S
            assert httpx.get(f"{api.url}/readyz", timeout=UNREACHABLE_ANSWER_S).status_code == 503

            gate.reopen()
            _until(lambda: client.get("/sources").status_code == 200, "the API answers again", 60)
            assert client.get(f"/sources/{source_id}").json()["id"] == source_id


def test_store_connections_give_up_on_a_vanished_server(postgres_url: str) -> None:
    """What a TCP proxy cannot show (its kernel answers for a vanished server): a connection
    to the store has keepalives and a TCP user timeout, so a partition fails it in seconds."""
    engine = make_engine(postgres_url)
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        with socket.socket(fileno=os.dup(raw.fileno())) as sock:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            idle = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
            assert idle == POSTGRES_CONNECT_ARGS["keepalives_idle"]
            user_timeout = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)
            assert user_timeout == POSTGRES_CONNECT_ARGS["tcp_user_timeout"]
    engine.dispose()
