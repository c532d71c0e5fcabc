"""What the API and CLI ask of the Dagster instance: runs of a source or job, cancelling,
partitions, whether a daemon is running."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

from resources.run_tags import JOB_TAG, SOURCE_TAG, SOURCES_PARTITIONS

logger = logging.getLogger(__name__)

SENSOR_DAEMON = "SENSOR"
HEARTBEAT_TOLERANCE_S = 60

UNFINISHED = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def unfinished_runs(
    instance: DagsterInstance, *, source_id: str | None = None, job_id: str | None = None
) -> Sequence[DagsterRun]:
    """Runs of a source or of a sync job that have not finished."""
    tags = {SOURCE_TAG: source_id} if source_id is not None else {}
    if job_id is not None:
        tags[JOB_TAG] = job_id
    if not tags:
        raise ValueError("give a source_id or a job_id")
    return instance.get_runs(RunsFilter(tags=tags, statuses=UNFINISHED))


def cancel_runs(
    instance: DagsterInstance, runs: Sequence[DagsterRun], *, wait_s: float = 0.0
) -> list[str]:
    """Cancel queued runs and terminate started ones; wait up to `wait_s` for them to end.

    A run whose process cannot be reached is reported cancelled, so nothing waits on it.
    Returns the ids of the runs asked to stop.
    """
    for run in runs:
        if not instance.run_coordinator.cancel_run(run.run_id):
            logger.warning("run %s could not be terminated; reporting it cancelled", run.run_id)
            current = instance.get_run_by_id(run.run_id)
            if current is not None and not current.is_finished:
                instance.report_run_canceled(current)
    run_ids = [run.run_id for run in runs]
    deadline = time.monotonic() + wait_s
    while run_ids and time.monotonic() < deadline:
        pending = instance.get_runs(RunsFilter(run_ids=run_ids, statuses=UNFINISHED))
        if not pending:
            break
        time.sleep(0.25)
    return run_ids


def add_partition(instance: DagsterInstance, source_id: str) -> None:
    """Make the source a `sources` partition now, for a run started here rather than by the
    sync sensor (which adds the partitions of new sources on its tick)."""
    if not instance.has_dynamic_partition(SOURCES_PARTITIONS, source_id):
        instance.add_dynamic_partitions(SOURCES_PARTITIONS, [source_id])


def drop_partition(instance: DagsterInstance, source_id: str) -> None:
    """Remove the source's `sources` partition, if it has one."""
    if instance.has_dynamic_partition(SOURCES_PARTITIONS, source_id):
        instance.delete_dynamic_partition(SOURCES_PARTITIONS, source_id)


def daemon_alive(instance: DagsterInstance) -> bool:
    """Whether a Dagster daemon's sensor loop beat recently (so queued jobs will run)."""
    beat = instance.get_daemon_heartbeats().get(SENSOR_DAEMON)
    return beat is not None and time.time() - beat.timestamp < HEARTBEAT_TOLERANCE_S
