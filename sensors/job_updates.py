"""Mirror a Dagster run's status into its sync job row and its source."""

from __future__ import annotations

from datetime import UTC, datetime

from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.storage.tags import WILL_RETRY_TAG

from resources.metadata import MetadataStore
from resources.run_tags import JOB_TAG
from resources.store import jobs
from resources.store.models import JobStatus

FINAL_STATUSES = {
    DagsterRunStatus.SUCCESS: JobStatus.COMPLETED,
    DagsterRunStatus.FAILURE: JobStatus.FAILED,
    DagsterRunStatus.CANCELED: JobStatus.CANCELLED,
}


def apply_run_status(store: MetadataStore, instance: DagsterInstance, run: DagsterRun) -> None:
    """Write the run's current status, timings and error to its job and source."""
    job_id = run.tags.get(JOB_TAG)
    if job_id is None:
        return
    record = instance.get_run_record_by_id(run.run_id)
    # The stored run: the instance tags a failed run after its failure event (`will_retry`).
    run = record.dagster_run if record else run
    if run.status == DagsterRunStatus.FAILURE and will_retry(run):
        return  # the job goes on in the retry, whose events finish it
    started = _timestamp(record.start_time if record else None)
    ended = _timestamp(record.end_time if record else None)
    status = FINAL_STATUSES.get(run.status)
    error = _failure_message(instance, run.run_id) if status is JobStatus.FAILED else None
    with store.session() as session:
        if run.status == DagsterRunStatus.STARTED:
            jobs.mark_running(
                session, job_id, run_id=run.run_id, started_at=started or datetime.now(UTC)
            )
        elif status is not None:
            jobs.close_job(
                session, job_id, status=status, run_id=run.run_id, error=error, completed_at=ended
            )


def will_retry(run: DagsterRun) -> bool:
    """Whether Dagster's run retries will launch a new run of this failed one (same tags, so
    the same job)."""
    return run.tags.get(WILL_RETRY_TAG) == "true"


def _timestamp(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


def _failure_message(instance: DagsterInstance, run_id: str) -> str:
    """The first step failure's error (what the connector or stage said), else the run's."""
    for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        data = event.step_failure_data if event else None
        if data is not None and data.error is not None:
            error = data.error
            # Dagster wraps what the code raised; the innermost cause is what the user needs.
            while error.cause is not None:
                error = error.cause
            return f"{event.step_key if event else 'step'}: {error.message.strip()}"
    for record in instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE):
        if record.dagster_event and record.dagster_event.message:
            return record.dagster_event.message
    return "The run failed without an error message; see its Dagster logs."
