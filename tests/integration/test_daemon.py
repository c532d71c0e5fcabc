"""The real Dagster daemon: sensor ticks turn queued jobs into runs, one source at a time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, RunsFilter

from resources.dagster_home import WORKSPACE_YAML, create_dagster_storage, prepare_dagster_home
from resources.metadata import MetadataStore
from resources.run_tags import JOB_TAG, SOURCE_TAG
from resources.settings import get_settings
from resources.store import jobs
from resources.store.models import JobStatus, SyncType
from tests.runs import local_source, queue_sync

pytestmark = pytest.mark.slow

DEADLINE_S = 240


@pytest.fixture
def daemon(headwater_home: Path) -> Iterator[DagsterInstance]:
    """A `dagster-daemon run` process on this test's home, stopped afterwards."""
    home = prepare_dagster_home(get_settings())
    create_dagster_storage(home)
    log = (headwater_home / "daemon.log").open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(WORKSPACE_YAML)],
        env={**os.environ, "DAGSTER_HOME": str(home)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield DagsterInstance.get()
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _local_source(store: MetadataStore, folder: Path) -> str:
    folder.mkdir(parents=True)
    for n in range(3):
        (folder / f"note{n}.md").write_text(f"# Note {n}\n\nBody of note {n}.\n")
    return local_source(store, folder)


def test_queued_jobs_become_runs_through_sensor_ticks(
    daemon: DagsterInstance, tmp_path: Path
) -> None:
    store = MetadataStore(database_url=get_settings().resolved_database_url)
    a = _local_source(store, tmp_path / "a")
    b = _local_source(store, tmp_path / "b")
    queued = [
        queue_sync(store, a, SyncType.FULL),
        queue_sync(store, a, SyncType.INCREMENTAL),
        queue_sync(store, b, SyncType.FULL),
    ]
    deadline = time.monotonic() + DEADLINE_S
    while True:
        with store.session() as session:
            states = {job_id: jobs.get_job(session, job_id) for job_id in queued}
            finished = all(job is not None and job.status.finished for job in states.values())
            if finished or time.monotonic() > deadline:
                summary = {k: (v.status, v.error) for k, v in states.items() if v}
                break
        time.sleep(1)
    assert all(status is JobStatus.COMPLETED for status, _ in summary.values()), summary

    assert set(daemon.get_dynamic_partitions("sources")) == {a, b}
    for job_id in queued:
        runs = daemon.get_runs(RunsFilter(tags={JOB_TAG: job_id}))
        assert len(runs) == 1  # run key = job id: one run per job however often the sensor ticks
        with store.session() as session:
            job = jobs.get_job(session, job_id)
            assert job is not None and job.run_id == runs[0].run_id and job.progress == 100
    records = daemon.get_run_records(RunsFilter(tags={SOURCE_TAG: a}))
    spans = sorted((r.start_time, r.end_time) for r in records)
    assert len(spans) == 2
    assert spans[0][1] is not None and spans[1][0] is not None
    assert spans[0][1] <= spans[1][0]  # runs of one source never overlap
