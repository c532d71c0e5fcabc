"""Turn queued sync jobs into runs, and keep the `sources` partitions equal to the sources."""

from __future__ import annotations

import dagster as dg

from connector_assets.jobs import sync_run_config, sync_run_tags, sync_source
from connector_assets.partitions import sources_partitions
from resources.metadata import MetadataStore
from resources.run_tags import JOB_TAG, SOURCES_PARTITIONS
from resources.store import jobs, sources
from resources.store.models import SyncType
from sensors.job_updates import apply_run_status

PartitionsRequest = dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest


@dg.sensor(
    job=sync_source,
    # Dagster's sensor daemon looks every 5 s (a constant of its loop); any interval below that,
    # with room for the loop's jitter, lets every look tick. 5 would make ticks slip to every
    # other look (10 s) whenever a tick started a little late.
    minimum_interval_seconds=3,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Queued sync jobs -> sync_source runs (run key = job id, so one run per job).",
)
def sync_requests(context: dg.SensorEvaluationContext, store: MetadataStore) -> dg.SensorResult:
    """Request a run per queued job; add and remove partitions as sources come and go."""
    instance = context.instance
    existing = set(instance.get_dynamic_partitions(SOURCES_PARTITIONS))
    with store.session() as session:
        wanted = sources.all_source_ids(session)
        queued = [
            (job.id, job.source_id, job.type, job.trigger) for job in jobs.queued_jobs(session)
        ]
        running = [job.id for job in jobs.running_jobs(session)]
    _catch_up(instance, store, job_ids=[job_id for job_id, *_ in queued] + running)
    partition_requests: list[PartitionsRequest] = []
    if added := sorted(wanted - existing):
        partition_requests.append(sources_partitions.build_add_request(added))
    if removed := sorted(existing - wanted):
        partition_requests.append(sources_partitions.build_delete_request(removed))
    run_requests = [
        dg.RunRequest(
            run_key=job_id,
            partition_key=source_id,
            run_config=sync_run_config(full=sync_type is SyncType.FULL),
            tags=sync_run_tags(
                source_id=source_id, job_id=job_id, sync_type=sync_type.value, trigger=trigger
            ),
        )
        for job_id, source_id, sync_type, trigger in queued
        if source_id in wanted
    ]
    return dg.SensorResult(
        run_requests=run_requests, dynamic_partitions_requests=partition_requests
    )


def _catch_up(instance: dg.DagsterInstance, store: MetadataStore, *, job_ids: list[str]) -> None:
    """Apply the status of the runs of queued and running jobs, oldest run first (a retry's
    status wins over the run it retried).

    Every tick, so that a job follows its runs within a tick whatever the run-status sensors
    (which tick less often: sensors/run_status.py) have seen yet; and a run that dies before
    its first step, or finishes while the daemon is down, never leaves its job `queued` or
    `running` for ever.
    """
    runs = instance.get_runs(dg.RunsFilter(tags={JOB_TAG: job_ids})) if job_ids else []
    for run in reversed(runs):  # newest first as stored
        if run.is_finished or run.status == dg.DagsterRunStatus.STARTED:
            apply_run_status(store, instance, run)
