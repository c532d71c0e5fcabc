"""Real sync runs for tests: queue a job, run it in this process, read the lake."""

from __future__ import annotations

from typing import Any

from cli.runner import run_in_process
from resources import duck
from resources.dagster_home import dagster_instance
from resources.lake import Lake
from resources.metadata import MetadataStore
from resources.settings import Settings
from resources.store import jobs, sources
from resources.store.models import SyncJob, SyncType


def sync(settings: Settings, store: MetadataStore, source_id: str, type: SyncType) -> SyncJob:
    """Queue a sync job of `type`, run it as the CLI does without a daemon; the job after."""
    with store.session() as session:
        source = sources.get_source(session, source_id)
        assert source is not None
        job_id = jobs.create_job(session, source=source, type=type, trigger="test").id
    run_in_process(
        settings=settings, instance=dagster_instance(settings), store=store, job_id=job_id
    )
    with store.session() as session:
        job = jobs.get_job(session, job_id)
        assert job is not None
        session.expunge(job)
        return job


def table(lake: Lake, asset: str, source_id: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` over the current version of `asset` of the source, as table `t`."""
    version = lake.current(asset, source_id)
    assert version is not None
    con = duck.connect()
    lake.register(con, "t", version)
    return con.sql(sql).fetchall()
