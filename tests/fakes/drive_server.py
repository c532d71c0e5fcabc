"""A real HTTP server on 127.0.0.1 that answers as the Google Drive API v3 does, for tests.

Under `/drive/v3` (the base URL is `{url}/drive/v3`): about.get, files.list (`q`,
`pageSize`, `pageToken`, `fields`, `supportsAllDrives`, `includeItemsFromAllDrives`),
files.get (with `alt=media`, streamed), files.export (formats per file, the 10 MB limit),
changes.getStartPageToken, changes.list, changes.watch and channels.stop; Bearer auth (the
drive's token, or any a linked authorization server issued); errors in Drive's shape (see
`drive_model`). Channels get real push notifications: a `sync` message when opened and a
`change` message after every change, POSTed to their address with the `X-Goog-*` headers
and no body; `push` sends one on demand (a retry with the same message number, a forged
token). Drive may shorten a channel's life (`channel_ttl_cap_ms`). Tests change the drive
through methods (each one a change in the changes log), script the next answers (403 rate
limits, 429 with Retry-After, ...), and see every request and every notification.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Body, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tests.fakes.drive_model import (
    ABOUT_FIELDS,
    CHANGE_LIST_FIELDS,
    DEFAULT_CHANGE_LIST,
    DEFAULT_FILE,
    DEFAULT_FILE_LIST,
    DOCUMENT_MIME,
    FILE_FIELDS,
    FILE_LIST_FIELDS,
    FOLDER_MIME,
    PRESENTATION_MIME,
    ROOT_ALIAS,
    SPREADSHEET_MIME,
    Channel,
    DriveError,
    FakeFile,
    Query,
    invalid,
    new_id,
    not_found,
    partial,
)
from tests.fakes.serving import serve_in_thread

API_PREFIX = "/drive/v3"
FAKE_TOKEN = "ya29.fake-drive-access-token-0123456789"
EXPORT_LIMIT_BYTES = 10 * 1024 * 1024
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
DOWNLOAD_CHUNK = 64 * 1024
DEFAULT_CHANNEL_TTL_MS = 3600 * 1000
MAX_CHANNEL_TTL_MS = 7 * 24 * 3600 * 1000  # a week, for the changes resource
USER_RATE_LIMIT = "User Rate Limit Exceeded"
RATE_LIMIT = "Rate Limit Exceeded"
BAD_CREDENTIALS = "Request had invalid authentication credentials."
TOO_LARGE_TO_EXPORT = "This file is too large to be exported."
USER_NAME = "Headwater Bot"
USER_EMAIL = "headwater-bot@example.com"
NOT_DOWNLOADABLE = (
    "Only files with binary content can be downloaded. Use Export with Docs Editors files."
)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One API request as the server saw it."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One push notification sent to a channel's address, and what the receiver answered
    (status 0: nobody answered)."""

    channel_id: str
    state: str
    headers: dict[str, str]
    status: int
    answer: str


@dataclass(slots=True)
class Scripted:
    """An error to answer instead of the real one, to requests whose path contains `path`."""

    error: DriveError
    path: str = ""


