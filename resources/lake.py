"""The Parquet lake: one versioned table per asset and source partition.

A version is a set of Parquet parts written by one run, listed with its metadata in the
version's own `_MANIFEST.json`. Readers follow a tiny pointer file (`_CURRENT`, JSON) naming
the committed version; a run switches the pointer only after every part and the manifest
are written, with a single atomic write (a rename on a local disk, one PUT replacing the
object on an object store), so a failed or killed run never leaves a half-written source and
the last good version stays readable. Manifests never change once
written, so readers keep parsed ones in memory, keyed by version.

Rows belong to buckets by the first characters of their `file_id`. A run gathers its rows
into as few parts as their size allows (one per table for most sources), each sorted by
bucket, and the manifest records how many rows of each bucket a part holds. A new version
inherits the parts of every bucket its run did not touch, so a sync that changes three files
writes only the rows of three buckets: the bucket map says which buckets of an inherited part
are still current, and readers skip the rest of it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

if TYPE_CHECKING:  # imported where used: a lake costs no pyarrow until it is used
    import duckdb
    import pyarrow as pa
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

POINTER = "_CURRENT"
MANIFEST = "_MANIFEST.json"
MANIFEST_CACHE_SIZE = 512
BUCKET_KEY = "file_id"
BUCKET_CHARS = 2  # 256 buckets of a hex id
# Pending rows are written as one part when they reach this size (Arrow, uncompressed): most
# sources get one part per table, and a part stays small enough to fetch whole.
PART_BYTES = 64 * 1024 * 1024
# A row group ends at the first bucket boundary past this many rows or (on average) bytes: a
# reader of a few buckets skips the row groups of the others by their file id statistics.
ROW_GROUP_SIZE = 8_192
ROW_GROUP_BYTES = 1024 * 1024
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
    """One Parquet file of a version, with the rows it holds of each bucket."""

    path: str
    bucket_rows: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class PartRead:
    """A part to read for some buckets: whole, or only the rows of `keep`."""

    part: Part
    keep: frozenset[str] | None  # None: every row of the part

    def filter_sql(self) -> str:
        """The condition on a row of the part that selects the kept buckets."""
        assert self.keep is not None
        dropped = self.part.bucket_rows.keys() - self.keep
        # The shorter of the two lists: the part holds no bucket but its own.
        negate, listed = (True, dropped) if len(dropped) < len(self.keep) else (False, self.keep)
        # `starts_with` ORed, not `IN` over a prefix: DuckDB skips row groups by it.
        any_of = " OR ".join(
            f"starts_with({BUCKET_KEY}, '{_quoted(bucket)}')" for bucket in sorted(listed)
        )
        return f"NOT ({any_of})" if negate else f"({any_of})"


@dataclass(frozen=True, slots=True)
class LakeVersion:
    """A committed version of one asset partition."""

    asset: str
    partition: str
    name: str
    buckets: dict[str, tuple[Part, ...]]  # bucket -> the parts holding its current rows
    meta: dict[str, Any]
    committed_at: str
    attachments: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Current rows of every bucket."""
        return self.rows_in(self.buckets)

    def rows_in(self, buckets: Iterable[str]) -> int:
        """Current rows of some buckets (as the manifest counts them: nothing is read)."""
        return sum(
            part.bucket_rows.get(bucket, 0)
            for bucket in buckets
            for part in self.buckets.get(bucket, ())
        )

    def reads(self, buckets: Iterable[str] | None = None) -> list[PartRead]:
        """The parts holding the current rows of some buckets (or all), with what to keep."""
        chosen = self.buckets.keys() if buckets is None else buckets
        parts: dict[str, Part] = {}
        keep: dict[str, set[str]] = {}
        for bucket in chosen:
            for part in self.buckets.get(bucket, ()):
                parts[part.path] = part
                keep.setdefault(part.path, set()).add(bucket)
        return [
            PartRead(part, None if keep[path] >= part.bucket_rows.keys() else frozenset(keep[path]))
            for path, part in parts.items()
        ]

    def files(self, buckets: Iterable[str] | None = None) -> list[str]:
        """Paths of the parts, of some buckets or all (the empty-schema part included)."""
        return [read.part.path for read in self.reads(buckets)]

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
    # Batches written but not yet in a part, in order.
    _pending: list[pa.Table] = field(default_factory=list)
    _pending_bytes: int = 0
    _sequence: int = 0

    @property
    def rows(self) -> int:
        """Rows written or inherited so far (pending ones included)."""
        kept = sum(p.bucket_rows.get(b, 0) for b, parts in self.buckets.items() for p in parts)
        return kept + sum(t.num_rows for t in self._pending)

    def write(self, data: pa.RecordBatch | pa.Table) -> None:
        """Append rows (cast to the version's schema); they reach a part on flush."""
        import pyarrow as pa

        if data.num_rows == 0:
            return
        table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
        table = table.select(self.schema.names).cast(self.schema)
        self._pending.append(table)
        self._pending_bytes += table.nbytes
        if self._pending_bytes >= PART_BYTES:
            self._flush()

    def _flush(self) -> None:
        """Write what is pending as one part, sorted by bucket (a stable sort: rows keep
        their order within a bucket; rows that come sorted are not moved), a row group per
        few buckets."""
        import pyarrow as pa
        import pyarrow.compute as pc

        pending, self._pending, self._pending_bytes = self._pending, [], 0
        if not pending:
            return
        table = pa.concat_tables(pending)
        keys = pc.utf8_slice_codeunits(table.column(BUCKET_KEY), 0, BUCKET_CHARS)
        if len(keys) > 1 and not pc.all(pc.less_equal(keys[:-1], keys[1:])).as_py():
            order = pc.sort_indices(keys)
            # Contiguous first: taking from many chunks of strings or lists is several times slower.
            table, keys = table.combine_chunks().take(order), keys.take(order)
        counts = pc.value_counts(keys)  # buckets in sorted order, with their rows
        bucket_rows = dict(
            zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
        )
        if clash := self.inherited & bucket_rows.keys():
            raise ValueError(f"bucket {min(clash)} is both written and inherited")
        group_rows = min(ROW_GROUP_SIZE, max(1, ROW_GROUP_BYTES * table.num_rows // table.nbytes))
        with self._part_writer() as (path, out):
            start = end = 0
            for rows in bucket_rows.values():
                end += rows
                if end - start >= group_rows or end == table.num_rows:
                    out.write_table(table.slice(start, end - start), row_group_size=end - start)
                    start = end
        part = Part(path=path, bucket_rows=bucket_rows)
        for bucket in bucket_rows:
            self.buckets.setdefault(bucket, []).append(part)

    @contextmanager
    def _part_writer(self) -> Iterator[tuple[str, pq.ParquetWriter]]:
        """A Parquet writer of the version's next part, and the part's path."""
        import pyarrow.parquet as pq

        path = f"{self.directory}/part-{self._sequence:05d}.parquet"
        self._sequence += 1
        # Buffered: the writer's many small writes (a page, a header) become one or a few.
        with (
            self.fs.open_output_stream(path, buffer_size=WRITE_BUFFER_BYTES) as stream,
            pq.ParquetWriter(stream, self.schema, **_parquet_options(self.schema)) as out,
        ):
            yield path, out

    def inherit(self, version: LakeVersion, buckets: Iterable[str]) -> None:
        """Take over the current rows of `buckets` from an earlier version (its parts, as
        they are: nothing is copied)."""
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
        path, say) rather than by bucket; `Lake.register_attachment` reads it.
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

    def finish(self) -> None:
        """Write what is pending; an empty version still gets one part, for its schema."""
        self._flush()
        if not self.buckets:
            with self._part_writer() as (path, _):
                pass
            self.buckets[EMPTY_BUCKET] = [Part(path=path, bucket_rows={EMPTY_BUCKET: 0})]

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


class Lake:
    """Versioned Parquet tables per asset and partition under a local path or object-store URL.

    Dagster runs get theirs from `LakeResource` (`resources/dagster_resources.py`); this module
    imports neither Dagster nor pyarrow until a lake is used.
    """

    def __init__(self, url: str) -> None:
        """`url`: the root, a local path, file://, s3://, gs://, abfs:// ..."""
        self.url = url

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
        reads = version.reads(buckets)
        if not reads:
            # No part in these buckets: an empty view with the version's schema.
            import pyarrow.parquet as pq

            fs, _ = self._filesystem()
            schema = pq.read_schema(version.files()[0], filesystem=fs)
            con.register(view, schema.empty_table())
            return
        whole = [read.part.path for read in reads if read.keep is None]
        relations = [self._scan(con, whole)] if whole else []
        relations += [
            self._scan(con, [read.part.path]).filter(read.filter_sql())
            for read in reads
            if read.keep is not None
        ]
        con.register(view, functools.reduce(lambda a, b: a.union(b), relations))

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
        con.register(view, self._scan(con, [path]))

    def _scan(self, con: duckdb.DuckDBPyConnection, files: list[str]) -> duckdb.DuckDBPyRelation:
        """A relation over Parquet files of the lake (`UNION ALL`s of them keep every row)."""
        fs, _ = self._filesystem()
        if _on_disk(fs):
            # DuckDB's own reader is ~5x faster than scanning an Arrow dataset of many parts.
            return con.read_parquet(files)
        import pyarrow.dataset as pads  # ~30 ms to import: only for object stores

        return con.from_arrow(pads.dataset(files, format="parquet", filesystem=fs))

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
        parts = {read.part.path: read.part for read in version.reads()}
        index = {path: n for n, path in enumerate(parts)}
        doc = {
            "version": version.name,
            "parts": [{"path": p.path, "bucketRows": p.bucket_rows} for p in parts.values()],
            "buckets": {b: [index[p.path] for p in ps] for b, ps in version.buckets.items()},
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
        buckets=_bucket_parts(doc),
        meta=doc["meta"],
        committed_at=doc["committedAt"],
        attachments=doc["attachments"],
    )


def _bucket_parts(doc: dict[str, Any]) -> dict[str, tuple[Part, ...]]:
    """A manifest's bucket map. Manifests written before parts held several buckets list
    each bucket's parts in place: `{"path", "rows"}`, every row of the part in the bucket."""
    if "parts" not in doc:
        return {
            bucket: tuple(Part(path=p["path"], bucket_rows={bucket: p["rows"]}) for p in parts)
            for bucket, parts in doc["buckets"].items()
        }
    parts = [Part(path=p["path"], bucket_rows=p["bucketRows"]) for p in doc["parts"]]
    return {bucket: tuple(parts[n] for n in ns) for bucket, ns in doc["buckets"].items()}


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


def _quoted(value: str) -> str:
    """`value` inside a SQL string literal."""
    return value.replace("'", "''")
