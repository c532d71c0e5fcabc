"""Turn store rows and lake figures into the seed 000 shapes."""

from __future__ import annotations

from api.schemas import JobOut, JobStatsOut, SourceOut, SourceStatsOut
from resources.lake import Lake
from resources.source_stats import source_stats
from resources.store.models import Source, SyncJob


def source_view(source: Source, lake: Lake) -> SourceOut:
    """A source with its live figures from the lake."""
    stats = source_stats(lake, source.id)
    return SourceOut(
        id=source.id,
        type=source.type,
        name=source.name,
        status=source.status.value,
        config=source.config,
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
    )


def job_view(job: SyncJob) -> JobOut:
    """A job with its stats."""
    return JobOut(
        id=job.id,
        source_id=job.source_id,
        type=job.type.value,
        status=job.status.value,
        progress=job.progress,
        stage=job.stage,
        stats=JobStatsOut.model_validate(job.stats),
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        completed_at=job.completed_at,
    )
