"""Figures about a source, from its committed lake versions (their pointers, not their rows)."""

from __future__ import annotations

from dataclasses import dataclass, field

from resources.lake import Lake


@dataclass(frozen=True, slots=True)
class SourceStats:
    """What is indexed for a source right now."""

    files_indexed: int = 0
    total_size: int = 0
    chunks: int = 0
    vectors: int = 0
    languages: dict[str, int] = field(default_factory=dict)


def source_stats(lake: Lake, source_id: str) -> SourceStats:
    """Counts of the current documents, chunks and vectors of one source.

    The `documents` stage records its figures with each version it commits, so this reads
    three small pointer files whatever the size of the source.
    """
    docs = lake.current("documents", source_id)
    if docs is None:
        return SourceStats()
    figures = docs.meta["stats"]
    chunks = lake.current("chunks", source_id)
    vectors = lake.current("embeddings", source_id)
    return SourceStats(
        files_indexed=figures["filesIndexed"],
        total_size=figures["totalSize"],
        chunks=chunks.rows if chunks else 0,
        vectors=vectors.rows if vectors else 0,
        languages=figures["languages"],
    )
