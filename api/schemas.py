"""Response shapes of seed 000 (camelCase), shared by the API and the CLI's --json output."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    """Serializes field names in camelCase, as seed 000 writes them."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def dump(self) -> dict[str, Any]:
        """The JSON-ready dict, by alias."""
        return self.model_dump(mode="json", by_alias=True)


class SourceStatsOut(CamelModel):
    """What is indexed for a source."""

    files_indexed: int
    chunks_created: int
    total_size: int
    languages: dict[str, int]
    last_sync_duration: float | None


class SourceOut(CamelModel):
    """A source as `GET /sources/:id` returns it."""

    id: str
    type: str
    name: str
    status: str
    config: dict[str, Any]
    stats: SourceStatsOut
    last_sync_at: datetime | None
    created_at: datetime
    last_error: str | None = None


class JobStatsOut(CamelModel):
    """Counts of what a sync did (seed 000's four plus what an incremental sync needs)."""

    files_total: int = 0
    files_processed: int = 0
    files_added: int = 0
    files_changed: int = 0
    files_deleted: int = 0
    files_skipped: int = 0
    chunks_created: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    chunks_deleted: int = 0
    errors: int = 0


class JobOut(CamelModel):
    """A sync job as `GET /jobs/:id` returns it."""

    id: str
    source_id: str
    type: str
    status: str
    progress: int
    stage: str | None
    stats: JobStatsOut
    error: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    estimated_completion: datetime | None = None
