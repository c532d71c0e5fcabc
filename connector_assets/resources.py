"""Pipeline settings shared by the assets, as a Dagster resource."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from connector_assets.chunking import ChunkSettings
from resources.connectors.options import PipelineOptions


class PipelineSettings(ConfigurableResource):
    """Where connectors keep working copies, and how files are sized up and chunked unless a
    source's options say otherwise."""

    cache_dir: str = Field(description="Per-source working copies (git clones); safe to delete.")
    max_file_bytes: int = Field(default=5_000_000, description="Larger files are skipped.")
    chunk_max_tokens: int = Field(default=512, description="Token budget of one chunk.")
    chunk_overlap_tokens: int = Field(default=64, description="Overlap of forced splits.")
    sync_interval_minutes: int = Field(
        default=0, description="Minutes between a source's scheduled syncs; 0: none."
    )

    def workdir(self, source_id: str) -> Path:
        """The private working folder of one source."""
        path = Path(self.cache_dir) / source_id
        path.mkdir(parents=True, exist_ok=True)
        return path


def chunk_settings(options: PipelineOptions) -> ChunkSettings:
    """The chunker settings of a source's options."""
    return ChunkSettings(
        max_tokens=options.chunk_max_tokens, overlap_tokens=options.chunk_overlap_tokens
    )
