"""Stage 2: decode and normalize changed files into a new `documents` version."""

from __future__ import annotations

import functools
import operator
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from connector_assets import tables
from connector_assets.increments import BucketPlan, plan_buckets
from connector_assets.normalize import NORMALIZER_VERSION, Normalized, Skipped, normalize
from connector_assets.progress import JobProgress
from resources import duck
from resources.files import LISTING_ATTACHMENT
from resources.lake import Lake, LakeVersion, bucket_sql

UNKNOWN_LANGUAGE = "unknown"

# Documents whose file kept its path and bytes are carried over from the last version; a
# file that could not be fetched (no hash) keeps its skipped document until its bytes arrive.
CARRIED = """
    SELECT d.* REPLACE (r.file_id AS file_id, r.size AS size, r.modified_at AS modified_at)
    FROM raw r
    JOIN prev d ON d.path = r.path AND d.content_hash IS NOT DISTINCT FROM r.content_hash
"""
LISTING = """
SELECT file_id, path, language, size, modified_at, indexed_at FROM docs
WHERE skip_reason IS NULL ORDER BY path, file_id
"""
# The same listing from the last version's, with the rebuilt buckets' rows taken anew.
LISTING_UPDATED = f"""
SELECT * FROM prev_listing WHERE {bucket_sql("file_id")} NOT IN (SELECT bucket FROM rebuilt)
UNION ALL
SELECT file_id, path, language, size, modified_at, indexed_at FROM docs WHERE skip_reason IS NULL
ORDER BY path, file_id
"""
FIGURES = """
SELECT skip_reason, language, count(*), coalesce(sum(size), 0), coalesce(sum({text_bytes}), 0)
FROM {view} GROUP BY ALL
"""
RAW_COLUMNS = "r.file_id, r.path, r.content_hash, r.size, r.modified_at, r.content, r.skip_reason"
TO_NORMALIZE = f"""
    SELECT {RAW_COLUMNS}
    FROM raw r
    WHERE NOT EXISTS (
        SELECT 1 FROM prev d
        WHERE d.path = r.path AND d.content_hash IS NOT DISTINCT FROM r.content_hash
    )
"""
# Without a last version to reuse, every file is normalized.
ALL_RAW = f"SELECT {RAW_COLUMNS} FROM raw r"
# Of each document written: its listing row, and what its figures count.
WRITTEN = pa.schema(
    [*tables.FILE_LISTING, ("skip_reason", pa.string()), ("text_bytes", pa.int64())]
)


# The columns a document adds to its raw file's: what normalizing gave, or why not.
NORMALIZED_COLUMNS = ("language", "title", "mime_type", "encoding", "text")
DOCUMENT_COLUMNS = (*NORMALIZED_COLUMNS, "skip_reason", "skip_detail")


@dataclass
class DocumentFigures:
    """Counts over a set of documents (a version's, or some buckets').

    A version records the figures of all its documents, so the next one needs only those
    of the buckets it rebuilds: its figures are the last ones, less those buckets' before,
    plus theirs after.
    """

    documents: int = 0
    indexed_bytes: int = 0
    text_bytes: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)

    def __add__(self, other: DocumentFigures) -> DocumentFigures:
        return self._combine(other, operator.add)

    def __sub__(self, other: DocumentFigures) -> DocumentFigures:
        return self._combine(other, operator.sub)

    def _combine(self, other: DocumentFigures, op: Callable[[Any, Any], Any]) -> DocumentFigures:
        return DocumentFigures(
            documents=op(self.documents, other.documents),
            indexed_bytes=op(self.indexed_bytes, other.indexed_bytes),
            text_bytes=op(self.text_bytes, other.text_bytes),
            skipped=op(self.skipped, other.skipped),
            languages=op(self.languages, other.languages),
        )

    @classmethod
    def of(cls, con: Any, view: str, *, text_bytes: str = "strlen(text)") -> DocumentFigures:
        """The figures of the documents in DuckDB relation `view`.

        `text_bytes` is the SQL of a document's text length in bytes.
        """
        figures = cls()
        for reason, language, count, size, length in con.execute(
            FIGURES.format(view=view, text_bytes=text_bytes)
        ).fetchall():
            figures.documents += count
            figures.text_bytes += length
            if reason is None:
                figures.indexed_bytes += size
                figures.languages[language or UNKNOWN_LANGUAGE] += count
            else:
                figures.skipped[reason] += count
        return figures

    def to_meta(self) -> dict[str, Any]:
        """As recorded in a version's metadata."""
        return {
            "documents": self.documents,
            "indexedBytes": self.indexed_bytes,
            "textBytes": self.text_bytes,
            "skipped": dict(self.skipped),
            "languages": dict(self.languages),
        }

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> DocumentFigures:
        """The figures `to_meta` recorded."""
        return cls(
            documents=meta["documents"],
            indexed_bytes=meta["indexedBytes"],
            text_bytes=meta["textBytes"],
            skipped=Counter(meta["skipped"]),
            languages=Counter(meta["languages"]),
        )


