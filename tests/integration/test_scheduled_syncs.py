"""The scheduled-syncs schedule, evaluated for real against a real instance and a real run."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from cli.runner import run_in_process
from connector_assets.definitions import build_definitions
from resources.dagster_home import dagster_instance
from resources.metadata import MetadataStore
from resources.settings import get_settings
from resources.store import jobs, sources
from resources.store.models import JobStatus, SyncJob, SyncType
from sensors.scheduled_syncs import SCHEDULE_NAME, TRIGGER

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
    with store.session() as session:
        every_ten = sources.create_source(
            session,
            owner_id="alice",
            tenant_id=None,
            type="local",
            name="every ten minutes",
            config={"path": str(folder)},
            options={"syncIntervalMinutes": 10},
        )
        # No interval (the deployment's default is none) and never synced: never due.
        sources.create_source(
            session,
            owner_id="alice",
            tenant_id=None,
            type="local",
            name="manual",
            config={"path": str(folder)},
        )
        source_id = every_ten.id
        first = jobs.create_job(session, source=every_ten, type=SyncType.FULL, trigger="api")
    instance = dagster_instance(settings)
    run_in_process(settings=settings, instance=instance, store=store, job_id=first.id)

    definitions = build_definitions(settings)
    schedule = definitions.resolve_schedule_def(SCHEDULE_NAME)

    def tick(at: datetime) -> str:
        with dg.build_schedule_context(
            instance=instance, resources=definitions.resources, scheduled_execution_time=at
        ) as context:
            result = schedule.evaluate_tick(context)
        assert not result.run_requests  # jobs only; the sync_requests sensor runs them
        return result.skip_message or ""

    def scheduled() -> list[SyncJob]:
        with store.session() as session:
            rows, _ = jobs.list_jobs(session, source_id=source_id)
            return [job for job in rows if job.trigger == TRIGGER]

    # Ten minutes count from the last request (the first sync's), whatever it was.
    assert tick(first.created_at + timedelta(minutes=9)) == "0 scheduled syncs queued (none)"
    due = first.created_at + timedelta(minutes=10)
    message = tick(due)
    (queued,) = scheduled()
    assert message == f"1 scheduled syncs queued ({queued.id})"
    assert (queued.type, queued.status) == (SyncType.INCREMENTAL, JobStatus.QUEUED)
    # Pending, it is left to the sensor: a later tick queues no second job.
    assert tick(due + timedelta(minutes=30)).startswith("0 scheduled")

    (folder / "note1.md").write_text("# Note 1\n\nEdited.\n")
    run_in_process(settings=settings, instance=instance, store=store, job_id=queued.id)
    with store.session() as session:
        done = jobs.get_job(session, queued.id)
        assert done is not None and done.status is JobStatus.COMPLETED, done and done.error
        assert (done.stats["filesChanged"], done.stats["filesAdded"]) == (1, 0)
    # The next one is due ten minutes after the scheduled job was queued.
    assert tick(queued.created_at + timedelta(minutes=9)).startswith("0 scheduled")
    assert tick(queued.created_at + timedelta(minutes=10)).startswith("1 scheduled")
    assert len(scheduled()) == 2
