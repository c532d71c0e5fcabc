"""The Parquet lake: one versioned table per asset and source partition.

A version is a set of Parquet parts written by one run, listed with its metadata in the
version's own `_MANIFEST.json`. Readers follow a tiny pointer file (`_CURRENT`, JSON) naming
the committed version; a run switches the pointer only after every part and the manifest
are written, with a single atomic write (a rename on a local disk, one PUT replacing the
object on an object store), so a failed or killed run never leaves a half-written source and
the last good version stays readable. Manifests never change once
written, so readers keep parsed ones in memory, keyed by version.

Rows are spread over buckets by the first characters of their `file_id`. A new version
inherits the parts of every bucket its run did not touch, so a sync that changes three files
rewrites three buckets, not the whole source.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from dagster import ConfigurableResource
from pydantic import Field

if TYPE_CHECKING:  # imported where used: the resource costs no pyarrow until it is used
    import duckdb
    import pyarrow as pa
    import pyarrow.fs as pafs

POINTER = "_CURRENT"
MANIFEST = "_MANIFEST.json"
MANIFEST_CACHE_SIZE = 512
BUCKET_KEY = "file_id"
BUCKET_CHARS = 2  # 256 buckets of a hex id
# Pending rows are written when they reach this size, one part per bucket: every part costs
# a file to write and to open on each read, so a source whose tables fit gets one per bucket.
FLUSH_BYTES = 64 * 1024 * 1024
# Batches given to `write` are gathered until they hold this many rows or bytes, then sorted
# into their buckets together: a part is written from one slice per sort, and the Parquet
# writer pays for every slice (embeddings come in batches of a few rows per bucket).
SORT_ROWS = 8_192
SORT_BYTES = 8 * 1024 * 1024
ROW_GROUP_SIZE = 8_192
WRITE_BUFFER_BYTES = 1024 * 1024
EMPTY_BUCKET = "-"
# The provider's variable for an Azure storage account key (never part of the lake URL).
AZURE_ACCOUNT_KEY = "AZURE_STORAGE_ACCOUNT_KEY"


def bucket_of(file_id: str) -> str:
    """The bucket a row with this file id lives in."""
    return file_id[:BUCKET_CHARS]


def bucket_sql(column: str) -> str:
    """`bucket_of` as a SQL expression over a file id column."""
    return f"left({column}, {BUCKET_CHARS})"


@dataclass(frozen=True, slots=True)
class Part:
    """One Parquet file of a version."""

    path: str
    rows: int


@dataclass(frozen=True, slots=True)
class LakeVersion:
    """A committed version of one asset partition."""

    asset: str
    partition: str
    name: str
    buckets: dict[str, tuple[Part, ...]]
    meta: dict[str, Any]
    committed_at: str
    attachments: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Rows in all parts."""
        return self.rows_in(self.buckets)

    def rows_in(self, buckets: Iterable[str]) -> int:
        """Rows in the parts of some buckets (as the manifest counts them: nothing is read)."""
        return sum(part.rows for bucket in buckets for part in self.buckets.get(bucket, ()))

    def files(self, buckets: Iterable[str] | None = None) -> list[str]:
        """Paths of the parts, of some buckets or all (the empty-schema part included)."""
        chosen = self.buckets if buckets is None else {b: self.buckets.get(b, ()) for b in buckets}
        return [part.path for parts in chosen.values() for part in parts]

    def bucket_files(self) -> dict[str, list[str]]:
        """Bucket -> part paths: what a downstream version records as its input."""
        return {
            b: [p.path for p in parts] for b, parts in self.buckets.items() if b != EMPTY_BUCKET
        }