@dataclass
class DocumentsReport:
    """What stage 2 did."""

    normalized: int = 0
    carried: int = 0
    skipped_now: Counter[str] = field(default_factory=Counter)
    figures: DocumentFigures = field(default_factory=DocumentFigures)  # of the whole version

    def stats(self) -> dict[str, Any]:
        """What `GET /sources/:id` shows of the version: files indexed, bytes, languages."""
        figures = self.figures
        return {
            "filesIndexed": figures.documents - figures.skipped.total(),
            "totalSize": figures.indexed_bytes,
            "languages": {
                name: n for name, n in figures.languages.most_common() if name != UNKNOWN_LANGUAGE
            },
        }


def build_documents(
    *,
    lake: Lake,
    source_id: str,
    full: bool,
    max_file_bytes: int,
    progress: JobProgress,
) -> tuple[LakeVersion, DocumentsReport]:
    """Normalize every file new or changed since the last `documents` version."""
    raw = lake.current("raw_files", source_id)
    if raw is None:
        raise RuntimeError(f"raw_files of source {source_id} was never materialized")
    previous = lake.current("documents", source_id)
    settings = {"normalizer": NORMALIZER_VERSION, "maxFileBytes": max_file_bytes}
    reuse = not full and previous is not None and previous.meta.get("settings") == settings
    plan = plan_buckets(upstream=raw, previous=previous, reuse=reuse)
    con = duck.connect()
    lake.register(con, "raw", raw, buckets=plan.dirty)
    report = DocumentsReport()
    if reuse and previous is not None:
        lake.register(con, "prev", previous, buckets=plan.dirty)
        # Only files whose path or bytes changed are normalized: the rest carry over.
        total = duck.scalar(con, f"SELECT count(*) FROM ({TO_NORMALIZE})")
        carried, to_normalize = duck.stream(con, CARRIED, rows=4_096), TO_NORMALIZE
    else:
        # Every file of the rebuilt buckets is normalized: the manifest counts them.
        total = raw.rows_in(plan.dirty)
        carried, to_normalize = iter(()), ALL_RAW
    written = [WRITTEN.empty_table()]
    with lake.new_version("documents", source_id, schema=tables.DOCUMENTS) as writer:
        if previous is not None:
            writer.inherit(previous, plan.clean)
        for batch in carried:
            writer.write(batch)
            written.append(_written(batch))
            report.carried += batch.num_rows
        for batch in duck.stream(con, to_normalize, rows=256):
            documents = _documents(batch, max_file_bytes, report)
            writer.write(documents)
            written.append(_written(documents))
            progress.update(done=report.normalized, total=total, stats={})
        con.register("docs", pa.concat_tables(written))
        whole = functools.partial(writer.snapshot, asset="documents", partition=source_id)
        listing = _summarize(con, lake, whole, previous if reuse else None, plan, report)
        writer.attach(LISTING_ATTACHMENT, listing, schema=tables.FILE_LISTING)
        writer.meta = {
            "settings": settings,
            "input": plan.input,
            "stats": report.stats(),
            "figures": report.figures.to_meta(),
        }
    assert writer.committed is not None
    return writer.committed, report


