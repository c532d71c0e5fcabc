"""The indexed files of a source, read with DuckDB from its current documents version.

Each documents version carries a `listing` attachment: its indexed files in one Parquet
file sorted by path, so a page reads one file (its row groups pruned by path) instead of
every bucket's parts.

Pages are keyset-paginated on `(path, file_id)`: a cursor names the last row of the page
before, so a page costs the same wherever it is and rows never repeat or go missing when
an earlier page's rows change.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from resources import duck
from resources.lake import Lake

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
class FilePage:
    """A page of files, how many match in all, and the cursor of the next page (None at the end)."""

    files: list[IndexedFile]
    total: int
    next_cursor: str | None


def list_files(
    lake: Lake,
    source_id: str,
    *,
    path_prefix: str | None = None,
    language: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> FilePage:
    """Files of the source's current documents, ordered by path, filtered and paginated.

    Raises:
        InvalidCursor: `cursor` is not one this function handed out.
        ValueError: `limit` is outside 1..MAX_LIMIT.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    after = _decode(cursor) if cursor else None
    version = lake.current("documents", source_id)
    if version is None:
        return FilePage(files=[], total=0, next_cursor=None)
    con = duck.connect()
    lake.register_attachment(con, "listing", version, LISTING_ATTACHMENT)
    where: list[str] = []
    params: list[Any] = []
    if path_prefix:
        where.append("starts_with(path, ?)")
        params.append(path_prefix)
    if language:
        where.append("language = ?")
        params.append(language)
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
        [*page_params, limit + 1],
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
        for file_id, path, lang, size, modified, indexed, _ in rows[:limit]
    ]
    more = len(rows) > limit
    return FilePage(
        files=files,
        total=total,
        next_cursor=_encode(files[-1].path, files[-1].file_id) if more else None,
    )


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
