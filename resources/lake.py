"""The Parquet lake: one versioned table per asset and source partition.

A version is a folder of Parquet parts written by one run. Readers follow a small pointer
file (`_CURRENT`, JSON) that names the committed version and its parts; a run switches the
pointer only after every part is written, with a single atomic write, so a failed or killed
run never leaves a half-written source and the last good version stays readable.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

logger = logging.getLogger(__name__)

POINTER = "_CURRENT"
ROWS_PER_PART = 250_000
ROW_GROUP_SIZE = 8_192


@dataclass(frozen=True, slots=True)
class LakeVersion:
    """A committed version of one asset partition."""

    asset: str
    partition: str
    name: str
    files: tuple[str, ...]
    rows: int
    meta: dict[str, Any]
    committed_at: str


@dataclass
class VersionWriter:
    """Writes the parts of one new version; `Lake.new_version` commits or discards it."""

    fs: pafs.FileSystem
    directory: str
    schema: pa.Schema
    files: list[str] = field(default_factory=list)
    rows: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    committed: LakeVersion | None = None
    _writer: pq.ParquetWriter | None = None
    _part_rows: int = 0

    def write(self, data: pa.RecordBatch | pa.Table) -> None:
        """Append rows (cast to the version's schema)."""
        if data.num_rows == 0:
            return
        table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
        table = table.select(self.schema.names).cast(self.schema)
        if self._writer is None or self._part_rows >= ROWS_PER_PART:
            self._open_part()
        assert self._writer is not None
        self._writer.write_table(table, row_group_size=ROW_GROUP_SIZE)
        self._part_rows += table.num_rows
        self.rows += table.num_rows

    def write_rows(self, rows: list[dict[str, Any]]) -> None:
        """Append a list of row dicts."""
        if rows:
            self.write(pa.Table.from_pylist(rows, schema=self.schema))

    def _open_part(self) -> None:
        self._close_part()
        path = f"{self.directory}/part-{len(self.files):05d}.parquet"
        self._writer = pq.ParquetWriter(
            path, self.schema, filesystem=self.fs, compression="zstd", compression_level=1
        )
        self.files.append(path)
        self._part_rows = 0

    def _close_part(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def finish(self) -> None:
        """Close the open part; an empty version still gets one part, so readers see a schema."""
        if not self.files:
            self._open_part()
        self._close_part()


class Lake(ConfigurableResource):
    """Versioned Parquet tables per asset and partition under a local path or object-store URL."""

    url: str = Field(description="Root of the lake: a local path, file://, s3://, gs://, ...")

    _fs: pafs.FileSystem | None = PrivateAttr(default=None)
    _root: str = PrivateAttr(default="")

    def _filesystem(self) -> tuple[pafs.FileSystem, str]:
        if self._fs is None:
            fs, root = pafs.FileSystem.from_uri(_as_uri(self.url))
            self._fs, self._root = fs, root.rstrip("/")
        return self._fs, self._root

    def _dir(self, asset: str, partition: str) -> str:
        _, root = self._filesystem()
        return f"{root}/{asset}/{partition}"

    def current(self, asset: str, partition: str) -> LakeVersion | None:
        """The committed version of an asset partition, or None if it never committed."""
        fs, _ = self._filesystem()
        pointer = f"{self._dir(asset, partition)}/{POINTER}"
        try:
            with fs.open_input_stream(pointer) as stream:
                doc = json.loads(stream.read())
        except FileNotFoundError:
            return None
        return LakeVersion(
            asset=asset,
            partition=partition,
            name=doc["version"],
            files=tuple(doc["files"]),
            rows=doc["rows"],
            meta=doc["meta"],
            committed_at=doc["committedAt"],
        )

    def dataset(self, version: LakeVersion) -> pads.Dataset:
        """An Arrow dataset over a version's parts (streams; nothing is loaded up front)."""
        fs, _ = self._filesystem()
        return pads.dataset(list(version.files), format="parquet", filesystem=fs)

    def register(self, con: duckdb.DuckDBPyConnection, view: str, version: LakeVersion) -> None:
        """Expose a version to DuckDB as `view`, through Arrow so any filesystem works."""
        con.register(view, self.dataset(version))

    @contextmanager
    def new_version(
        self, asset: str, partition: str, *, schema: pa.Schema
    ) -> Iterator[VersionWriter]:
        """Write a new version: committed with `writer.meta` when the block ends, dropped on error.

        After the block, `writer.committed` is the new current version.
        """
        fs, _ = self._filesystem()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        directory = f"{self._dir(asset, partition)}/v-{stamp}-{uuid.uuid4().hex[:8]}"
        fs.create_dir(directory, recursive=True)
        writer = VersionWriter(fs=fs, directory=directory, schema=schema)
        try:
            yield writer
            writer.finish()
        except BaseException:
            writer._close_part()
            fs.delete_dir(directory)
            raise
        writer.committed = self._commit(writer, asset=asset, partition=partition)

    def _commit(self, writer: VersionWriter, *, asset: str, partition: str) -> LakeVersion:
        """Switch the partition to the writer's version and prune versions older than the last."""
        fs, _ = self._filesystem()
        previous = self.current(asset, partition)
        name = writer.directory.rsplit("/", 1)[-1]
        committed_at = datetime.now(UTC).isoformat()
        doc = {
            "version": name,
            "files": writer.files,
            "rows": writer.rows,
            "meta": writer.meta,
            "committedAt": committed_at,
        }
        base = self._dir(asset, partition)
        staging = f"{base}/{POINTER}.{uuid.uuid4().hex}"
        with fs.open_output_stream(staging) as out:
            out.write(json.dumps(doc).encode())
        fs.move(staging, f"{base}/{POINTER}")
        # Keep the version just replaced: a reader that read the old pointer may still scan it.
        self._prune(base, keep={name, previous.name if previous else name})
        return LakeVersion(
            asset=asset,
            partition=partition,
            name=name,
            files=tuple(writer.files),
            rows=writer.rows,
            meta=writer.meta,
            committed_at=committed_at,
        )

    def _prune(self, base: str, *, keep: set[str]) -> None:
        fs, _ = self._filesystem()
        for info in fs.get_file_info(pafs.FileSelector(base)):
            name = info.base_name
            if info.type == pafs.FileType.Directory and name.startswith("v-") and name not in keep:
                fs.delete_dir(info.path)
            elif name.startswith(f"{POINTER}.") and info.type == pafs.FileType.File:
                fs.delete_file(info.path)

    def drop(self, asset: str, partition: str) -> None:
        """Delete every version of an asset partition."""
        fs, _ = self._filesystem()
        base = self._dir(asset, partition)
        if fs.get_file_info(base).type != pafs.FileType.NotFound:
            fs.delete_dir(base)


def _as_uri(url: str) -> str:
    if "://" in url:
        return url
    root = Path(url).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root.as_uri()