def _documents(batch: pa.RecordBatch, max_file_bytes: int, report: DocumentsReport) -> pa.Table:
    """The documents of a batch of raw files, built column by column."""
    now = datetime.now(UTC)
    report.normalized += batch.num_rows
    results = [
        _normalized(path, content, skip_reason, max_file_bytes)
        for path, content, skip_reason in zip(
            batch.column("path").to_pylist(),
            batch.column("content").to_pylist(),
            batch.column("skip_reason").to_pylist(),
            strict=True,
        )
    ]
    report.skipped_now.update(r.reason for r in results if isinstance(r, Skipped))
    columns: dict[str, Any] = {
        name: batch.column(name)
        for name in ("file_id", "path", "content_hash", "size", "modified_at")
    }
    rows = [_fields(result) for result in results]
    for index, name in enumerate(DOCUMENT_COLUMNS):
        columns[name] = [row[index] for row in rows]
    columns["indexed_at"] = pa.repeat(pa.scalar(now, tables.TIMESTAMP), batch.num_rows)
    return pa.table(columns, schema=tables.DOCUMENTS)


def _normalized(
    path: str, content: bytes | None, skip_reason: str | None, max_file_bytes: int
) -> Normalized | Skipped:
    """A file normalized, or skipped: for its bytes, or as stage 1 skipped it."""
    if content is None:
        reason, _, detail = (skip_reason or "unreadable").partition(": ")
        return Skipped(reason, detail)
    return normalize(path, content, max_bytes=max_file_bytes)


def _fields(result: Normalized | Skipped) -> tuple[str | None, ...]:
    """The `DOCUMENT_COLUMNS` of a file normalized or skipped."""
    if isinstance(result, Skipped):
        return (None, None, None, None, None, result.reason, result.detail)
    text = (result.language, result.title, result.mime_type, result.encoding, result.text)
    return (*text, None, None)


def _written(documents: pa.RecordBatch | pa.Table) -> pa.Table:
    """What the listing and the figures need of documents: all but their texts' bytes."""
    columns = {name: documents.column(name) for name in WRITTEN.names if name != "text_bytes"}
    columns["text_bytes"] = pc.binary_length(documents.column("text"))
    return pa.table(columns, schema=WRITTEN)


def _summarize(
    con: Any,
    lake: Lake,
    whole: Callable[[], LakeVersion],
    previous: LakeVersion | None,
    plan: BucketPlan,
    report: DocumentsReport,
) -> Iterator[pa.RecordBatch]:
    """Set the figures of the whole new version; return its listing, sorted by path.

    `docs` holds what was written (`WRITTEN`): the rebuilt buckets. With a `previous`
    version it was built from (`prev` then holds its rebuilt buckets), the other buckets
    are taken from that version's figures and listing. `whole` is the new version so far.
    """
    if (
        previous is not None
        and "figures" in previous.meta
        and LISTING_ATTACHMENT in previous.attachments
    ):
        lake.register_attachment(con, "prev_listing", previous, LISTING_ATTACHMENT)
        con.register("rebuilt", pa.table({"bucket": pa.array(sorted(plan.dirty), pa.string())}))
        report.figures = (
            DocumentFigures.from_meta(previous.meta["figures"])
            - DocumentFigures.of(con, "prev")
            + DocumentFigures.of(con, "docs", text_bytes="text_bytes")
        )
        return duck.stream(con, LISTING_UPDATED)
    if plan.clean:
        # Buckets inherited from a version that kept no figures or listing: read them all.
        lake.register(con, "docs", whole())
        report.figures = DocumentFigures.of(con, "docs")
    else:
        report.figures = DocumentFigures.of(con, "docs", text_bytes="text_bytes")
    return duck.stream(con, LISTING)
