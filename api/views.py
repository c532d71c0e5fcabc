"""Turn store rows and lake figures into the seed 000 shapes."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from api.schemas import (
    FileOut,
    JobOut,
    JobStatsOut,
    SourceOut,
    SourceStatsOut,
    WebhookSetupOut,
)
from resources.store.models import JobStatus

if TYPE_CHECKING:
    from resources.connectors.options import PipelineOptions
    from resources.files import IndexedFile
    from resources.lake import Lake
    from resources.store.models import Source, SyncJob
    from resources.webhooks.subscriptions import Subscription


def source_view(source: Source, lake: Lake, *, defaults: PipelineOptions) -> SourceOut:
    """A source with its live figures from the lake and its options in force.

    Args:
        source: The source.
        lake: The lake.
        defaults: The deployment's options, for those neither it nor its connection sets.
    """
    # Imported here: they load the connectors, the vault and the lake (Dagster resources),
    # which `headwater jobs show` does without when it builds a job's view from this module.
    from resources.source_configs import shown_config, source_options
    from resources.source_stats import source_stats

    stats = source_stats(lake, source.id)
    return SourceOut(
        id=source.id,
        type=source.type,
        name=source.name,
        status=source.status.value,
        config=shown_config(source.type, source.config),
        stats=SourceStatsOut(
            files_indexed=stats.files_indexed,
            chunks_created=stats.chunks,
            total_size=stats.total_size,
            languages=stats.languages,
            last_sync_duration=source.last_sync_duration_s,
        ),
        last_sync_at=source.last_sync_at,
        created_at=source.created_at,
        last_error=source.last_error,
        connection_id=source.connection_id,
        options=source_options(defaults, source).shown(),
    )


def job_view(job: SyncJob, *, typical_duration_s: float | None = None) -> JobOut:
    """A job with its stats; a running one with a typical duration gets its likely end."""
    estimated = (
        job.started_at + timedelta(seconds=typical_duration_s)
        if job.status is JobStatus.RUNNING and job.started_at and typical_duration_s is not None
        else None
    )
    return JobOut(
        id=job.id,
        source_id=job.source_id,
        type=job.type.value,
        status=job.status.value,
        trigger=job.trigger,
        progress=job.progress,
        stage=job.stage,
        stats=JobStatsOut.model_validate(job.stats),
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        completed_at=job.completed_at,
        estimated_completion=estimated,
    )


def file_view(file: IndexedFile) -> FileOut:
    """An indexed file as `GET /sources/:id/files` lists it."""
    return FileOut(
        id=file.file_id,
        path=file.path,
        language=file.language,
        size=file.size,
        last_modified=file.modified_at,
        indexed_at=file.indexed_at,
    )


def webhook_setup(subscription: Subscription | None) -> WebhookSetupOut | None:
    """A new source's webhook or push channel: set up, or a secret to set it up by hand."""
    if subscription is None:
        return None
    return WebhookSetupOut(
        url=subscription.url, secret=subscription.secret, registered=subscription.registered
    )
