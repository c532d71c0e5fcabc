"""Syncs on dagster-celery: the daemon's runs send their steps to two Celery worker processes
on the machine's RabbitMQ, and the lake ends up as an in-process run leaves it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterEventType, DagsterInstance, RunsFilter
from kombu import Connection

from resources.dagster_home import PROJECT_ROOT, WORKSPACE_YAML, prepare_dagster_home
from resources.lake import Lake
from resources.metadata import MetadataStore
from resources.run_tags import SOURCE_TAG
from resources.settings import get_settings
from resources.store import jobs
from resources.store.models import JobStatus, SyncType
from tests.profile import PRODUCTION, only_in, process_env
from tests.runs import local_source, queue_sync, sync_source, table

pytestmark = [pytest.mark.slow, only_in(PRODUCTION)]

BIN = Path(sys.executable).parent
BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"
CELERY_YAML = PROJECT_ROOT / "deploy" / "celery.yaml"
# No gossip or mingling with other workers on the broker: these two only take our queue's tasks.
QUIET = ["--without-gossip", "--without-mingle"]
START_DEADLINE_S = 120
STOP_GRACE_S = 30
SYNC_DEADLINE_S = 240
STAGES = ("raw_files", "documents", "chunks", "embeddings")
FOLDERS = {
    "notes": {"a.md": "# A\n\nAlpha paragraph.\n", "b.txt": "Plain text about beta.\n"},
    "code": {"m.py": "def one() -> int:\n    return 1\n", "r.md": "# Readme\n\nUse m.\n"},
}


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def rabbitmq() -> str:
    """The machine's RabbitMQ broker URL, the server started the machine's way if it is down."""
    if not _accepts(5672):
        subprocess.run(["rabbitmq-server", "-detached"], check=False, capture_output=True)
        deadline = time.monotonic() + START_DEADLINE_S
        while not _accepts(5672):
            if time.monotonic() > deadline:
                pytest.fail("RabbitMQ did not come up on 127.0.0.1:5672")
            time.sleep(0.5)
    return BROKER


@contextmanager
def celery_workers(env: dict[str, str], *, names: list[str], log_dir: Path) -> Iterator[None]:
    """`dagster-celery worker start` for each name, on the queue of `env`; all stopped after."""
    # dagster-celery runs the `celery` command it finds on PATH: this virtualenv's.
    env = {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"}
    command = [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
    command += ["-y", str(CELERY_YAML), "-q", env["HEADWATER_CELERY_QUEUE"]]
    command += ["-i", "connector_assets.definitions"]
    workers = []
    for name in names:
        with (log_dir / f"{name}.log").open("wb") as log:
            workers.append(
                subprocess.Popen(
                    [*command, "-n", name, "--", "--concurrency=1", *QUIET],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Its own process group: the wrapper, celery and its pool stop together.
                    start_new_session=True,
                )
            )
    try:
        yield
    finally:
        stop_groups(workers)
        with Connection(env["HEADWATER_CELERY_BROKER_URL"]) as connection:
            connection.default_channel.queue_delete(env["HEADWATER_CELERY_QUEUE"])
            connection.default_channel.exchange_delete(env["HEADWATER_CELERY_QUEUE"])


def stop_groups(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM (Celery's warm shutdown) to each process's group; SIGKILL what outlives the grace."""
    for process in processes:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    alive = list(processes)
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [process for process in alive if _group_alive(process)]
    for process in alive:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    for process in processes:
        process.wait(timeout=10)


def _group_alive(process: subprocess.Popen[bytes]) -> bool:
    process.poll()  # once reaped, the leader no longer holds its group open
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until_ready(names: list[str], log_dir: Path) -> None:
    """Until every worker consumes from its queue (celery logs `NAME@HOST ready.`)."""
    deadline = time.monotonic() + START_DEADLINE_S
    pending = set(names)
    while pending:
        pending = {n for n in pending if "ready." not in (log_dir / f"{n}.log").read_text()}
        if time.monotonic() > deadline:
            logs = {n: (log_dir / f"{n}.log").read_text()[-2000:] for n in pending}
            pytest.fail(f"Celery workers did not start: {logs}")
        time.sleep(0.3)


