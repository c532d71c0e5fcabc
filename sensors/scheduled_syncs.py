"""The scheduled-syncs schedule: sources that ask for it keep themselves fresh.

Every minute, each source whose options in force set `syncIntervalMinutes` (its own, its
connection's, or the deployment's `HEADWATER_SYNC_INTERVAL_MINUTES`) and whose last sync request
of any kind (API, CLI, webhook, reconcile, this schedule) is at least that old gets an
incremental job (trigger `schedule`), unless it has one queued or running. Like every sync
request it is only a `sync_jobs` row: the sync_requests sensor turns it into a run, so the
schedule requests no runs and each tick ends as a skip that says what it queued.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import dagster as dg
from sqlalchemy.orm import Session

from connector_assets.jobs import sync_source
from connector_assets.resources import PipelineSettings
from resources.connectors.options import PipelineOptions
from resources.metadata import MetadataStore
from resources.source_configs import source_options
from resources.store import jobs, sources
from resources.store.models import Source, SyncType

logger = logging.getLogger(__name__)

TRIGGER = "schedule"
SCHEDULE_NAME = "scheduled_syncs"


def due_sources(session: Session, defaults: PipelineOptions, now: datetime) -> list[Source]:
    """Sources with an interval, no pending job, and no sync asked for within the interval."""
    pending = jobs.sources_with_pending_jobs(session)
    intervals = {
        source: minutes
        for source in sources.all_sources(session)
        if (minutes := source_options(defaults, source).sync_interval_minutes)
        and source.id not in pending
    }
    requested = jobs.last_requested(session, [source.id for source in intervals])
    return [
        source
        for source, minutes in intervals.items()
        if (last := requested.get(source.id)) is None or now - last >= timedelta(minutes=minutes)
    ]


def queue_scheduled_syncs(
    store: MetadataStore, defaults: PipelineOptions, now: datetime
) -> list[str]:
    """Queue an incremental job for every due source; the ids of the jobs queued."""
    with store.session() as session:
        queued = [
            jobs.enqueue_sync(session, source=source, type=SyncType.INCREMENTAL, trigger=TRIGGER)
            for source in due_sources(session, defaults, now)
        ]
        for job in queued:
            logger.info("scheduled sync of source %s: job %s", job.source_id, job.id)
        return [job.id for job in queued]


@dg.schedule(
    name=SCHEDULE_NAME,
    cron_schedule="* * * * *",
    job=sync_source,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Queues an incremental sync of each source whose syncIntervalMinutes have passed since "
        "its last sync request (the sync_requests sensor runs it)."
    ),
)
def scheduled_syncs(
    context: dg.ScheduleEvaluationContext, store: MetadataStore, pipeline: PipelineSettings
) -> dg.SkipReason:
    """Queue the due sources' syncs, judged at the tick's scheduled time."""
    now = (context.scheduled_execution_time or datetime.now(UTC)).astimezone(UTC)
    queued = queue_scheduled_syncs(store, PipelineOptions.from_settings(pipeline), now)
    message = f"{len(queued)} scheduled syncs queued ({', '.join(queued) or 'none'})"
    context.log.info(message)
    return dg.SkipReason(message)
