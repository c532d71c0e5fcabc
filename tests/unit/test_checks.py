"""The asset checks' queries count what they say, over real DuckDB relations."""

from __future__ import annotations

import pyarrow as pa

from connector_assets.checks import chunk_checks, embedding_checks
from resources import duck


def _outcomes(outcomes: list) -> dict[str, tuple[bool, dict]]:
    return {o.name: (o.passed, o.metadata) for o in outcomes}


def test_chunk_checks_count_blank_and_orphan_chunks() -> None:
    con = duck.connect()
    con.register(
        "chunks",
        pa.table(
            {
                "chunk_id": ["a", "b", "c", "d"],
                "file_id": ["f1", "f1", "f2", "gone"],
                "text": ["def f(): pass", " \n\t ", "x", "y"],
            }
        ),
    )
    con.register(
        "docs",
        # f1 twice (two versions' rows, say): its chunks must still count once each.
        pa.table({"file_id": ["f1", "f1", "f2"], "skip_reason": [None, None, "binary"]}),
    )
    outcomes = _outcomes(chunk_checks(con))
    assert outcomes["no_empty_chunks"] == (False, {"empty_chunks": 1})
    # f2 is a skipped document and "gone" is none at all: neither may own chunks.
    assert outcomes["no_orphan_chunks"] == (False, {"orphan_chunks": 2})


def test_embedding_checks_count_missing_extra_and_duplicate_vectors() -> None:
    con = duck.connect()
    con.register("chunks", pa.table({"chunk_id": ["a", "b", "c"]}))
    con.register(
        "vectors",
        pa.table(
            {
                "chunk_id": ["a", "a", "a", "b", "x", "x"],
                "model": ["m"] * 5 + ["n"],
                "dimension": [2, 2, 2, 2, 2, 3],
                "vector": [[0.1, 0.2]] * 5 + [[0.1, 0.2]],
            }
        ),
    )
    outcomes = _outcomes(embedding_checks(con))
    assert outcomes["one_vector_per_chunk"] == (
        False,
        {"chunks_without_vector": 1, "vectors_without_chunk": 2, "duplicate_vectors": 3},
    )
    assert outcomes["one_dimension_per_model"] == (False, {"dimensions": {"m": [2], "n": [3]}})


def test_checks_pass_on_consistent_tables() -> None:
    con = duck.connect()
    con.register("chunks", pa.table({"chunk_id": ["a"], "file_id": ["f"], "text": ["x"]}))
    con.register("docs", pa.table({"file_id": ["f"], "skip_reason": pa.array([None], pa.string())}))
    con.register(
        "vectors",
        pa.table({"chunk_id": ["a"], "model": ["m"], "dimension": [2], "vector": [[0.6, 0.8]]}),
    )
    assert all(o.passed for o in chunk_checks(con) + embedding_checks(con))
