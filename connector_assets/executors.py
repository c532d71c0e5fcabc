"""Which Dagster executor runs a sync's steps: the run's own process, or Celery workers."""

from __future__ import annotations

import dagster as dg

from resources.settings import Settings

BROKER_VARIABLE = "HEADWATER_CELERY_BROKER_URL"
BACKEND_VARIABLE = "HEADWATER_CELERY_BACKEND_URL"


def sync_executor(settings: Settings) -> dg.ExecutorDefinition:
    """The executor `HEADWATER_EXECUTOR` names: `in_process` (the default) or `celery`.

    In process, a source's stages run one after another in its run worker; a process per
    step would only add start-up to every run (sources run in parallel as separate runs).
    With Celery each stage is a task on the queue `HEADWATER_CELERY_QUEUE`, for the workers
    started with `deploy/celery.yaml`. The broker and backend URLs go in as environment
    references, so the UI never shows their passwords: each run worker reads them.
    """
    if settings.executor == "in_process":
        return dg.in_process_executor
    # Imported here: celery and kombu cost every in-process run a few hundred ms to import.
    from dagster_celery import celery_executor

    backend = {"env": BACKEND_VARIABLE} if settings.celery_backend_url else "rpc://"
    return celery_executor.configured(
        {
            "broker": {"env": BROKER_VARIABLE},
            "backend": backend,
            "config_source": {"task_default_queue": settings.celery_queue},
        },
        name="celery",
    )
