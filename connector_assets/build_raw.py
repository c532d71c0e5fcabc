"""Stage 1: list what changed in a source and fetch only that into a new `raw_files` version."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa

from connector_assets import tables
from connector_assets.ids import content_hash, file_id
from connector_assets.progress import JobProgress
from resources import duck
from resources.connectors import Connector, Entry, Fetched, open_connector
from resources.lake import Lake, LakeVersion, bucket_of

# Files are handed to the lake in batches: small ones let the memory of one batch's bytes serve
# the next (32 MB batches took twice the page faults of 8 MB ones).
BATCH_BYTES = 8 * 1024 * 1024
BATCH_FILES = 1_000


@dataclass
class RawReport:
    """What stage 1 did."""

    files: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    bytes_fetched: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    cursor: str | None = None
    description: str = ""

    @property
    def processed(self) -> int:
        """Files fetched (or skipped) so far."""
        return self.added + self.changed + self.unchanged + self.skipped.total()

    def job_stats(self, *, listed: int) -> dict[str, int]:
        """The job stats this stage owns (seed 000 names, camelCase)."""
        return {
            "filesTotal": listed,
            "filesAdded": self.added,
            "filesChanged": self.changed,
            "filesDeleted": self.deleted,
        }


@dataclass(frozen=True, slots=True)
class Known:
    """What the last good version says of one path."""

    version: str
    content_hash: str | None


def build_raw_files(
    *,
    lake: Lake,
    source_id: str,
    source_type: str,
    config: dict[str, Any],
    workdir: Path,
    full: bool,
    max_file_bytes: int,
    progress: JobProgress,
) -> tuple[LakeVersion, RawReport]:
    """Fetch the changes since the last good version and commit the new snapshot."""
    previous = lake.current("raw_files", source_id)
    known = _known(lake, previous) if previous else {}
    cursor = None if full or previous is None else previous.meta.get("cursor")
    report = RawReport()
    with open_connector(source_type, config, workdir=workdir) as connector:
        changes = connector.changes(cursor=cursor, known={} if full else _versions(known))
        # In file id order: the rows then reach the lake sorted by bucket, as its parts keep them.
        entries = sorted(changes.upserts, key=lambda entry: file_id(source_id, entry.path))
        deletes = set(changes.deletes)
        report.cursor, report.description = changes.cursor, changes.description
        with lake.new_version("raw_files", source_id, schema=tables.RAW_FILES) as writer:
            fetched = _fetch(connector, entries, max_file_bytes=max_file_bytes)
            rows = _rows(source_id, fetched, known, report)
            fetched_at = datetime.now(UTC)
            for batch in _batches(rows):
                writer.write(_table(batch, fetched_at))
                progress.update(
                    done=report.processed,
                    total=len(entries),
                    stats=report.job_stats(listed=len(entries)),
                )
            listed = {entry.path for entry in entries}
            if full:
                report.deleted = len(known.keys() - listed)
            elif previous is not None:
                report.deleted = len(deletes & known.keys())
                replaced = listed | deletes
                dirty = {bucket_of(file_id(source_id, path)) for path in replaced}
                writer.inherit(previous, set(previous.bucket_files()) - dirty)
                for batch in _carry_over(lake, previous, replaced=replaced, buckets=dirty):
                    writer.write(batch)
            writer.meta = {
                "cursor": report.cursor,
                "connector": source_type,
                "sync": "full" if full else "incremental",
                "description": report.description,
            }
        report.files = writer.rows
    assert writer.committed is not None
    return writer.committed, report


def _known(lake: Lake, previous: LakeVersion) -> dict[str, Known]:
    con = duck.connect()
    lake.register(con, "prev", previous)
    rows = con.execute("SELECT path, version, content_hash FROM prev").fetchall()
    return {path: Known(version, digest) for path, version, digest in rows}


def _versions(known: dict[str, Known]) -> dict[str, str]:
    return {path: k.version for path, k in known.items()}


def _fetch(connector: Connector, entries: list[Entry], *, max_file_bytes: int) -> Iterator[Fetched]:
    """The entries' contents; one over the size limit comes back unread, in its place (rows
    then keep the entries' order wherever the connector keeps it)."""
    fitting = connector.fetch(e for e in entries if e.size <= max_file_bytes)
    for entry in entries:
        if entry.size > max_file_bytes:
            yield Fetched(entry=entry, data=None, error="too_large")
        else:
            yield from itertools.islice(fitting, 1)
    yield from fitting


class RawRow(NamedTuple):
    """One file's row of `raw_files`, but for `fetched_at` (one time for the whole run)."""

    file_id: str
    path: str
    version: str
    size: int
    modified_at: datetime | None
    content_hash: str | None
    content: bytes | None
    skip_reason: str | None


def _rows(
    source_id: str, fetched: Iterable[Fetched], known: dict[str, Known], report: RawReport
) -> Iterator[RawRow]:
    for item in fetched:
        entry, data = item.entry, item.data
        fid = file_id(source_id, entry.path)
        if data is None:
            yield _skipped(fid, item, report)
            continue
        digest = content_hash(data)
        report.bytes_fetched += len(data)
        before = known.get(entry.path)
        if before is None:
            report.added += 1
        elif before.content_hash != digest:
            report.changed += 1
        else:
            report.unchanged += 1
        yield RawRow(
            file_id=fid,
            path=entry.path,
            version=entry.version,
            size=len(data),
            modified_at=entry.modified_at,
            content_hash=digest,
            content=data,
            skip_reason=None,
        )


def _skipped(fid: str, item: Fetched, report: RawReport) -> RawRow:
    """The row of a file too large to fetch, or that could not be read."""
    entry = item.entry
    if item.error == "too_large":
        report.skipped["too_large"] += 1
        reason, version = f"too_large: {entry.size} bytes", entry.version
    else:
        report.skipped["unreadable"] += 1
        # An empty version makes the next incremental sync try the file again.
        reason, version = f"unreadable: {item.error}", ""
    return RawRow(
        file_id=fid,
        path=entry.path,
        version=version,
        size=entry.size,
        modified_at=entry.modified_at,
        content_hash=None,
        content=None,
        skip_reason=reason,
    )


def _batches(rows: Iterator[RawRow]) -> Iterator[list[RawRow]]:
    batch: list[RawRow] = []
    size = 0
    for row in rows:
        batch.append(row)
        size += row.size if row.content is not None else 0
        if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _table(rows: list[RawRow], fetched_at: datetime) -> pa.Table:
    """The rows as a `raw_files` table, built column by column."""
    columns: dict[str, Any] = dict(zip(RawRow._fields, zip(*rows, strict=True), strict=True))
    columns["fetched_at"] = pa.repeat(pa.scalar(fetched_at, tables.TIMESTAMP), len(rows))
    return pa.table(columns, schema=tables.RAW_FILES)


def _carry_over(
    lake: Lake, previous: LakeVersion, *, replaced: set[str], buckets: set[str]
) -> Iterator[pa.RecordBatch]:
    """Unchanged rows of the buckets being rewritten."""
    con = duck.connect()
    lake.register(con, "prev", previous, buckets=buckets)
    con.register("replaced", pa.table({"path": pa.array(sorted(replaced), pa.string())}))
    yield from duck.stream(
        con, "SELECT * FROM prev WHERE path NOT IN (SELECT path FROM replaced)", rows=256
    )
