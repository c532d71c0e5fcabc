"""Real sync runs for tests: queue a job, execute its Dagster run here, read the lake; tick a
schedule."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg

from cli.runner import run_in_process
from resources import duck
from resources.dagster_home import dagster_instance
from resources.lake import Lake
from resources.metadata import MetadataStore
from resources.settings import Settings
from resources.store import jobs, sources
from resources.store.models import SyncJob, SyncType


def run_job(settings: Settings, store: MetadataStore, job_id: str) -> SyncJob:
    """Execute the queued job's run in this process; the job as it ended (detached)."""
    run_in_process(
        settings=settings, instance=dagster_instance(settings), store=store, job_id=job_id
    )
    with store.session() as session:
        job = jobs.get_job(session, job_id)
        assert job is not None
        session.expunge(job)
        return job


def local_source(
    store: MetadataStore, folder: Path, *, options: dict[str, Any] | None = None
) -> str:
    """Add a `local` source of alice's over `folder` (with its own `options`); its id."""
    with store.session() as session:
        return sources.create_source(
            session,
            owner_id="alice",
            tenant_id=None,
            type="local",
            name=folder.name,
            config={"path": str(folder)},
            options=options,
        ).id


def queue_sync(store: MetadataStore, source_id: str, sync: SyncType) -> str:
    """Queue a sync of the source (for a daemon's sensor, or `run_job`); the job's id."""
    with store.session() as session:
        source = sources.get_source(session, source_id)
        assert source is not None
        return jobs.create_job(session, source=source, type=sync, trigger="test").id


def sync_source(
    settings: Settings, store: MetadataStore, source_id: str, sync: SyncType
) -> SyncJob:
    """Queue a sync of the source and run it here; the finished job."""
    return run_job(settings, store, queue_sync(store, source_id, sync))


def table(lake: Lake, asset: str, source_id: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` over the current version of the asset's table (named `t`)."""
    version = lake.current(asset, source_id)
    assert version is not None
    con = duck.connect()
    lake.register(con, "t", version)
    return con.sql(sql).fetchall()


def tick(
    schedule: dg.ScheduleDefinition,
    instance: dg.DagsterInstance,
    resources: Mapping[str, Any],
    *,
    at: datetime | None = None,
) -> str:
    """Evaluate one tick of `schedule` (at its scheduled time `at`); its skip message.

    Headwater's schedules queue jobs and request no runs (the sync_requests sensor runs them).
    """
    with dg.build_schedule_context(
        instance=instance, resources=resources, scheduled_execution_time=at
    ) as context:
        result = schedule.evaluate_tick(context)
    assert not result.run_requests
    return result.skip_message or ""
