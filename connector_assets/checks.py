"""Integrity checks over a committed lake version, expressed as DuckDB queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from resources import duck

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
    """Checks over views `chunks` and `docs`."""
    empty = int(duck.scalar(con, "SELECT count(*) FROM chunks WHERE trim(text) = ''"))
    orphans = int(
        duck.scalar(
            con,
            "SELECT count(*) FROM chunks c WHERE NOT EXISTS "
            "(SELECT 1 FROM docs d WHERE d.file_id = c.file_id AND d.skip_reason IS NULL)",
        )
    )
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
    """Checks over views `vectors` and `chunks`."""
    missing, extra, duplicates = con.execute(
        """
        SELECT
            (SELECT count(*) FROM chunks c
              WHERE NOT EXISTS (SELECT 1 FROM vectors v WHERE v.chunk_id = c.chunk_id)),
            (SELECT count(*) FROM vectors v
              WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.chunk_id = v.chunk_id)),
            (SELECT count(*) - count(DISTINCT chunk_id) FROM vectors)
        """
    ).fetchall()[0]
    dimensions = con.execute(
        "SELECT model, list(DISTINCT dimension), bool_and(len(vector) = dimension) "
        "FROM vectors GROUP BY model"
    ).fetchall()
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
