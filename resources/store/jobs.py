"""Queries and changes of sync jobs: keyword-only functions over a session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from resources.store.models import JobStatus, Source, SourceStatus, SyncJob, SyncType, utcnow
from resources.store.owners import Owner

# Ids bound into one `IN (...)`: well inside SQLite's and PostgreSQL's limits on parameters.
IN_BATCH = 500


def create_job(session: Session, *, source: Source, type: SyncType, trigger: str) -> SyncJob:
    """Queue a sync of `source`; the sync-request sensor turns it into a run."""
    job = SyncJob(
        source_id=source.id,
        owner_id=source.owner_id,
        tenant_id=source.tenant_id,
        type=type,
        trigger=trigger,
        status=JobStatus.QUEUED,
    )
    session.add(job)
    session.flush()
    return job


def enqueue_sync(session: Session, *, source: Source, type: SyncType, trigger: str) -> SyncJob:
    """Queue a sync, joining a job of the source still waiting in the queue.

    A queued incremental job asked to be full becomes full; a queued full job stays full.
    Callers for one source are serialized, so concurrent requests join one job instead of
    queueing two: a no-op update of the source row takes its row lock on PostgreSQL and the
    write lock on SQLite (a `SELECT ... FOR UPDATE` would lock nothing there), until commit.
    """
    session.execute(
        update(Source).where(Source.id == source.id).values(updated_at=Source.updated_at)
    )
    waiting = session.scalars(
        select(SyncJob)
        .where(SyncJob.source_id == source.id, SyncJob.status == JobStatus.QUEUED)
        .order_by(SyncJob.created_at)
        .limit(1)
        .with_for_update()
    ).first()
    if waiting is None:
        return create_job(session, source=source, type=type, trigger=trigger)
    if type is SyncType.FULL:
        waiting.type = SyncType.FULL
    return waiting


def pending_job(session: Session, *, source_id: str) -> SyncJob | None:
    """A queued or running job of the source, if there is one."""
    return session.scalars(
        select(SyncJob)
        .where(
            SyncJob.source_id == source_id,
            SyncJob.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
        )
        .limit(1)
    ).first()


def sources_with_pending_jobs(session: Session) -> set[str]:
    """The sources with a queued or running job."""
    return set(
        session.scalars(
            select(SyncJob.source_id)
            .where(SyncJob.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
            .distinct()
        )
    )


def last_requested(session: Session, source_ids: Sequence[str]) -> dict[str, datetime]:
    """When each of these sources' latest sync job was asked for (one without jobs is absent).

    Asked a batch of sources at a time, each answered from the (source, created) index, so
    the cost follows the sources asked about rather than the whole job history.
    """
    found: dict[str, datetime] = {}
    for start in range(0, len(source_ids), IN_BATCH):
        latest = (
            select(SyncJob.source_id, func.max(SyncJob.created_at))
            .where(SyncJob.source_id.in_(source_ids[start : start + IN_BATCH]))
            .group_by(SyncJob.source_id)
        )
        found.update({source_id: at for source_id, at in session.execute(latest)})
    return found


def get_job(session: Session, job_id: str, *, owner: Owner | None = None) -> SyncJob | None:
    """The job with this id, or None; with `owner`, only if it belongs to them."""
    job = session.get(SyncJob, job_id)
    if job is None or (owner is not None and not owner.owns(job)):
        return None
    return job


def list_jobs(
    session: Session,
    *,
    owner: Owner | None = None,
    source_id: str | None = None,
    status: JobStatus | None = None,
    limit: int = 20,
) -> tuple[Sequence[SyncJob], int]:
    """Recent jobs (newest first) matching the filters, and how many match in all."""
    query = select(SyncJob)
    if owner is not None:
        query = query.where(owner.clause(SyncJob))
    if source_id is not None:
        query = query.where(SyncJob.source_id == source_id)
    if status is not None:
        query = query.where(SyncJob.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(SyncJob.created_at.desc(), SyncJob.id).limit(limit)).all()
    return rows, total


def queued_jobs(session: Session, *, limit: int = 500) -> Sequence[SyncJob]:
    """Jobs waiting for a run, oldest first."""
    return session.scalars(
        select(SyncJob)
        .where(SyncJob.status == JobStatus.QUEUED)
        .order_by(SyncJob.created_at, SyncJob.id)
        .limit(limit)
    ).all()


def finished_durations(session: Session, *, source_id: str, limit: int = 5) -> list[float]:
    """Wall seconds of the source's latest completed jobs, newest first."""
    rows = session.execute(
        select(SyncJob.started_at, SyncJob.completed_at)
        .where(SyncJob.source_id == source_id, SyncJob.status == JobStatus.COMPLETED)
        .order_by(SyncJob.completed_at.desc())
        .limit(limit)
    ).all()
    return [(done - start).total_seconds() for start, done in rows if start and done]


def report_progress(
    session: Session,
    job_id: str,
    *,
    stage: str,
    progress: int,
    stats: dict[str, Any],
) -> None:
    """Record how far a running job has come; stats merge into what is there."""
    job = session.get(SyncJob, job_id)
    if job is None or job.status.finished:
        return
    job.stage = stage
    job.progress = max(job.progress, min(progress, 99))
    job.stats = {**job.stats, **stats}


def mark_running(session: Session, job_id: str, *, run_id: str, started_at: datetime) -> None:
    """A run picked the job up: the job is running and its source syncing."""
    job = session.get(SyncJob, job_id)
    if job is None or job.status.finished:
        return
    job.status = JobStatus.RUNNING
    job.run_id = run_id
    job.started_at = job.started_at or started_at
    job.source.status = SourceStatus.SYNCING


def close_job(
    session: Session,
    job_id: str,
    *,
    status: JobStatus,
    run_id: str | None = None,
    error: str | None = None,
    completed_at: datetime | None = None,
) -> SyncJob | None:
    """Finish a job once and record what that means for its source.

    Completed: the source is synced, with the time and duration of this sync. Failed: the
    source shows the error. Cancelled: the source goes back to what it was before. Returns
    None, changing nothing, when the job had already finished.
    """
    job = session.get(SyncJob, job_id)
    if job is None or job.status.finished:
        return None
    job.status = status
    job.run_id = run_id or job.run_id
    job.error = error
    job.completed_at = completed_at or utcnow()
    job.started_at = job.started_at or job.completed_at
    source = job.source
    if status is JobStatus.COMPLETED:
        job.progress = 100
        source.status = SourceStatus.SYNCED
        source.last_error = None
        source.last_sync_at = job.completed_at
        source.last_sync_duration_s = (job.completed_at - job.started_at).total_seconds()
    elif status is JobStatus.FAILED:
        source.status = SourceStatus.ERROR
        source.last_error = error
    elif source.status is SourceStatus.SYNCING:
        source.status = SourceStatus.SYNCED if source.last_sync_at else SourceStatus.PENDING
    return job


def running_jobs(session: Session, *, limit: int = 500) -> Sequence[SyncJob]:
    """Jobs a run has picked up and not yet finished."""
    return session.scalars(
        select(SyncJob)
        .where(SyncJob.status == JobStatus.RUNNING)
        .order_by(SyncJob.created_at, SyncJob.id)
        .limit(limit)
    ).all()


def typical_duration(session: Session, *, source_id: str) -> float | None:
    """Median wall seconds of the source's recent completed syncs; None without history."""
    durations = sorted(finished_durations(session, source_id=source_id))
    if not durations:
        return None
    middle = len(durations) // 2
    if len(durations) % 2:
        return durations[middle]
    return (durations[middle - 1] + durations[middle]) / 2
