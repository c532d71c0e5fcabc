"""The indexed files of a source, read with DuckDB from its current documents version.

Each documents version carries a `listing` attachment: its indexed files in one Parquet
file sorted by path, so a page reads one file (its row groups pruned by path) instead of
every bucket's parts.

Pages are keyset-paginated on `(path, file_id)`: a cursor names the last row of the page
before, so a page costs the same wherever it is and rows never repeat or go missing when
an earlier page's rows change.

A committed version never changes, so a page of one is cached by (version, query): a
resync commits a new version and with it new keys, and nothing is ever stale.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from resources import duck
from resources.lake import Lake, LakeVersion

MAX_LIMIT = 1_000
LISTING_ATTACHMENT = "listing"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidCursor(ValueError):
    """The cursor was not made by `list_files`."""


@dataclass(frozen=True, slots=True)
class IndexedFile:
    """One indexed (not skipped) document of a source."""

    file_id: str
    path: str
    language: str | None
    size: int
    modified_at: datetime | None
    indexed_at: datetime | None


@dataclass(frozen=True, slots=True)
class FileQuery:
    """Which files, and which page of them."""

    path_prefix: str | None = None
    language: str | None = None
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class FilePage:
    """A page of files, how many match in all, and the cursor of the next page (None at the end).

    `tag` names the version and query the page was read for (an HTTP entity tag).
    """

    files: tuple[IndexedFile, ...]
    total: int
    next_cursor: str | None
    tag: str


@dataclass(frozen=True, slots=True)
class _At:
    """A version as a cache key: equal when partition and name are."""

    partition: str
    name: str
    version: LakeVersion = field(compare=False, hash=False)


class FileLister:
    """Pages of a source's indexed files, cached per immutable version."""

    def __init__(self, lake: Lake, *, cached_pages: int) -> None:
        """Read `lake`, keeping up to `cached_pages` pages in memory (0: none)."""
        self.lake = lake
        read: Callable[[_At, FileQuery], FilePage] = self._read
        self._page = functools.lru_cache(maxsize=cached_pages)(read) if cached_pages else read

    def page(self, source_id: str, query: FileQuery) -> FilePage:
        """Files of the source's current documents, ordered by path, filtered and paginated.

        Raises:
            InvalidCursor: The query's cursor is not one a page handed out.
            ValueError: The limit is outside 1..MAX_LIMIT.
        """
        if not 1 <= query.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
        if query.cursor:
            _decode(query.cursor)  # a bad cursor is refused whether or not there are files
        version = self.lake.current("documents", source_id)
        if version is None:
            return FilePage(files=(), total=0, next_cursor=None, tag=_tag("", query))
        return self._page(_At(version.partition, version.name, version), query)

    def _read(self, at: _At, query: FileQuery) -> FilePage:
        """One page, read with DuckDB from the version's listing."""
        after = _decode(query.cursor) if query.cursor else None
        con = duck.connect()
        self.lake.register_attachment(con, "listing", at.version, LISTING_ATTACHMENT)
        return _query(con, query, after, tag=_tag(at.name, query))


def _query(con: Any, query: FileQuery, after: tuple[str, str] | None, *, tag: str) -> FilePage:
    """The page of `query` from the relation `listing` on `con`."""
    where: list[str] = []
    params: list[Any] = []
    if query.path_prefix:
        where.append("starts_with(path, ?)")
        params.append(query.path_prefix)
    if query.language:
        where.append("language = ?")
        params.append(query.language)
    condition = " AND ".join(where) or "true"
    # One scan: the window counts every match before the page's keyset cuts it.
    keyset, page_params = "true", list(params)
    if after is not None:
        keyset = "path > ? OR (path = ? AND file_id > ?)"
        page_params += [after[0], after[0], after[1]]
    rows = con.execute(
        "WITH matching AS (SELECT file_id, path, language, size, epoch_us(modified_at), "
        f"epoch_us(indexed_at), count(*) OVER () FROM listing WHERE {condition}) "
        f"SELECT * FROM matching WHERE {keyset} ORDER BY path, file_id LIMIT ?",
        [*page_params, query.limit + 1],
    ).fetchall()
    if rows:
        total = int(rows[0][-1])
    else:  # past the last page: nothing left to carry the count
        total = int(duck.scalar(con, f"SELECT count(*) FROM listing WHERE {condition}", params))
    files = [
        IndexedFile(
            file_id=file_id,
            path=path,
            language=lang,
            size=int(size or 0),
            modified_at=_timestamp(modified),
            indexed_at=_timestamp(indexed),
        )
        for file_id, path, lang, size, modified, indexed, _ in rows[: query.limit]
    ]
    more = len(rows) > query.limit
    return FilePage(
        files=tuple(files),
        total=total,
        next_cursor=_encode(files[-1].path, files[-1].file_id) if more else None,
        tag=tag,
    )


def _tag(version: str, query: FileQuery) -> str:
    """A short digest naming the version and the query."""
    text = json.dumps([version, query.path_prefix, query.language, query.limit, query.cursor])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _timestamp(epoch_us: int | None) -> datetime | None:
    """A UTC datetime (DuckDB's own conversion of zoned timestamps costs more than the query)."""
    return None if epoch_us is None else EPOCH + timedelta(microseconds=epoch_us)


def _encode(path: str, file_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([path, file_id]).encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        path, file_id = json.loads(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as error:
        raise InvalidCursor("cursor is not valid") from error
    if not isinstance(path, str) or not isinstance(file_id, str):
        raise InvalidCursor("cursor is not valid")
    return path, file_id
