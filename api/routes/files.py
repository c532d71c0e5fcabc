"""Files: what is indexed for a source, read from the lake with DuckDB."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from starlette.concurrency import run_in_threadpool

from api.deps import RateLimited, ReadSource, StateDep
from api.errors import ERROR_RESPONSES, SOURCE_MISSING, validation_error
from api.schemas import FileListOut
from api.views import file_view
from resources.files import MAX_LIMIT, FileQuery, InvalidCursor

router = APIRouter(
    prefix="/sources", tags=["files"], dependencies=[RateLimited], responses=ERROR_RESPONSES
)


@router.get(
    "/{source_id}/files",
    response_model=FileListOut,
    responses={**SOURCE_MISSING, 304: {"description": "Not modified: `If-None-Match` matched."}},
)
async def list_source_files(
    source: ReadSource,
    state: StateDep,
    response: Response,
    if_none_match: Annotated[str | None, Header(max_length=256)] = None,
    path: Annotated[str | None, Query(max_length=1024, description="Path prefix.")] = None,
    language: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: Annotated[str | None, Query(max_length=4096, description="A `nextCursor`.")] = None,
) -> FileListOut | Response:
    """List the source's indexed files by path, filtered by path prefix and language.

    The `ETag` names the source's indexed version and the query: send it back as
    `If-None-Match` to get 304 until a sync changes the files.
    """
    query = FileQuery(path_prefix=path, language=language, limit=limit, cursor=cursor)
    try:
        page = await run_in_threadpool(state.files.page, source.id, query)
    except InvalidCursor as error:
        raise validation_error(f"cursor: {error}", details={"field": "query.cursor"}) from error
    etag = f'W/"{page.tag}"'
    if if_none_match is not None and etag in (t.strip() for t in if_none_match.split(",")):
        return Response(status_code=304, headers={"ETag": etag})
    response.headers["ETag"] = etag
    return FileListOut(
        files=[file_view(file) for file in page.files],
        total=page.total,
        next_cursor=page.next_cursor,
    )
