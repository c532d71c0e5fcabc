"""Figures about a source read from its committed lake versions (never from memory)."""

from __future__ import annotations

from dataclasses import dataclass, field

from resources import duck
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
    """Counts of the current documents, chunks and vectors of one source."""
    docs = lake.current("documents", source_id)
    if docs is None:
        return SourceStats()
    con = duck.connect()
    lake.register(con, "docs", docs)
    files, size = con.execute(
        "SELECT count(*), coalesce(sum(size), 0) FROM docs WHERE skip_reason IS NULL"
    ).fetchall()[0]
    languages = dict(
        con.execute(
            "SELECT language, count(*) AS n FROM docs "
            "WHERE skip_reason IS NULL AND language IS NOT NULL GROUP BY 1 ORDER BY n DESC, 1"
        ).fetchall()
    )
    chunks = lake.current("chunks", source_id)
    vectors = lake.current("embeddings", source_id)
    return SourceStats(
        files_indexed=int(files),
        total_size=int(size),
        chunks=chunks.rows if chunks else 0,
        vectors=vectors.rows if vectors else 0,
        languages=languages,
    )