@dataclass
class VersionWriter:
    """Writes one new version; `Lake.new_version` commits or discards it."""

    fs: pafs.FileSystem
    directory: str
    schema: pa.Schema
    meta: dict[str, Any] = field(default_factory=dict)
    committed: LakeVersion | None = None
    buckets: dict[str, list[Part]] = field(default_factory=dict)
    inherited: set[str] = field(default_factory=set)
    attachments: dict[str, str] = field(default_factory=dict)
    # Batches written but not yet sorted into buckets, in order.
    _staged: list[pa.Table] = field(default_factory=list)
    _staged_rows: int = 0
    _staged_bytes: int = 0
    # Rows sorted into buckets, not yet written: slices of the sorted batches, in order.
    _pending: dict[str, list[pa.Table]] = field(default_factory=dict)
    _pending_bytes: int = 0
    _sequence: int = 0

    @property
    def rows(self) -> int:
        """Rows written or inherited so far (pending ones included)."""
        written = sum(part.rows for parts in self.buckets.values() for part in parts)
        pending = sum(t.num_rows for tables in self._pending.values() for t in tables)
        return written + pending + self._staged_rows

    def write(self, data: pa.RecordBatch | pa.Table) -> None:
        """Append rows (cast to the version's schema); they reach their buckets' parts on flush."""
        import pyarrow as pa

        if data.num_rows == 0:
            return
        table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
        table = table.select(self.schema.names).cast(self.schema)
        self._staged.append(table)
        self._staged_rows += table.num_rows
        self._staged_bytes += table.nbytes
        if self._staged_rows >= SORT_ROWS or self._staged_bytes >= SORT_BYTES:
            self._sort_staged()
        if self._pending_bytes >= FLUSH_BYTES:
            self._flush()

    def _sort_staged(self) -> None:
        """Sort the staged batches by bucket (a stable sort: rows keep their order within a
        bucket) and add each bucket's slice to what is pending."""
        import pyarrow as pa
        import pyarrow.compute as pc

        staged, self._staged, self._staged_rows = self._staged, [], 0
        self._pending_bytes += self._staged_bytes
        self._staged_bytes = 0
        if not staged:
            return
        table = pa.concat_tables(staged)
        keys = pc.utf8_slice_codeunits(table.column(BUCKET_KEY), 0, BUCKET_CHARS)
        order = pc.sort_indices(keys)
        table = table.take(order)
        counts = pc.value_counts(keys.take(order))  # buckets in sorted order, with their rows
        start = 0
        for bucket, rows in zip(
            counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
        ):
            if bucket in self.inherited:
                raise ValueError(f"bucket {bucket} is both written and inherited")
            self._pending.setdefault(bucket, []).append(table.slice(start, rows))
            start += rows

    def write_rows(self, rows: list[dict[str, Any]]) -> None:
        """Append a list of row dicts."""
        import pyarrow as pa

        if rows:
            self.write(pa.Table.from_pylist(rows, schema=self.schema))

    def inherit(self, version: LakeVersion, buckets: Iterable[str]) -> None:
        """Take over the parts of `buckets` from an earlier version, unchanged."""
        self._flush()
        for bucket in buckets:
            if bucket in self.buckets:
                raise ValueError(f"bucket {bucket} is both written and inherited")
            self.inherited.add(bucket)
            if version.buckets.get(bucket):
                self.buckets[bucket] = list(version.buckets[bucket])

    def attach(self, name: str, batches: Iterable[pa.RecordBatch], *, schema: pa.Schema) -> None:
        """Write a side table of the version in one file, rows in the order given.

        For small derived tables a reader wants whole and in order (an index sorted by
        path, say) rather than spread over the buckets; `Lake.register_attachment` reads it.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = f"{self.directory}/{name}.parquet"
        with pq.ParquetWriter(
            path, schema, filesystem=self.fs, compression="zstd", compression_level=1
        ) as out:
            for batch in batches:
                out.write_table(pa.Table.from_batches([batch]).cast(schema), ROW_GROUP_SIZE)
        self.attachments[name] = path

    def _flush(self) -> None:
        """Write one part per bucket of what is pending."""
        import pyarrow as pa

        self._sort_staged()
        pending, self._pending, self._pending_bytes = self._pending, {}, 0
        for bucket in sorted(pending):
            self._write_part(bucket, pa.concat_tables(pending[bucket]))

    def _write_part(self, bucket: str, table: pa.Table) -> None:
        import pyarrow.parquet as pq

        path = f"{self.directory}/part-{bucket}-{self._sequence:05d}.parquet"
        self._sequence += 1
        # Buffered: the writer's many small writes (a page, a header) become one or a few.
        with self.fs.open_output_stream(path, buffer_size=WRITE_BUFFER_BYTES) as out:
            pq.write_table(
                table, out, row_group_size=ROW_GROUP_SIZE, **_parquet_options(self.schema)
            )
        self.buckets.setdefault(bucket, []).append(Part(path=path, rows=table.num_rows))

    def finish(self) -> None:
        """Write what is pending; an empty version still gets one part, for its schema."""
        self._flush()
        if not self.buckets:
            self._write_part(EMPTY_BUCKET, self.schema.empty_table())

    def snapshot(self, *, asset: str, partition: str) -> LakeVersion:
        """The version as written so far (not committed): to query it before its meta is set."""
        self.finish()
        return LakeVersion(
            asset=asset,
            partition=partition,
            name=self.directory.rsplit("/", 1)[-1],
            buckets={b: tuple(parts) for b, parts in self.buckets.items()},
            meta=self.meta,
            committed_at="",
            attachments=dict(self.attachments),
        )


@functools.lru_cache(maxsize=32)
def _parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """How the parts of a table with this schema are encoded.

    Dictionaries pay off for short repeated strings (paths, languages, models); on texts,
    contents and vectors they cost a hash of every value and are dropped. Vectors (lists
    of floats) are stored uncompressed: zstd saved ~12% of their bytes for a third of the
    embeddings' write time.
    """
    import pyarrow as pa

    compression: dict[str, str] = {}
    for f in schema:
        if pa.types.is_list(f.type) and pa.types.is_floating(f.type.value_type):
            compression[f"{f.name}.list.element"] = "none"  # the Parquet path of the values
        else:
            compression[f.name] = "zstd"
    return {
        "compression": compression,
        "compression_level": {c: 1 for c, codec in compression.items() if codec == "zstd"},
        "use_dictionary": [f.name for f in schema if pa.types.is_string(f.type)],
    }


@dataclass(frozen=True, slots=True)
class OpenedLake:
    """What a `Lake` opens on first use."""

    fs: pafs.FileSystem
    root: str
    # (asset, partition, manifest path) -> the version it describes; manifests never change.
    manifest: Callable[[str, str, str], LakeVersion]


class Lake(ConfigurableResource):
    """Versioned Parquet tables per asset and partition under a local path or object-store URL."""

    url: str = Field(description="Root of the lake: a local path, file://, s3://, gs://, ...")

    @functools.cached_property
    def opened(self) -> OpenedLake:
        """The filesystem, root and manifest cache (a plain object: read on every call)."""
        import pyarrow.fs as pafs

        opened, root = pafs.FileSystem.from_uri(_as_uri(self.url))
        fs = _with_azure_key(opened)
        return OpenedLake(
            fs=fs,
            root=root.rstrip("/"),
            manifest=functools.lru_cache(maxsize=MANIFEST_CACHE_SIZE)(
                functools.partial(_read_manifest, fs)
            ),
        )

    def _filesystem(self) -> tuple[pafs.FileSystem, str]:
        opened = self.opened
        return opened.fs, opened.root

    def _dir(self, asset: str, partition: str) -> str:
        _, root = self._filesystem()
        return f"{root}/{asset}/{partition}"

    def current(self, asset: str, partition: str) -> LakeVersion | None:
        """The committed version of an asset partition, or None if it never committed.

        Versions are shared between callers: read them, never modify their `meta`.
        """
        fs, _ = self._filesystem()
        base = self._dir(asset, partition)
        try:
            name = _read_json(fs, f"{base}/{POINTER}")["version"]
        except FileNotFoundError:
            return None
        return self.opened.manifest(asset, partition, f"{base}/{name}/{MANIFEST}")

    def register(
        self,
        con: duckdb.DuckDBPyConnection,
        view: str,
        version: LakeVersion,
        *,
        buckets: Iterable[str] | None = None,
    ) -> None:
        """Expose a version (or some of its buckets) to `con` as the relation `view`."""
        files = version.files(buckets)
        if not files:
            # No part in these buckets: an empty view with the version's schema.
            import pyarrow.parquet as pq

            fs, _ = self._filesystem()
            schema = pq.read_schema(version.files()[0], filesystem=fs)
            con.register(view, schema.empty_table())
            return
        self._register_files(con, view, files)

    def register_attachment(
        self, con: duckdb.DuckDBPyConnection, view: str, version: LakeVersion, name: str
    ) -> None:
        """Expose the version's attachment `name` (see `VersionWriter.attach`) as `view`.

        Raises:
            KeyError: The version has no such attachment.
        """
        path = version.attachments.get(name)
        if path is None:
            raise KeyError(f"{version.asset} version {version.name} has no {name!r} attachment")
        self._register_files(con, view, [path])

    def _register_files(self, con: duckdb.DuckDBPyConnection, view: str, files: list[str]) -> None:
        """Name Parquet files of the lake `view` on `con` (a connection-local relation)."""
        import pyarrow.dataset as pads

        fs, _ = self._filesystem()
        if _on_disk(fs):
            # DuckDB's own reader is ~5x faster than scanning an Arrow dataset of many parts.
            con.register(view, con.read_parquet(files))
        else:
            con.register(view, pads.dataset(files, format="parquet", filesystem=fs))

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
        if _on_disk(fs):  # object stores have no folders to make
            fs.create_dir(directory, recursive=True)
        writer = VersionWriter(fs=fs, directory=directory, schema=schema)
        try:
            yield writer
            writer.finish()
        except BaseException:
            _delete_dir(fs, directory)
            raise
        writer.committed = self._commit(writer, asset=asset, partition=partition)

    def _commit(self, writer: VersionWriter, *, asset: str, partition: str) -> LakeVersion:
        """Switch the partition to the writer's version and prune parts no pointer needs."""
        fs, _ = self._filesystem()
        previous = self.current(asset, partition)
        version = replace(
            writer.snapshot(asset=asset, partition=partition),
            committed_at=datetime.now(UTC).isoformat(),
        )
        doc = {
            "version": version.name,
            "buckets": {
                b: [{"path": p.path, "rows": p.rows} for p in parts]
                for b, parts in version.buckets.items()
            },
            "meta": version.meta,
            "committedAt": version.committed_at,
            "attachments": version.attachments,
        }
        base = self._dir(asset, partition)
        with fs.open_output_stream(f"{writer.directory}/{MANIFEST}") as out:
            out.write(json.dumps(doc).encode())
        _replace(fs, f"{base}/{POINTER}", json.dumps({"version": version.name}).encode())
        # Keep what the replaced version reads too: a reader that read the old pointer may
        # still be scanning it.
        keep = {version.name, *_directories(version)}
        if previous is not None:
            keep |= {previous.name, *_directories(previous)}
        self._prune(base, keep=keep)
        return version

    def _prune(self, base: str, *, keep: set[str]) -> None:
        """Delete the version folders outside `keep` and stray pointer files.

        The listing is recursive: pyarrow's GCS filesystem lists no folder it did not make
        itself (object stores have none), so the version folders are read off the paths.
        """
        import pyarrow.fs as pafs

        fs, _ = self._filesystem()
        stale: set[str] = set()
        for info in fs.get_file_info(pafs.FileSelector(base, recursive=True)):
            top, _, rest = info.path.removeprefix(f"{base}/").partition("/")
            if top.startswith("v-") and top not in keep:
                stale.add(top)
            elif not rest and top.startswith(f"{POINTER}.") and info.type == pafs.FileType.File:
                fs.delete_file(info.path)
        for name in stale:
            _delete_dir(fs, f"{base}/{name}")

    def drop(self, asset: str, partition: str) -> None:
        """Delete every version of an asset partition."""
        fs, _ = self._filesystem()
        _delete_dir(fs, self._dir(asset, partition))


