"""Run-status sensors: write each sync run's progress through its lifecycle to its job row."""

from __future__ import annotations

import dagster as dg

from connector_assets.jobs import sync_source
from resources.metadata import MetadataStore
from sensors.job_updates import apply_run_status


def _status_sensor(status: dg.DagsterRunStatus, name: str) -> dg.SensorDefinition:
    @dg.run_status_sensor(
        name=name,
        run_status=status,
        monitored_jobs=[sync_source],
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=2,
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
