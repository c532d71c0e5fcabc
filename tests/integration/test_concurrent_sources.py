"""Twenty sources sync at once on production's configuration: PostgreSQL for the store and
Dagster, the lake on S3, the daemon's queued run coordinator with one run per source.

Every source is created through the API (which queues its first sync); once the first run of
one of the first few sources has started, a second sync of it is asked for, which the
coordinator must hold until the first ends. Every job must complete, without a lock or
serialization error anywhere, each source's runs one after the other while different sources'
runs overlap.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import TickStatus

from resources.run_tags import SOURCE_TAG
from tests.api.conftest import ApiServer, create_local_source, notes_folder, run_stack
from tests.profile import PRODUCTION, PostgresDatabases, Profile, S3Server, only_in

pytestmark = [pytest.mark.slow, only_in(PRODUCTION)]

SOURCES = 20
RESYNCED = 5  # sources synced a second time, each while its first run is on
MOST_AT_ONCE = 3  # of the profile's global limit of 4 runs
DEADLINE_S = 420
POLL_S = 0.5
# What PostgreSQL (and SQLite) say when concurrent writers get in each other's way.
LOCK_ERRORS = (
    "could not serialize",
    "SerializationFailure",
    "deadlock detected",
    "LockNotAvailable",
    "database is locked",
    "UniqueViolation",
)


@pytest.fixture
def stack(
    tmp_path: Path, postgres_databases: PostgresDatabases, s3_server: S3Server
) -> Iterator[ApiServer]:
    """The API and the daemon on production's configuration, whatever the session's profile."""
    home = tmp_path / "home"
    env = Profile(PRODUCTION, databases=postgres_databases, s3=s3_server).home_env(home)
    with run_stack(
        home,
        **env,
        HEADWATER_RATE_LIMIT_CREATE_SOURCE="1000/minute",
        HEADWATER_RATE_LIMIT_SYNC="1000/minute",
        HEADWATER_RATE_LIMIT_DEFAULT="100000/minute",
    ) as server:
        yield server


def _second_syncs(client: httpx.Client, first_jobs: dict[str, str]) -> dict[str, str]:
    """Ask for a second sync of each source as soon as its first run has started."""
    second: dict[str, str] = {}
    deadline = time.monotonic() + DEADLINE_S
    while len(second) < len(first_jobs):
        started = f"{len(second)} of {len(first_jobs)}"
        assert time.monotonic() < deadline, f"first runs started: {started}"
        for source_id, job_id in first_jobs.items():
            if source_id in second or client.get(f"/jobs/{job_id}").json()["status"] == "queued":
                continue
            answer = client.post(f"/sources/{source_id}/sync", json={"type": "full"})
            assert answer.status_code == 202, answer.text
            second[source_id] = answer.json()["job"]["id"]
            assert second[source_id] != job_id  # a new job, not joined to the running one
        time.sleep(POLL_S)
    return second


def _finished(client: httpx.Client, job_ids: list[str]) -> dict[str, dict[str, object]]:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        jobs = {job_id: client.get(f"/jobs/{job_id}").json() for job_id in job_ids}
        done = [job for job in jobs.values() if job["status"] in ("completed", "failed")]
        if len(done) == len(jobs):
            return jobs
        assert time.monotonic() < deadline, f"{len(done)} of {len(jobs)} jobs finished"
        time.sleep(POLL_S)


def _failed_ticks(instance: DagsterInstance) -> list[str]:
    """Errors of every sensor tick that failed."""
    errors = []
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        for tick in instance.get_ticks(
            state.instigator_origin_id, state.selector_id, statuses=[TickStatus.FAILURE]
        ):
            errors.append(str(tick.error.message if tick.error else tick))
    return errors


def test_twenty_sources_sync_at_once_one_run_per_source_at_a_time(
    stack: ApiServer, tmp_path: Path
) -> None:
    client = stack.client("owner")
    folders = [notes_folder(tmp_path / f"notes{n}", files=2) for n in range(SOURCES)]
    with ThreadPoolExecutor(SOURCES) as pool:
        created = list(pool.map(lambda folder: create_local_source(client, folder), folders))
    first = {str(body["source"]["id"]): str(body["syncJob"]["id"]) for body in created}
    second = _second_syncs(client, dict(list(first.items())[:RESYNCED]))

    jobs = _finished(client, [*first.values(), *second.values()])
    failed = {job_id: job["error"] for job_id, job in jobs.items() if job["status"] != "completed"}
    assert not failed

    instance = stack.dagster_instance()
    spans: list[tuple[float, float]] = []
    for source_id in first:
        records = instance.get_run_records(RunsFilter(tags={SOURCE_TAG: source_id}))
        runs = 2 if source_id in second else 1
        assert [r.dagster_run.status for r in records] == [DagsterRunStatus.SUCCESS] * runs
        ordered = sorted((r.start_time, r.end_time) for r in records)
        # One source's runs never overlap.
        assert all(end <= start for (_, end), (start, _) in itertools.pairwise(ordered))
        spans += ordered
    # ... while different sources' runs do, up to the global limit (launched in threads: one
    # launch at a time, runs started one after another and rarely overlapped).
    most = max(sum(1 for start, end in spans if start <= at < end) for at, _ in spans)
    assert most >= MOST_AT_ONCE, most
    assert _failed_ticks(instance) == []
    logs = (stack.home / "daemon.log").read_text() + stack.log.read_text()
    assert not [error for error in LOCK_ERRORS if error in logs]
