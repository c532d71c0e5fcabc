"""The scheduled-syncs schedule, evaluated for real against a real instance and real runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from connector_assets.definitions import build_definitions
from resources.dagster_home import dagster_instance
from resources.metadata import MetadataStore
from resources.settings import get_settings
from resources.store import jobs
from resources.store.models import JobStatus, SyncJob, SyncType
from sensors.scheduled_syncs import SCHEDULE_NAME, TRIGGER
from tests.runs import local_source, run_job, sync_source, tick

pytestmark = pytest.mark.slow


def _folder(root: Path) -> Path:
    root.mkdir()
    for n in range(3):
        (root / f"note{n}.md").write_text(f"# Note {n}\n\nBody {n}.\n")
    return root


def test_a_source_with_an_interval_syncs_by_itself_once_per_interval(
    headwater_home: Path, tmp_path: Path
) -> None:
    settings = get_settings()
    store = MetadataStore(database_url=settings.resolved_database_url)
    folder = _folder(tmp_path / "notes")
    source_id = local_source(store, folder, options={"syncIntervalMinutes": 10})
    # No interval (the deployment's default is none) and never synced: never due.
    local_source(store, _folder(tmp_path / "manual"))
    first = sync_source(settings, store, source_id, SyncType.FULL)

    definitions = build_definitions(settings)
    schedule = definitions.resolve_schedule_def(SCHEDULE_NAME)
    instance = dagster_instance(settings)

    def tick_at(at: datetime) -> str:
        return tick(schedule, instance, definitions.resources, at=at)

    def scheduled() -> list[SyncJob]:
        with store.session() as session:
            rows, _ = jobs.list_jobs(session, source_id=source_id)
            return [job for job in rows if job.trigger == TRIGGER]

    # Ten minutes count from the last request (the first sync's), whatever it was.
    assert tick_at(first.created_at + timedelta(minutes=9)) == "0 scheduled syncs queued (none)"
    due = first.created_at + timedelta(minutes=10)
    message = tick_at(due)
    (queued,) = scheduled()
    assert message == f"1 scheduled syncs queued ({queued.id})"
    assert (queued.type, queued.status) == (SyncType.INCREMENTAL, JobStatus.QUEUED)
    # Pending, it is left to the sensor: a later tick queues no second job.
    assert tick_at(due + timedelta(minutes=30)).startswith("0 scheduled")

    (folder / "note1.md").write_text("# Note 1\n\nEdited.\n")
    done = run_job(settings, store, queued.id)
    assert done.status is JobStatus.COMPLETED, done.error
    assert (done.stats["filesChanged"], done.stats["filesAdded"]) == (1, 0)
    # The next one is due ten minutes after the scheduled job was queued.
    assert tick_at(queued.created_at + timedelta(minutes=9)).startswith("0 scheduled")
    assert tick_at(queued.created_at + timedelta(minutes=10)).startswith("1 scheduled")
    assert len(scheduled()) == 2
