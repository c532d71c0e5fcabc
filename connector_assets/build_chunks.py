"""Stage 3: split changed documents into token-budgeted chunks with content-derived ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from connector_assets import tables
from connector_assets.chunking import ChunkSettings, chunk_text
from connector_assets.ids import chunk_id, text_hash
from connector_assets.increments import plan_buckets
from connector_assets.progress import JobProgress
from resources import duck
from resources.lake import Lake, LakeVersion

# Chunks of a document that kept its path and bytes are carried over unchanged.
CARRIED = """
    SELECT c.* REPLACE (d.file_id AS file_id, d.language AS language)
    FROM prev c JOIN docs d ON d.path = c.path AND d.content_hash = c.content_hash
    WHERE d.skip_reason IS NULL
"""
DOC_COLUMNS = "d.file_id, d.path, d.content_hash, d.language, d.text"
# An anti join rather than NOT EXISTS: DuckDB then counts these rows without reading texts.
TO_CHUNK = f"""
    SELECT {DOC_COLUMNS}
    FROM docs d ANTI JOIN prev c ON c.path = d.path AND c.content_hash = d.content_hash
    WHERE d.skip_reason IS NULL
"""
# Without a last version to reuse, every document is chunked, in the order it is stored
# (by bucket: the chunks then reach the lake sorted).
ALL_DOCS = f"SELECT {DOC_COLUMNS} FROM docs d WHERE d.skip_reason IS NULL"


@dataclass
class ChunksReport:
    """What stage 3 did."""

    chunks: int = 0
    created: int = 0
    carried: int = 0
    deleted: int = 0
    documents_chunked: int = 0
    tokens: int = 0  # of the whole version
    rebuilt: frozenset[str] = frozenset()  # buckets written anew (the rest were inherited)


def build_chunks(
    *,
    lake: Lake,
    source_id: str,
    full: bool,
    settings: ChunkSettings,
    progress: JobProgress,
) -> tuple[LakeVersion, ChunksReport]:
    """Chunk every document new or changed since the last `chunks` version."""
    docs = lake.current("documents", source_id)
    if docs is None:
        raise RuntimeError(f"documents of source {source_id} were never materialized")
    previous = lake.current("chunks", source_id)
    fingerprint = settings.fingerprint()
    reuse = not full and previous is not None and previous.meta.get("chunker") == fingerprint
    plan = plan_buckets(upstream=docs, previous=previous, reuse=reuse)
    con = duck.connect()
    lake.register(con, "docs", docs, buckets=plan.dirty)
    report = ChunksReport(rebuilt=plan.dirty)
    with lake.new_version("chunks", source_id, schema=tables.CHUNKS) as writer:
        if reuse and previous is not None:
            lake.register(con, "prev", previous, buckets=plan.dirty)
            writer.inherit(previous, plan.clean)
            report.tokens = _inherited_tokens(con, lake, previous, clean=plan.clean)
            for batch in duck.stream(con, CARRIED, rows=8_192):
                writer.write(batch)
                report.carried += batch.num_rows
                report.tokens += pc.sum(batch.column("token_count")).as_py() or 0
        to_chunk = TO_CHUNK if reuse else ALL_DOCS
        total = duck.scalar(con, f"SELECT count(*) FROM ({to_chunk})")
        for batch in duck.stream(con, to_chunk, rows=256):
            table = pa.table(_chunk_columns(source_id, batch, settings), schema=tables.CHUNKS)
            writer.write(table)
            report.created += table.num_rows
            report.tokens += pc.sum(table.column("token_count")).as_py() or 0
            report.documents_chunked += batch.num_rows
            progress.update(
                done=report.documents_chunked,
                total=total,
                stats={"chunksCreated": report.created},
            )
        writer.meta = {"chunker": fingerprint, "input": plan.input, "tokens": report.tokens}
    assert writer.committed is not None
    report.chunks = writer.committed.rows
    report.deleted = _deleted(con, lake, previous, writer.committed, buckets=plan.dirty)
    return writer.committed, report


def _inherited_tokens(con: Any, lake: Lake, previous: LakeVersion, *, clean: frozenset[str]) -> int:
    """Tokens of the chunks in the buckets taken over from `previous` (`prev`: the others)."""
    if "tokens" in previous.meta:
        rebuilt = duck.scalar(con, "SELECT coalesce(sum(token_count), 0) FROM prev")
        return int(previous.meta["tokens"]) - int(rebuilt)
    # A version written before its token total was recorded.
    lake.register(con, "inherited", previous, buckets=clean)
    return int(duck.scalar(con, "SELECT coalesce(sum(token_count), 0) FROM inherited"))


def _chunk_columns(
    source_id: str, batch: pa.RecordBatch, settings: ChunkSettings
) -> dict[str, list[Any]]:
    """The chunks of a batch of documents, column by column (`tables.CHUNKS`)."""
    columns: dict[str, list[Any]] = {name: [] for name in tables.CHUNKS.names}
    for doc in batch.to_pylist():
        chunks = chunk_text(doc["text"] or "", language=doc["language"], settings=settings)
        texts = [chunk.text for chunk in chunks]
        hashes = [text_hash(text) for text in texts]
        seen: dict[str, int] = {}
        for digest in hashes:
            occurrence = seen.get(digest, 0)
            seen[digest] = occurrence + 1
            columns["chunk_id"].append(
                chunk_id(
                    source_id=source_id,
                    path=doc["path"],
                    chunk_text_hash=digest,
                    occurrence=occurrence,
                )
            )
        columns["text"] += texts
        columns["text_hash"] += hashes
        columns["token_count"] += [chunk.token_count for chunk in chunks]
        columns["start_line"] += [chunk.start_line for chunk in chunks]
        columns["end_line"] += [chunk.end_line for chunk in chunks]
        columns["kind"] += [chunk.kind for chunk in chunks]
        columns["symbol"] += [chunk.symbol for chunk in chunks]
        columns["ordinal"] += range(len(chunks))
        for key in ("file_id", "path", "content_hash", "language"):
            columns[key] += [doc[key]] * len(chunks)
    return columns


def _deleted(
    con: Any,
    lake: Lake,
    previous: LakeVersion | None,
    new: LakeVersion,
    *,
    buckets: frozenset[str],
) -> int:
    """Chunks of the last version whose id is gone (only rebuilt buckets can lose any)."""
    if previous is None:
        return 0
    lake.register(con, "old_chunks", previous, buckets=buckets)
    lake.register(con, "new_chunks", new, buckets=buckets)
    return int(
        duck.scalar(
            con,
            "SELECT count(*) FROM old_chunks o "
            "WHERE NOT EXISTS (SELECT 1 FROM new_chunks n WHERE n.chunk_id = o.chunk_id)",
        )
    )
