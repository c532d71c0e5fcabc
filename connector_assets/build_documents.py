"""Stage 2: decode and normalize changed files into a new `documents` version."""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from connector_assets import tables
from connector_assets.increments import BucketPlan, plan_buckets
from connector_assets.normalize import NORMALIZER_VERSION, Normalized, normalize
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
SELECT skip_reason, language, count(*), coalesce(sum(size), 0), coalesce(sum(strlen(text)), 0)
FROM {view} GROUP BY ALL
"""
TO_NORMALIZE = """
    SELECT r.file_id, r.path, r.content_hash, r.size, r.modified_at, r.content, r.skip_reason
    FROM raw r
    WHERE NOT EXISTS (
        SELECT 1 FROM prev d
        WHERE d.path = r.path AND d.content_hash IS NOT DISTINCT FROM r.content_hash
    )
"""


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
    def of(cls, con: Any, view: str) -> DocumentFigures:
        """The figures of the documents in DuckDB relation `view`."""
        figures = cls()
        for reason, language, count, size, text_bytes in con.execute(
            FIGURES.format(view=view)
        ).fetchall():
            figures.documents += count
            figures.text_bytes += text_bytes
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
    if reuse and previous is not None:
        lake.register(con, "prev", previous, buckets=plan.dirty)
    else:
        con.register("prev", tables.DOCUMENTS.empty_table())
    report = DocumentsReport()
    # Without reuse every file of the rebuilt buckets is normalized: the manifest counts them.
    if reuse:
        total = duck.scalar(con, f"SELECT count(*) FROM ({TO_NORMALIZE})")
    else:
        total = raw.rows_in(plan.dirty)
    with lake.new_version("documents", source_id, schema=tables.DOCUMENTS) as writer:
        if previous is not None:
            writer.inherit(previous, plan.clean)
        for batch in duck.stream(con, CARRIED, rows=4_096):
            writer.write(batch)
            report.carried += batch.num_rows
        for batch in duck.stream(con, TO_NORMALIZE, rows=256):
            writer.write_rows(list(_documents(batch, max_file_bytes, report)))
            progress.update(done=report.normalized, total=total, stats={})
        version = writer.snapshot(asset="documents", partition=source_id)
        listing = _summarize(con, lake, version, previous if reuse else None, plan, report)
        writer.attach(LISTING_ATTACHMENT, listing, schema=tables.FILE_LISTING)
        writer.meta = {
            "settings": settings,
            "input": plan.input,
            "stats": report.stats(),
            "figures": report.figures.to_meta(),
        }
    assert writer.committed is not None
    return writer.committed, report


def _documents(
    batch: pa.RecordBatch, max_file_bytes: int, report: DocumentsReport
) -> Iterator[dict[str, Any]]:
    now = datetime.now(UTC)
    for raw in batch.to_pylist():
        report.normalized += 1
        row: dict[str, Any] = {
            key: raw[key] for key in ("file_id", "path", "content_hash", "size", "modified_at")
        }
        row["indexed_at"] = now
        if raw["content"] is None:
            reason, _, detail = (raw["skip_reason"] or "unreadable").partition(": ")
            report.skipped_now[reason] += 1
            yield row | {"skip_reason": reason, "skip_detail": detail}
            continue
        result = normalize(raw["path"], raw["content"], max_bytes=max_file_bytes)
        if isinstance(result, Normalized):
            yield row | {
                "language": result.language,
                "title": result.title,
                "mime_type": result.mime_type,
                "encoding": result.encoding,
                "text": result.text,
            }
        else:
            report.skipped_now[result.reason] += 1
            yield row | {"skip_reason": result.reason, "skip_detail": result.detail}


def _summarize(
    con: Any,
    lake: Lake,
    version: LakeVersion,
    previous: LakeVersion | None,
    plan: BucketPlan,
    report: DocumentsReport,
) -> Iterator[pa.RecordBatch]:
    """Set the figures of the whole new version; return its listing, sorted by path.

    With a `previous` version it was built from (`prev` then holds its rebuilt buckets),
    only the rebuilt buckets are read; otherwise every bucket.
    """
    if (
        previous is not None
        and "figures" in previous.meta
        and LISTING_ATTACHMENT in previous.attachments
    ):
        lake.register(con, "docs", version, buckets=plan.dirty)
        lake.register_attachment(con, "prev_listing", previous, LISTING_ATTACHMENT)
        con.register("rebuilt", pa.table({"bucket": pa.array(sorted(plan.dirty), pa.string())}))
        report.figures = (
            DocumentFigures.from_meta(previous.meta["figures"])
            - DocumentFigures.of(con, "prev")
            + DocumentFigures.of(con, "docs")
        )
        return duck.stream(con, LISTING_UPDATED)
    lake.register(con, "docs", version)
    report.figures = DocumentFigures.of(con, "docs")
    return duck.stream(con, LISTING)