@contextmanager
def dagster_daemon(env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(WORKSPACE_YAML)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)


def add_source(store: MetadataStore, folder: Path, files: dict[str, str]) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return local_source(store, folder)


def wait_for_jobs(store: MetadataStore, job_ids: list[str]) -> dict[str, Any]:
    deadline = time.monotonic() + SYNC_DEADLINE_S
    while True:
        with store.session() as session:
            found = [jobs.get_job(session, job_id) for job_id in job_ids]
            states = {j.id: (j.status, j.error) for j in found if j is not None}
        if all(status.finished for status, _ in states.values()) or time.monotonic() > deadline:
            return states
        time.sleep(1)


def contents(lake: Lake, source_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """What a sync made of a source, without the ids that name the source."""
    return {
        "documents": table(
            lake,
            "documents",
            source_id,
            "SELECT path, content_hash, language, text FROM t ORDER BY 1",
        ),
        "chunks": table(
            lake,
            "chunks",
            source_id,
            "SELECT path, ordinal, text_hash, token_count, kind FROM t ORDER BY 1, 2",
        ),
        "embeddings": table(
            lake, "embeddings", source_id, "SELECT text_hash, model, vector FROM t ORDER BY 1"
        ),
    }


def step_workers(instance: DagsterInstance, run_id: str) -> dict[str, str]:
    """Step key -> the Celery worker that ran it, from the run's engine events."""
    found = {}
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        assert event is not None
        metadata = event.engine_event_data.metadata
        if "Celery worker" in metadata:
            found[str(event.step_key)] = str(metadata["Celery worker"].value)
    return found


def test_syncs_spread_their_steps_over_two_celery_workers_with_in_process_results(
    headwater_home: Path, rabbitmq: str, tmp_path: Path
) -> None:
    settings = get_settings()
    store = MetadataStore(database_url=settings.resolved_database_url)
    instance = DagsterInstance.from_config(str(prepare_dagster_home(settings)))
    tag = uuid.uuid4().hex[:8]
    names = [f"headwater-{tag}-a", f"headwater-{tag}-b"]
    env = process_env(
        headwater_home,
        DAGSTER_HOME=os.environ["DAGSTER_HOME"],
        HEADWATER_EXECUTOR="celery",
        HEADWATER_CELERY_BROKER_URL=rabbitmq,
        HEADWATER_CELERY_QUEUE=f"headwater-test-{tag}",
    )
    with (
        celery_workers(env, names=names, log_dir=tmp_path),
        dagster_daemon(env, headwater_home / "daemon.log"),
    ):
        wait_until_ready(names, tmp_path)
        on_celery = {name: add_source(store, tmp_path / name, f) for name, f in FOLDERS.items()}
        queued = [queue_sync(store, source_id, SyncType.FULL) for source_id in on_celery.values()]
        states = wait_for_jobs(store, queued)
    assert all(status is JobStatus.COMPLETED for status, _ in states.values()), states

    # The same folders synced in this process, with no daemon left to race it for the jobs.
    in_process = {name: local_source(store, tmp_path / name) for name in FOLDERS}
    for source_id in in_process.values():
        assert sync_source(settings, store, source_id, SyncType.FULL).status is JobStatus.COMPLETED

    lake = Lake(url=settings.resolved_data_url)
    used: set[str] = set()
    for name, source_id in on_celery.items():
        [run] = instance.get_runs(RunsFilter(tags={SOURCE_TAG: source_id}))
        workers = step_workers(instance, run.run_id)
        assert set(workers) == set(STAGES)  # every step ran on a Celery worker
        used |= {worker.split("@")[0] for worker in workers.values()}
        assert contents(lake, source_id) == contents(lake, in_process[name])
    assert used == set(names)  # the steps spread over both workers
