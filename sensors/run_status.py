"""Run-status sensors: write each sync run's progress through its lifecycle to its job row."""

from __future__ import annotations

import dagster as dg

from connector_assets.jobs import sync_source
from resources.metadata import MetadataStore
from sensors.job_updates import apply_run_status

RUN_STATUS_INTERVAL_S = 15


def _status_sensor(status: dg.DagsterRunStatus, name: str) -> dg.SensorDefinition:
    @dg.run_status_sensor(
        name=name,
        run_status=status,
        monitored_jobs=[sync_source],
        default_status=dg.DefaultSensorStatus.RUNNING,
        # Each evaluation costs the code server ~80 ms of CPU (Dagster builds an instance for
        # it), and evaluations in the same daemon loop share that process: four of them every
        # 5 s made the sync_requests tick that turns a webhook into a run 3-4 times longer.
        # Jobs do not wait for them: sync_requests applies the status of every queued or
        # running job's runs on each of its ticks; these mirror each run's events in order.
        minimum_interval_seconds=RUN_STATUS_INTERVAL_S,
        description=f"Marks the sync job of a {status.value.lower()} run.",
    )
    def _sensor(context: dg.RunStatusSensorContext, store: MetadataStore) -> None:
        apply_run_status(store, context.instance, context.dagster_run)

    return _sensor


run_status_sensors = [
    _status_sensor(dg.DagsterRunStatus.STARTED, "sync_job_started"),
    _status_sensor(dg.DagsterRunStatus.SUCCESS, "sync_job_succeeded"),
    _status_sensor(dg.DagsterRunStatus.FAILURE, "sync_job_failed"),
    _status_sensor(dg.DagsterRunStatus.CANCELED, "sync_job_cancelled"),
]