@dataclass
class FakeDrive:
    """State and controls of one running fake Drive.

    Attributes:
        token: The access token it accepts.
        accepts: Also accepts the tokens this says yes to (an authorization server's).
        channel_ttl_cap_ms: The longest life it gives a channel (Drive: a week).
    """

    token: str
    accepts: Callable[[str], bool] | None = None
    channel_ttl_cap_ms: int = MAX_CHANNEL_TTL_MS
    url: str = ""
    root_id: str = field(default_factory=new_id)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _files: dict[str, FakeFile] = field(default_factory=dict)
    _log: list[tuple[str, datetime]] = field(default_factory=list)
    _channels: dict[str, Channel] = field(default_factory=dict)
    _requests: list[RecordedRequest] = field(default_factory=list)
    _script: deque[Scripted] = field(default_factory=deque)
    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._files[self.root_id] = FakeFile(self.root_id, "My Drive", FOLDER_MIME, None)

    @property
    def api_url(self) -> str:
        """The v3 base URL (the connector's `apiUrl`)."""
        return f"{self.url}{API_PREFIX}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every API request received so far, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def channels(self) -> dict[str, Channel]:
        """Open channels by id."""
        with self._lock:
            return dict(self._channels)

    # --- changing the drive (each call is one entry of the changes log) ---

    def add_folder(self, name: str, parent: str = ROOT_ALIAS) -> str:
        """A new folder; its id."""
        return self._add(name, FOLDER_MIME, parent)

    def add_shared_drive(self, name: str) -> str:
        """A shared drive; the id of its root folder (which is also the drive's id)."""
        with self._lock:
            drive_id = new_id()
            self._files[drive_id] = FakeFile(drive_id, name, FOLDER_MIME, None, drive_id=drive_id)
            return drive_id

    def add_file(self, name: str, data: bytes, *, mime_type: str, parent: str = ROOT_ALIAS) -> str:
        """A new uploaded (binary) file; its id."""
        return self._add(name, mime_type, parent, content=data)

    def add_document(
        self, name: str, markdown: str | None, *, plain: str | None = None, parent: str = ROOT_ALIAS
    ) -> str:
        """A Google Doc exportable as markdown (unless None) and plain text; its id."""
        exports = {"text/plain": (plain if plain is not None else markdown or "").encode()}
        if markdown is not None:
            exports["text/markdown"] = markdown.encode()
        return self._add(name, DOCUMENT_MIME, parent, exports=exports)

    def add_spreadsheet(self, name: str, csv: str, *, parent: str = ROOT_ALIAS) -> str:
        """A Google Sheet exportable as CSV (its first sheet); its id."""
        return self._add(name, SPREADSHEET_MIME, parent, exports={"text/csv": csv.encode()})

    def add_presentation(self, name: str, text: str, *, parent: str = ROOT_ALIAS) -> str:
        """Google Slides exportable as plain text; its id."""
        return self._add(name, PRESENTATION_MIME, parent, exports={"text/plain": text.encode()})

    def edit(
        self, file_id: str, *, data: bytes | None = None, exports: dict[str, str] | None = None
    ) -> None:
        """New content: the bytes of an uploaded file, or export format -> text."""
        with self._lock:
            item = self._files[file_id]
            if data is not None:
                item.content = data
            item.exports |= {mime: text.encode() for mime, text in (exports or {}).items()}
            self._changed(item)
        self._notify_all()

    def rename(self, file_id: str, name: str) -> None:
        """A new name."""
        with self._lock:
            item = self._files[file_id]
            item.name = name
            self._changed(item)
        self._notify_all()

    def move(self, file_id: str, parent: str) -> None:
        """A new parent folder (`root` for My Drive)."""
        with self._lock:
            item = self._files[file_id]
            item.parent = self._resolve(parent)
            self._changed(item)
        self._notify_all()

    def trash(self, file_id: str, *, trashed: bool = True) -> None:
        """Move to (or, with `trashed=False`, restore from) the trash; a folder takes its
        contents along (they read `trashed`, and only the folder is a change)."""
        with self._lock:
            item = self._files[file_id]
            item.explicitly_trashed = trashed
            self._changed(item)
        self._notify_all()

    def delete(self, file_id: str) -> None:
        """Delete for good, a folder with its contents: the changes feed says `removed`."""
        with self._lock:
            doomed = [file_id]
            for current in doomed:
                doomed += [i.id for i in self._files.values() if i.parent == current]
            for gone in doomed:
                del self._files[gone]
                self._log.append((gone, datetime.now(UTC)))
        self._notify_all()

    # --- scripting answers ---

    def script(self, error: DriveError, *, times: int = 1, path: str = "") -> None:
        """Answer the next `times` API requests (to paths containing `path`) with `error`."""
        with self._lock:
            self._script.extend(Scripted(error, path) for _ in range(times))

    def rate_limit(
        self, *, status: int = 403, retry_after: int | None = None, times: int = 1, path: str = ""
    ) -> None:
        """Drive's rate-limit answers: 403 `userRateLimitExceeded`, 429 `rateLimitExceeded`."""
        headers = {} if retry_after is None else {"retry-after": str(retry_after)}
        if status == 429:
            error = DriveError(
                429, "rateLimitExceeded", RATE_LIMIT, domain="usageLimits", headers=headers
            )
        else:
            error = DriveError(
                403, "userRateLimitExceeded", USER_RATE_LIMIT, domain="usageLimits", headers=headers
            )
        self.script(error, times=times, path=path)

    # --- what the routes call ---

    def admit(self, request: Request) -> None:
        """Record a request; raise the scripted or auth failure to answer, if any."""
        with self._lock:
            self._requests.append(
                RecordedRequest(
                    request.method,
                    request.url.path,
                    dict(request.query_params),
                    dict(request.headers),
                )
            )
            for scripted in self._script:
                if scripted.path in request.url.path:
                    self._script.remove(scripted)
                    raise scripted.error
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        known = token == self.token or (self.accepts is not None and self.accepts(token))
        if scheme != "Bearer" or not known:
            raise DriveError(
                401,
                "authError",
                BAD_CREDENTIALS,
                headers={"www-authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )

    def visible(self, file_id: str, *, all_drives: bool) -> FakeFile:
        """The file as this caller may see it (shared-drive items need supportsAllDrives)."""
        with self._lock:
            item = self._files.get(self._resolve(file_id))
        if item is None or (item.drive_id and not all_drives):
            raise not_found(file_id)
        return item

    def list_files(self, query: Query, *, all_drives: bool) -> list[FakeFile]:
        """Files matching `query`, by name then id."""
        if query.parent is not None:
            query = replace(query, parent=self._resolve(query.parent))
        with self._lock:
            found = [
                item
                for item in self._files.values()
                if item.id != self.root_id
                and query.matches(item, trashed=self.in_trash(item))
                and (all_drives or not item.drive_id)
            ]
        return sorted(found, key=lambda item: (item.name, item.id))

    def in_trash(self, item: FakeFile) -> bool:
        """Whether the item or a folder above it is in the trash."""
        with self._lock:
            current: FakeFile | None = item
            while current is not None:
                if current.explicitly_trashed:
                    return True
                current = self._files.get(current.parent) if current.parent else None
            return False

    def resource(self, item: FakeFile) -> dict[str, Any]:
        """The item's full file resource."""
        return item.resource(self.url, trashed=self.in_trash(item))

    def start_page_token(self) -> str:
        """The token of the next change."""
        with self._lock:
            return str(len(self._log) + 1)

    def changes_since(self, token: str) -> list[tuple[str, datetime, FakeFile | None]]:
        """Log entries from `token` on, each with the file's current state (None: gone)."""
        with self._lock:
            if not token.isdigit() or not 1 <= int(token) <= len(self._log) + 1:
                raise invalid("pageToken")
            return [
                (file_id, moment, self._files.get(file_id))
                for file_id, moment in self._log[int(token) - 1 :]
            ]

    def open_channel(self, body: dict[str, Any], *, page_token: str) -> Channel:
        """changes.watch: a new channel (its `sync` message is sent before this returns)."""
        channel_id, address = body.get("id"), body.get("address")
        if not isinstance(channel_id, str) or not channel_id:
            raise DriveError(400, "required", "Required parameter: id")
        if body.get("type") != "web_hook" or not isinstance(address, str):
            raise DriveError(400, "invalid", "Invalid value for channel type or address")
        self.changes_since(page_token)  # validates the token
        now_ms = int(time.time() * 1000)
        requested = int(body.get("expiration") or now_ms + DEFAULT_CHANNEL_TTL_MS)
        with self._lock:
            if channel_id in self._channels:
                raise DriveError(400, "channelIdNotUnique", f"Channel id {channel_id} not unique")
            channel = Channel(
                id=channel_id,
                resource_id=new_id(),
                address=address,
                token=body.get("token"),
                expiration_ms=min(requested, now_ms + self.channel_ttl_cap_ms),
                resource_uri=f"{self.api_url}/changes?alt=json&pageToken={page_token}",
            )
            self._channels[channel_id] = channel
        self.push(channel.id, "sync")
        return channel

    def close_channel(self, body: dict[str, Any]) -> None:
        """channels.stop: 404 unless both the id and the resource id match an open channel."""
        with self._lock:
            channel = self._channels.get(str(body.get("id")))
            if channel is None or channel.resource_id != body.get("resourceId"):
                raise DriveError(
                    404, "notFound", f"Channel '{body.get('id')}' not found for project"
                )
            del self._channels[channel.id]

    # --- internals ---

    def _resolve(self, file_id: str) -> str:
        return self.root_id if file_id == ROOT_ALIAS else file_id

    def _add(self, name: str, mime_type: str, parent: str, **content: Any) -> str:
        with self._lock:
            parent_id = self._resolve(parent)
            item = FakeFile(
                new_id(),
                name,
                mime_type,
                parent_id,
                drive_id=self._files[parent_id].drive_id,
                **content,
            )
            self._files[item.id] = item
            self._log.append((item.id, item.modified))
        self._notify_all()
        return item.id

    def _changed(self, item: FakeFile) -> None:
        """Log a change (callers notify the channels once the lock is released)."""
        item.touch()
        self._log.append((item.id, item.modified))

    def _notify_all(self) -> None:
        with self._lock:
            channel_ids = list(self._channels)
        for channel_id in channel_ids:
            self.push(channel_id)

    # --- push notifications ---

    def push(
        self,
        channel_id: str,
        state: str = "change",
        *,
        message_number: int | None = None,
        token: str | None = None,
    ) -> Delivery:
        """POST one notification to an open channel's address now, as Drive does: no body,
        everything in `X-Goog-*` headers; what the receiver answered is kept in `deliveries`.

        Args:
            channel_id: The channel.
            state: `X-Goog-Resource-State` (`sync`, `change`).
            message_number: Send this number again (Drive's retry of one message); default:
                the channel's next number.
            token: A token other than the channel's (a forged notification).
        """
        with self._lock:
            channel = self._channels[channel_id]
            if message_number is None:
                channel.messages += 1
                message_number = channel.messages
            expiration = datetime.fromtimestamp(channel.expiration_ms / 1000, UTC)
            headers = {
                "X-Goog-Channel-ID": channel.id,
                "X-Goog-Channel-Expiration": format_datetime(expiration, usegmt=True),
                "X-Goog-Message-Number": str(message_number),
                "X-Goog-Resource-ID": channel.resource_id,
                "X-Goog-Resource-State": state,
                "X-Goog-Resource-URI": channel.resource_uri,
            }
            sent_token = token if token is not None else channel.token
            if sent_token is not None:
                headers["X-Goog-Channel-Token"] = sent_token
        try:
            response = httpx.post(channel.address, headers=headers, timeout=10)
            status, answer = response.status_code, response.text
        except httpx.HTTPError as error:
            status, answer = 0, str(error)
        delivery = Delivery(channel.id, state, headers, status, answer)
        with self._lock:
            self.deliveries.append(delivery)
        return delivery


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() == "true"


def _page_size(request: Request) -> int:
    raw = request.query_params.get("pageSize", str(DEFAULT_PAGE_SIZE))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise invalid("pageSize")
    return int(raw)


def _offset(token: str | None, *, kind: str) -> int:
    """Files page tokens: `kind:offset` (opaque to clients)."""
    if token is None:
        return 0
    prefix, _, offset = token.partition(":")
    if prefix != kind or not offset.isdigit():
        raise invalid("pageToken")
    return int(offset)


def _app(drive: FakeDrive) -> FastAPI:
    app = FastAPI()

    @app.exception_handler(DriveError)
    def drive_error(_: Request, error: DriveError) -> JSONResponse:
        return JSONResponse(error.body, status_code=error.status, headers=error.headers)

    @app.get(API_PREFIX + "/files")
    def list_files(request: Request) -> Any:
        drive.admit(request)
        params = request.query_params
        all_drives = _flag(request, "supportsAllDrives") and _flag(
            request, "includeItemsFromAllDrives"
        )
        found = drive.list_files(Query.parse(params.get("q")), all_drives=all_drives)
        size, start = _page_size(request), _offset(params.get("pageToken"), kind="files")
        body: dict[str, Any] = {
            "kind": "drive#fileList",
            "incompleteSearch": False,
            "files": [drive.resource(item) for item in found[start : start + size]],
        }
        if start + size < len(found):
            body["nextPageToken"] = f"files:{start + size}"
        return partial(
            body, params.get("fields"), default=DEFAULT_FILE_LIST, known=FILE_LIST_FIELDS
        )

    @app.get(API_PREFIX + "/files/{file_id}")
    def get_file(request: Request, file_id: str) -> Any:
        drive.admit(request)
        item = drive.visible(file_id, all_drives=_flag(request, "supportsAllDrives"))
        if request.query_params.get("alt") != "media":
            fields = request.query_params.get("fields")
            return partial(drive.resource(item), fields, default=DEFAULT_FILE, known=FILE_FIELDS)
        if item.is_workspace:
            raise DriveError(403, "fileNotDownloadable", NOT_DOWNLOADABLE, location="alt")
        data = item.content
        chunks = (data[i : i + DOWNLOAD_CHUNK] for i in range(0, len(data), DOWNLOAD_CHUNK))
        return StreamingResponse(chunks, media_type=item.mime_type)

    @app.get(API_PREFIX + "/files/{file_id}/export")
    def export(request: Request, file_id: str) -> Response:
        drive.admit(request)
        item = drive.visible(file_id, all_drives=True)
        mime_type = request.query_params.get("mimeType")
        if mime_type is None:
            raise DriveError(400, "required", "Required parameter: mimeType", location="mimeType")
        if not item.is_workspace or item.mime_type == FOLDER_MIME:
            raise DriveError(403, "fileNotExportable", "Export only supports Docs Editors files.")
        data = item.exports.get(mime_type)
        if data is None:
            raise DriveError(400, "badRequest", "The requested conversion is not supported.")
        if len(data) > EXPORT_LIMIT_BYTES:
            raise DriveError(
                403, "exportSizeLimitExceeded", "This file is too large to be exported."
            )
        return Response(data, media_type=mime_type)

    @app.get(API_PREFIX + "/about")
    def about(request: Request) -> Any:
        drive.admit(request)
        fields = request.query_params.get("fields")
        if not fields:
            raise DriveError(400, "required", "The 'fields' parameter is required for this method.")
        body = {
            "kind": "drive#about",
            "user": {
                "kind": "drive#user",
                "displayName": USER_NAME,
                "emailAddress": USER_EMAIL,
                "me": True,
                "permissionId": "01234567890123456789",
            },
        }
        return partial(body, fields, default=fields, known=ABOUT_FIELDS)

    @app.get(API_PREFIX + "/changes/startPageToken")
    def start_page_token(request: Request) -> Any:
        drive.admit(request)
        return {"kind": "drive#startPageToken", "startPageToken": drive.start_page_token()}

    @app.get(API_PREFIX + "/changes")
    def list_changes(request: Request) -> Any:
        drive.admit(request)
        params = request.query_params
        token = params.get("pageToken")
        if token is None:
            raise DriveError(400, "required", "Required parameter: pageToken", location="pageToken")
        all_drives = _flag(request, "supportsAllDrives") and _flag(
            request, "includeItemsFromAllDrives"
        )
        include_removed = _flag(request, "includeRemoved") or "includeRemoved" not in params
        entries = drive.changes_since(token)
        size = _page_size(request)
        changes = []
        for file_id, moment, item in entries[:size]:
            if item is not None and item.drive_id and not all_drives:
                continue
            if item is None and not include_removed:
                continue
            change: dict[str, Any] = {
                "kind": "drive#change",
                "changeType": "file",
                "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "removed": item is None,
                "fileId": file_id,
            }
            if item is not None:
                change["file"] = drive.resource(item)
            changes.append(change)
        body: dict[str, Any] = {"kind": "drive#changeList", "changes": changes}
        if len(entries) > size:
            body["nextPageToken"] = str(int(token) + size)
        else:
            body["newStartPageToken"] = drive.start_page_token()
        return partial(
            body, params.get("fields"), default=DEFAULT_CHANGE_LIST, known=CHANGE_LIST_FIELDS
        )

    # Plain `def` routes run in a worker thread: opening a channel posts its `sync` message.
    @app.post(API_PREFIX + "/changes/watch")
    def watch(request: Request, body: Annotated[dict[str, Any], Body()]) -> Any:
        drive.admit(request)
        token = request.query_params.get("pageToken")
        if token is None:
            raise DriveError(400, "required", "Required parameter: pageToken", location="pageToken")
        return drive.open_channel(body, page_token=token).resource()

    @app.post(API_PREFIX + "/channels/stop")
    def stop(request: Request, body: Annotated[dict[str, Any], Body()]) -> Response:
        drive.admit(request)
        drive.close_channel(body)
        return Response(status_code=204)

    return app


@contextmanager
def running_drive(*, token: str = FAKE_TOKEN) -> Iterator[FakeDrive]:
    """Serve a fake Drive on a free port of 127.0.0.1 in a background thread until exit."""
    drive = FakeDrive(token=token)
    with serve_in_thread(_app(drive), name="Google Drive") as url:
        drive.url = url
        yield drive


@pytest.fixture(name="drive")
def drive_fixture() -> Iterator[FakeDrive]:
    """A fresh, empty fake Drive for one test."""
    with running_drive() as drive:
        yield drive
