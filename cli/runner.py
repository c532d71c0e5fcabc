"""Run a sync job: through the daemon when one is running, or in this process otherwise."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from dagster import DagsterInstance
from dagster._core.storage.tags import MAX_RETRIES_TAG

from connector_assets.definitions import build_definitions
from connector_assets.jobs import sync_run_config, sync_run_tags
from resources.dagster_runs import add_partition
from resources.metadata import MetadataStore
from resources.settings import Settings
from resources.store import jobs
from resources.store.models import SyncType
from sensors.job_updates import apply_run_status

# Allocations between two young-generation collections during a run (Python's default: 700).
RUN_GC_THRESHOLD = 10_000


def run_in_process(
    *, settings: Settings, instance: DagsterInstance, store: MetadataStore, job_id: str
) -> None:
    """Claim a queued job (so no sensor also runs it) and execute its run here."""
    with _collector_tuned_for_run():
        _run(settings=settings, instance=instance, store=store, job_id=job_id)


def _run(
    *, settings: Settings, instance: DagsterInstance, store: MetadataStore, job_id: str
) -> None:
    run_id = str(uuid.uuid4())
    with store.session() as session:
        job = jobs.get_job(session, job_id)
        if job is None:
            raise LookupError(f"Job {job_id} not found")
        source_id, sync_type, trigger = job.source_id, job.type, job.trigger
        jobs.mark_running(session, job_id, run_id=run_id, started_at=datetime.now(UTC))
    add_partition(instance, source_id)
    definition = build_definitions(settings).resolve_job_def("sync_source")
    definition.execute_in_process(
        instance=instance,
        partition_key=source_id,
        run_config={
            **sync_run_config(full=sync_type is SyncType.FULL),
            # The CLI shows its own progress; Dagster's step-by-step log stays in the run.
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        },
        tags={
            **sync_run_tags(
                source_id=source_id, job_id=job_id, sync_type=sync_type.value, trigger=trigger
            ),
            # No retries: only a daemon launches them, and none runs (or this process would
            # not run the job); a failure that Dagster would retry would leave the job
            # `running` (see `apply_run_status`) with nobody to finish it.
            MAX_RETRIES_TAG: "0",
        },
        run_id=run_id,
        raise_on_error=False,
    )
    run = instance.get_run_by_id(run_id)
    if run is not None:
        apply_run_status(store, instance, run)


@contextmanager
def _collector_tuned_for_run() -> Iterator[None]:
    """Spare a run the garbage collector's walks over what the process had imported.

    Dagster, SQLAlchemy and the rest are ~160k long-lived objects: each full collection
    walked them all (~0.07 s of CPU, twice in a run that syncs nothing) and a young one ran
    every 700 allocations. Frozen, they are never walked; the young generation is collected
    less often.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(RUN_GC_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