def _read_manifest(fs: pafs.FileSystem, asset: str, partition: str, path: str) -> LakeVersion:
    """The version a manifest describes."""
    doc = _read_json(fs, path)
    return LakeVersion(
        asset=asset,
        partition=partition,
        name=doc["version"],
        buckets={
            bucket: tuple(Part(path=p["path"], rows=p["rows"]) for p in parts)
            for bucket, parts in doc["buckets"].items()
        },
        meta=doc["meta"],
        committed_at=doc["committedAt"],
        attachments=doc["attachments"],
    )


def _read_json(fs: pafs.FileSystem, path: str) -> Any:
    with fs.open_input_stream(path) as stream:
        return json.loads(stream.read())


def _directories(version: LakeVersion) -> set[str]:
    """Names of the version folders whose parts a version reads."""
    return {path.rsplit("/", 2)[-2] for path in version.files()}


def _on_disk(fs: pafs.FileSystem) -> bool:
    import pyarrow.fs as pafs

    return isinstance(fs, pafs.LocalFileSystem)


def _replace(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """Replace the file at `path` with `data` at once: readers see the old bytes or the new."""
    if not _on_disk(fs):
        # One PUT (see `_as_uri`): object stores replace an object whole.
        with fs.open_output_stream(path) as out:
            out.write(data)
        return
    staging = f"{path}.{uuid.uuid4().hex}"
    with fs.open_output_stream(staging) as out:
        out.write(data)
    fs.move(staging, path)


def _delete_dir(fs: pafs.FileSystem, path: str) -> None:
    """Delete a folder and what it holds, if anything: on an object store a folder is the
    prefix of its objects, and one nothing was written to yet does not exist."""
    import pyarrow.fs as pafs

    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return
    # pyarrow's GCS filesystem then deletes the folder's own marker, which it never made.
    with contextlib.suppress(FileNotFoundError):
        fs.delete_dir(path)


def _with_azure_key(fs: pafs.FileSystem) -> pafs.FileSystem:
    """`fs`, signing with `AZURE_STORAGE_ACCOUNT_KEY` when it is Azure's and the key is set.

    pyarrow reads an `abfs://` URI's account, endpoints and TLS setting but no account key:
    without one it signs in with DefaultAzureCredential (Entra ID from the environment, a
    workload or managed identity, the Azure CLI).
    """
    import pyarrow.fs as pafs

    key = os.environ.get(AZURE_ACCOUNT_KEY)
    if not key or not isinstance(fs, pafs.AzureFileSystem):
        return fs
    _, (options,) = fs.__reduce__()  # the options pyarrow read from the URI
    return pafs.AzureFileSystem(
        **{name: value for name, value in options.items() if value}, account_key=key
    )


def _as_uri(url: str) -> str:
    """The URI pyarrow opens for a lake root: a local path as `file://` (created), S3 tuned.

    S3 gets `allow_delayed_open`, so that a small object (a pointer, a manifest) is written
    with one PUT instead of a three-request multipart upload.
    """
    if "://" not in url:
        root = Path(url).expanduser().resolve()
        root.mkdir(parents=True, exist_ok=True)
        return root.as_uri()
    parts = urlsplit(url)
    if parts.scheme != "s3" or "allow_delayed_open" in parse_qs(parts.query):
        return url
    query = "&".join(filter(None, [parts.query, "allow_delayed_open=true"]))
    return urlunsplit(parts._replace(query=query))
