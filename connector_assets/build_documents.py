"""Stage 2: decode and normalize changed files into a new `documents` version."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from connector_assets import tables
from connector_assets.increments import plan_buckets
from connector_assets.normalize import NORMALIZER_VERSION, Normalized, normalize
from connector_assets.progress import JobProgress
from resources import duck
from resources.files import LISTING_ATTACHMENT
from resources.lake import Lake, LakeVersion

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
TO_NORMALIZE = """
    SELECT r.file_id, r.path, r.content_hash, r.size, r.modified_at, r.content, r.skip_reason
    FROM raw r
    WHERE NOT EXISTS (
        SELECT 1 FROM prev d
        WHERE d.path = r.path AND d.content_hash IS NOT DISTINCT FROM r.content_hash
    )
"""


@dataclass
class DocumentsReport:
    """What stage 2 did."""

    documents: int = 0
    normalized: int = 0
    carried: int = 0
    text_bytes: int = 0
    skipped_now: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)
    indexed_bytes: int = 0

    def stats(self) -> dict[str, Any]:
        """What `GET /sources/:id` shows of the version: files indexed, bytes, languages."""
        return {
            "filesIndexed": self.documents - self.skipped.total(),
            "totalSize": self.indexed_bytes,
            "languages": {
                name: n for name, n in self.languages.most_common() if name != UNKNOWN_LANGUAGE
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
    total = duck.scalar(con, f"SELECT count(*) FROM ({TO_NORMALIZE})")
    with lake.new_version("documents", source_id, schema=tables.DOCUMENTS) as writer:
        if previous is not None:
            writer.inherit(previous, plan.clean)
        for batch in duck.stream(con, CARRIED, rows=4_096):
            writer.write(batch)
            report.carried += batch.num_rows
        for batch in duck.stream(con, TO_NORMALIZE, rows=256):
            writer.write_rows(list(_documents(batch, max_file_bytes, report)))
            progress.update(done=report.normalized, total=total, stats={})
        _summarize(con, lake, writer.snapshot(asset="documents", partition=source_id), report)
        writer.attach(LISTING_ATTACHMENT, duck.stream(con, LISTING), schema=tables.FILE_LISTING)
        writer.meta = {"settings": settings, "input": plan.input, "stats": report.stats()}
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


def _summarize(con: Any, lake: Lake, version: LakeVersion, report: DocumentsReport) -> None:
    """Figures of the whole new version, kept with it so readers need not scan it."""
    lake.register(con, "docs", version)
    report.documents = version.rows
    report.indexed_bytes = duck.scalar(
        con, "SELECT coalesce(sum(size), 0) FROM docs WHERE skip_reason IS NULL"
    )
    for reason, count in con.execute(
        "SELECT skip_reason, count(*) FROM docs WHERE skip_reason IS NOT NULL GROUP BY 1"
    ).fetchall():
        report.skipped[reason] = count
    for language, count in con.execute(
        "SELECT coalesce(language, ?), count(*) FROM docs WHERE skip_reason IS NULL GROUP BY 1",
        [UNKNOWN_LANGUAGE],
    ).fetchall():
        report.languages[language] = count
    report.text_bytes = duck.scalar(con, "SELECT coalesce(sum(strlen(text)), 0) FROM docs")
