"""Integrity checks over a committed lake version, expressed as DuckDB queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

CHUNK_CHECKS = {
    "no_empty_chunks": "Every chunk holds some non-whitespace text.",
    "no_orphan_chunks": "Every chunk belongs to a current document.",
}
EMBEDDING_CHECKS = {
    "one_vector_per_chunk": "Each chunk has exactly one vector and no vector lacks a chunk.",
    "one_dimension_per_model": "All vectors of a model have that model's dimension.",
}


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """The result of one check, with the counts behind it."""

    name: str
    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)


def chunk_checks(con: duckdb.DuckDBPyConnection) -> list[CheckOutcome]:
    """Checks over views `chunks` and `docs`, in one pass over the chunks."""
    empty, orphans = con.execute(
        r"""
        SELECT
            count(*) FILTER (WHERE NOT regexp_matches(c.text, '\S')),
            count(*) FILTER (WHERE d.file_id IS NULL)
        FROM chunks c
        LEFT JOIN (SELECT DISTINCT file_id FROM docs WHERE skip_reason IS NULL) d USING (file_id)
        """
    ).fetchall()[0]
    return [
        CheckOutcome(
            "no_empty_chunks",
            empty == 0,
            {"empty_chunks": empty},
        ),
        CheckOutcome(
            "no_orphan_chunks",
            orphans == 0,
            {"orphan_chunks": orphans},
        ),
    ]


def embedding_checks(con: duckdb.DuckDBPyConnection) -> list[CheckOutcome]:
    """Checks over views `vectors` and `chunks`, in one pass over each."""
    # The vectors' columns the checks need are read once (their lengths, not the floats,
    # kept); per id: chunks without a vector, vectors (rows) without a chunk, and the copies
    # beyond the first; per model: its dimensions and whether every vector has its length.
    missing, extra, duplicates, dimensions = con.execute(
        """
        WITH r AS MATERIALIZED (
                SELECT chunk_id, model, dimension, len(vector) = dimension AS fits FROM vectors
             ),
             v AS MATERIALIZED (SELECT chunk_id, count(*) AS copies FROM r GROUP BY chunk_id),
             c AS MATERIALIZED (SELECT chunk_id FROM chunks)
        SELECT
            (SELECT count(*) FROM c ANTI JOIN v USING (chunk_id)),
            (SELECT coalesce(sum(copies), 0) FROM v ANTI JOIN c USING (chunk_id)),
            (SELECT coalesce(sum(copies - 1), 0) FROM v),
            (SELECT list((model, dims, fits) ORDER BY model) FROM (
                SELECT model, list(DISTINCT dimension) AS dims, bool_and(fits) AS fits
                FROM r GROUP BY model
            ))
        """
    ).fetchall()[0]
    dimensions = dimensions or []  # no vectors: no model
    consistent = all(len(dims) == 1 and lengths_ok for _, dims, lengths_ok in dimensions)
    return [
        CheckOutcome(
            "one_vector_per_chunk",
            missing == extra == duplicates == 0,
            {
                "chunks_without_vector": missing,
                "vectors_without_chunk": extra,
                "duplicate_vectors": duplicates,
            },
        ),
        CheckOutcome(
            "one_dimension_per_model",
            consistent,
            {"dimensions": {model: dims for model, dims, _ in dimensions}},
        ),
    ]
