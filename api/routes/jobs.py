"""Sync jobs: list, show and cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from api.auth import User
from api.deps import (
    CurrentUser,
    InstanceDep,
    OwnedJob,
    RateLimited,
    SessionDep,
    SettingsDep,
    in_store,
    owned_job,
)
from api.errors import ERROR_RESPONSES, JOB_MISSING, ApiError, ErrorCode, error_doc
from api.schemas import JobListOut, JobOut
from api.views import job_view
from resources import dagster_runs
from resources.store import jobs
from resources.store.models import JobStatus

router = APIRouter(
    prefix="/jobs", tags=["jobs"], dependencies=[RateLimited], responses=ERROR_RESPONSES
)


@router.get("")
def list_jobs(
    session: SessionDep,
    user: CurrentUser,
    source_id: Annotated[str | None, Query(alias="sourceId", max_length=64)] = None,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> JobListOut:
    """List the current user's recent sync jobs, newest first."""
    rows, total = jobs.list_jobs(
        session, owner=user.owner, source_id=source_id, status=status, limit=limit
    )
    return JobListOut(jobs=[job_view(job) for job in rows], total=total)


@router.get("/{job_id}", responses=JOB_MISSING)
async def get_job(job_id: str, user: CurrentUser, settings: SettingsDep) -> JobOut:
    """Show a job's status, progress, stats and (while running) its likely completion."""
    return await in_store(settings, _job_out, job_id, user)


def _job_out(session: Session, job_id: str, user: User) -> JobOut:
    job = owned_job(session, job_id, user)
    running = job.status is JobStatus.RUNNING
    typical = jobs.typical_duration(session, source_id=job.source_id) if running else None
    return job_view(job, typical_duration_s=typical)


@router.post(
    "/{job_id}/cancel",
    responses={**JOB_MISSING, 409: error_doc("CONFLICT: the job already finished.")},
)
def cancel_job(job: OwnedJob, session: SessionDep, instance: InstanceDep) -> JobOut:
    """Cancel a queued or running job; its Dagster run is terminated."""
    if jobs.close_job(session, job.id, status=JobStatus.CANCELLED) is None:
        raise ApiError(
            409,
            ErrorCode.CONFLICT,
            f"Job with ID {job.id} already {job.status.value}",
            details={"status": job.status.value},
        )
    dagster_runs.cancel_runs(instance, dagster_runs.unfinished_runs(instance, job_id=job.id))
    return job_view(job)
