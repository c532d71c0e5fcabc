"""Stage 4: embed only chunks whose text has no vector yet for the current model."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from connector_assets import tables
from connector_assets.increments import plan_buckets
from connector_assets.progress import JobProgress
from connector_assets.stopwatch import Stopwatch
from resources import duck
from resources.embedders import Embedder
from resources.lake import Lake, LakeVersion

# A vector is reused for any chunk with the same text and model, whatever its id or path.
REUSED = """
    SELECT c.chunk_id, c.file_id, c.text_hash, e.model, e.dimension, e.vector, e.embedded_at
    FROM chunks c
    JOIN (SELECT DISTINCT ON (text_hash) * FROM prev WHERE model = $model) e
      ON e.text_hash = c.text_hash
"""
# Ordered by text so identical texts are adjacent and embedded once.
TO_EMBED = """
    SELECT c.chunk_id, c.file_id, c.text_hash, c.text
    FROM chunks c
    WHERE NOT EXISTS (
        SELECT 1 FROM prev e WHERE e.text_hash = c.text_hash AND e.model = $model
    )
    ORDER BY c.text_hash
"""


@dataclass
class EmbeddingsReport:
    """What stage 4 did."""

    vectors: int = 0
    embedded: int = 0
    reused: int = 0
    deleted: int = 0
    model: str = ""
    dimension: int = 0
    rebuilt: frozenset[str] = frozenset()  # buckets written anew (the rest were inherited)
    embedder: Stopwatch = field(default_factory=Stopwatch)  # time inside `Embedder.embed`


def build_embeddings(
    *,
    lake: Lake,
    source_id: str,
    embedder: Embedder,
    batch_size: int,
    progress: JobProgress,
) -> tuple[LakeVersion, EmbeddingsReport]:
    """Embed new chunk texts, carry the other vectors over, and drop vectors of gone chunks."""
    chunks = lake.current("chunks", source_id)
    if chunks is None:
        raise RuntimeError(f"chunks of source {source_id} were never materialized")
    previous = lake.current("embeddings", source_id)
    report = EmbeddingsReport(model=embedder.model_name, dimension=embedder.dimension)
    same_model = previous is not None and previous.meta.get("model") == report.model
    plan = plan_buckets(upstream=chunks, previous=previous, reuse=same_model)
    report.rebuilt = plan.dirty
    con = duck.connect()
    lake.register(con, "chunks", chunks, buckets=plan.dirty)
    if same_model and previous is not None:
        lake.register(con, "prev", previous, buckets=plan.dirty)
    else:
        con.register("prev", tables.EMBEDDINGS.empty_table())
    params = {"model": report.model}
    # Without reuse every chunk of the rebuilt buckets is embedded: the manifest counts them.
    if same_model:
        total = duck.scalar(con, f"SELECT count(*) FROM ({TO_EMBED})", params)
    else:
        total = chunks.rows_in(plan.dirty)
    with lake.new_version("embeddings", source_id, schema=tables.EMBEDDINGS) as writer:
        if same_model and previous is not None:
            writer.inherit(previous, plan.clean)
        for batch in duck.stream(con, REUSED, params, rows=8_192):
            writer.write(batch)
            report.reused += batch.num_rows
        last: tuple[str, np.ndarray] | None = None
        for batch in duck.stream(con, TO_EMBED, params, rows=batch_size):
            table, last = _embed(batch, embedder, last, clock=report.embedder)
            writer.write(table)
            report.embedded += batch.num_rows
            progress.update(
                done=report.embedded,
                total=total,
                stats={"chunksEmbedded": report.embedded, "chunksReused": report.reused},
            )
        writer.meta = {
            "model": report.model,
            "dimension": report.dimension,
            "input": plan.input,
        }
    assert writer.committed is not None
    report.vectors = writer.committed.rows
    if previous is not None:
        # Only rebuilt buckets can lose vectors; a model change replaces them all.
        lake.register(con, "old", previous, buckets=None if not same_model else plan.dirty)
        lake.register(con, "new", writer.committed, buckets=plan.dirty)
        report.deleted = int(
            duck.scalar(
                con,
                "SELECT count(*) FROM old o WHERE NOT EXISTS "
                "(SELECT 1 FROM new n WHERE n.chunk_id = o.chunk_id AND n.model = o.model)",
            )
        )
    return writer.committed, report


def _embed(
    batch: pa.RecordBatch,
    embedder: Embedder,
    last: tuple[str, np.ndarray] | None,
    *,
    clock: Stopwatch,
) -> tuple[pa.Table, tuple[str, np.ndarray] | None]:
    """Vectors for a batch ordered by text hash; `last` carries the previous batch's tail."""
    hashes = batch.column("text_hash").to_pylist()
    texts = batch.column("text").to_pylist()
    known = {last[0]: last[1]} if last else {}
    unique = [i for i, h in enumerate(hashes) if h not in known and (i == 0 or hashes[i - 1] != h)]
    if unique:
        with clock.timing():
            vectors = embedder.embed([texts[i] for i in unique])
        known.update({hashes[i]: vectors[n] for n, i in enumerate(unique)})
    matrix = np.stack([known[h] for h in hashes]).astype(np.float32, copy=False)
    dimension = matrix.shape[1]
    vector = pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), dimension)
    table = pa.table(
        {
            "chunk_id": batch.column("chunk_id"),
            "file_id": batch.column("file_id"),
            "text_hash": batch.column("text_hash"),
            "model": pa.array([embedder.model_name] * len(hashes), pa.string()),
            "dimension": pa.array([dimension] * len(hashes), pa.int32()),
            "vector": vector.cast(pa.list_(pa.float32())),
            "embedded_at": pa.array([datetime.now(UTC)] * len(hashes), tables.TIMESTAMP),
        }
    )
    return table, (hashes[-1], known[hashes[-1]])
