"""Files: what is indexed for a source, read from the lake with DuckDB."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import LakeDep, OwnedSource, RateLimited
from api.errors import ERROR_RESPONSES, SOURCE_MISSING, validation_error
from api.schemas import FileListOut
from api.views import file_view
from resources.files import MAX_LIMIT, InvalidCursor, list_files

router = APIRouter(
    prefix="/sources", tags=["files"], dependencies=[RateLimited], responses=ERROR_RESPONSES
)


@router.get("/{source_id}/files", responses=SOURCE_MISSING)
def list_source_files(
    source: OwnedSource,
    lake: LakeDep,
    path: Annotated[str | None, Query(max_length=1024, description="Path prefix.")] = None,
    language: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: Annotated[str | None, Query(max_length=4096, description="A `nextCursor`.")] = None,
) -> FileListOut:
    """List the source's indexed files by path, filtered by path prefix and language."""
    try:
        page = list_files(
            lake, source.id, path_prefix=path, language=language, limit=limit, cursor=cursor
        )
    except InvalidCursor as error:
        raise validation_error(f"cursor: {error}", details={"field": "query.cursor"}) from error
    return FileListOut(
        files=[file_view(file) for file in page.files],
        total=page.total,
        next_cursor=page.next_cursor,
    )
