"""Pipeline settings shared by the assets, as a Dagster resource."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from connector_assets.chunking import ChunkSettings


class PipelineSettings(ConfigurableResource):
    """Where connectors keep working copies, and how files are sized up and chunked."""

    cache_dir: str = Field(description="Per-source working copies (git clones); safe to delete.")
    max_file_bytes: int = Field(default=5_000_000, description="Larger files are skipped.")
    chunk_max_tokens: int = Field(default=512, description="Token budget of one chunk.")
    chunk_overlap_tokens: int = Field(default=64, description="Overlap of forced splits.")

    def workdir(self, source_id: str) -> Path:
        """The private working folder of one source."""
        path = Path(self.cache_dir) / source_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def chunk_settings(self) -> ChunkSettings:
        """The chunker settings these values describe."""
        return ChunkSettings(
            max_tokens=self.chunk_max_tokens, overlap_tokens=self.chunk_overlap_tokens
        )
