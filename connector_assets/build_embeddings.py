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
CHUNK_COLUMNS = "c.chunk_id, c.file_id, c.text_hash, c.text"
# Chunks whose text has no vector for the model yet.
TO_EMBED = f"""
    SELECT {CHUNK_COLUMNS}
    FROM chunks c
    WHERE NOT EXISTS (
        SELECT 1 FROM prev e WHERE e.text_hash = c.text_hash AND e.model = $model
    )
"""
# Without vectors to reuse, every chunk, in the order it is stored (by bucket: the vectors
# then reach the lake sorted).
ALL_CHUNKS = f"SELECT {CHUNK_COLUMNS} FROM chunks c"
# The vectors of texts that occur more than once among those to embed are kept from their
# first occurrence to their last, for the most repeated texts (up to 16 MiB of vectors at
# wordllama's 256 dimensions, 96 MiB at 1,536); a text past them is embedded again.
REPEATS_KEPT = 16_384
REPEATED = f"""
    SELECT text_hash, count(*) FROM ({{chunks}}) GROUP BY text_hash HAVING count(*) > 1
    ORDER BY count(*) DESC LIMIT {REPEATS_KEPT}
"""


@dataclass
class _Repeats:
    """Vectors of texts met again later in the stream, kept until their last occurrence."""

    remaining: dict[str, int]  # text hash -> occurrences not yet seen
    vectors: dict[str, np.ndarray] = field(default_factory=dict)

    def seen(self, text_hash: str, vector: np.ndarray) -> None:
        """Count an occurrence of a text with its vector."""
        left = self.remaining.get(text_hash)
        if left is None:
            return
        if left > 1:
            self.remaining[text_hash] = left - 1
            self.vectors[text_hash] = vector
        else:
            del self.remaining[text_hash]
            self.vectors.pop(text_hash, None)


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
    # The last version's vectors are reused only if they are of the same model.
    reused = previous if previous and previous.meta.get("model") == report.model else None
    plan = plan_buckets(upstream=chunks, previous=previous, reuse=reused is not None)
    report.rebuilt = plan.dirty
    con = duck.connect()
    lake.register(con, "chunks", chunks, buckets=plan.dirty)
    params = {"model": report.model}
    if reused is not None:
        lake.register(con, "prev", reused, buckets=plan.dirty)
        to_embed, to_embed_params = TO_EMBED, params
        total = duck.scalar(con, f"SELECT count(*) FROM ({to_embed})", to_embed_params)
    else:
        # Every chunk of the rebuilt buckets is embedded: the manifest counts them.
        to_embed, to_embed_params = ALL_CHUNKS, {}
        total = chunks.rows_in(plan.dirty)
    repeats = _Repeats(
        remaining=dict(con.execute(REPEATED.format(chunks=to_embed), to_embed_params).fetchall())
    )
    with lake.new_version("embeddings", source_id, schema=tables.EMBEDDINGS) as writer:
        if reused is not None:
            writer.inherit(reused, plan.clean)
            for batch in duck.stream(con, REUSED, params, rows=8_192):
                writer.write(batch)
                report.reused += batch.num_rows
        for batch in duck.stream(con, to_embed, to_embed_params, rows=batch_size):
            writer.write(_embed(batch, embedder, repeats, clock=report.embedder))
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
        lake.register(con, "old", previous, buckets=None if reused is None else plan.dirty)
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
    batch: pa.RecordBatch, embedder: Embedder, repeats: _Repeats, *, clock: Stopwatch
) -> pa.Table:
    """Vectors for a batch of chunks: each text embedded once, in the batch or since it was
    first met (`repeats`)."""
    hashes = batch.column("text_hash").to_pylist()
    texts = batch.column("text").to_pylist()
    fresh: dict[str, int] = {}  # text hash -> its first row, for texts not kept
    for row, digest in enumerate(hashes):
        if digest not in repeats.vectors and digest not in fresh:
            fresh[digest] = row
    embedded: dict[str, np.ndarray] = {}
    if fresh:
        with clock.timing():
            vectors = embedder.embed([texts[row] for row in fresh.values()])
        embedded = dict(zip(fresh, vectors, strict=True))
    rows = []
    for digest in hashes:
        vector = embedded[digest] if digest in embedded else repeats.vectors[digest]
        repeats.seen(digest, vector)
        rows.append(vector)
    matrix = np.stack(rows).astype(np.float32, copy=False)
    dimension = matrix.shape[1]
    vector = pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), dimension)
    return pa.table(
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
