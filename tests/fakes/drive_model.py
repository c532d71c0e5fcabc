"""The state of the fake Google Drive: files, the changes log, channels, and Drive's rules.

Shapes and rules follow the Drive API v3 reference: file resources and partial responses
(`fields`), the `q` forms `'ID' in parents`, `trashed = false` and `mimeType = '...'` joined
by `and`, shared-drive items hidden unless `supportsAllDrives` and
`includeItemsFromAllDrives`, numeric change page tokens, channel resources, and error
bodies `{"error": {"code", "message", "errors": [{"domain", "reason", "message", ...}]}}`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

FOLDER_MIME = "application/vnd.google-apps.folder"
DOCUMENT_MIME = "application/vnd.google-apps.document"
SPREADSHEET_MIME = "application/vnd.google-apps.spreadsheet"
PRESENTATION_MIME = "application/vnd.google-apps.presentation"
WORKSPACE_PREFIX = "application/vnd.google-apps."
ROOT_ALIAS = "root"

# Field names a selector may use, with what may be selected below each (None: a leaf).
FILE_FIELDS: dict[str, Any] = dict.fromkeys(
    (
        "kind",
        "id",
        "name",
        "mimeType",
        "parents",
        "trashed",
        "explicitlyTrashed",
        "version",
        "md5Checksum",
        "size",
        "modifiedTime",
        "createdTime",
        "driveId",
        "webViewLink",
    )
)
FILE_LIST_FIELDS: dict[str, Any] = {
    "kind": None,
    "nextPageToken": None,
    "incompleteSearch": None,
    "files": FILE_FIELDS,
}
CHANGE_FIELDS: dict[str, Any] = {
    **dict.fromkeys(("kind", "changeType", "time", "removed", "fileId", "driveId", "drive")),
    "file": FILE_FIELDS,
}
CHANGE_LIST_FIELDS: dict[str, Any] = {
    "kind": None,
    "nextPageToken": None,
    "newStartPageToken": None,
    "changes": CHANGE_FIELDS,
}
ABOUT_FIELDS: dict[str, Any] = {
    "kind": None,
    "user": dict.fromkeys(("kind", "displayName", "emailAddress", "me", "permissionId")),
}
# What v3 answers when `fields` is not given.
DEFAULT_FILE = "kind,id,name,mimeType"
DEFAULT_FILE_LIST = f"kind,nextPageToken,incompleteSearch,files({DEFAULT_FILE})"
DEFAULT_CHANGE_LIST = (
    "kind,nextPageToken,newStartPageToken,"
    f"changes(kind,changeType,time,removed,fileId,file({DEFAULT_FILE}))"
)

_Q_TERMS = (
    (re.compile(r"^'([^']+)' in parents$"), "parent"),
    (re.compile(r"^trashed\s*=\s*(true|false)$"), "trashed"),
    (re.compile(r"^mimeType\s*=\s*'([^']+)'$"), "mime"),
    (re.compile(r"^mimeType\s*!=\s*'([^']+)'$"), "not_mime"),
)


class DriveError(Exception):
    """An answer in Drive's error shape."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        location: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        detail: dict[str, Any] = {"domain": domain, "reason": reason, "message": message}
        if location is not None:
            detail |= {"location": location, "locationType": "parameter"}
        self.body = {"error": {"code": status, "message": message, "errors": [detail]}}


def not_found(file_id: str) -> DriveError:
    """Drive's 404 for a file the caller cannot see."""
    return DriveError(404, "notFound", f"File not found: {file_id}.", location="fileId")


def invalid(parameter: str, message: str = "Invalid Value") -> DriveError:
    """Drive's 400 for a bad query parameter."""
    return DriveError(400, "invalid", message, location=parameter)


@dataclass
class FakeFile:
    """One file or folder in the fake Drive."""

    id: str
    name: str
    mime_type: str
    parent: str | None
    drive_id: str | None = None
    content: bytes = b""
    exports: dict[str, bytes] = field(default_factory=dict)
    explicitly_trashed: bool = False
    version: int = 1
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    modified: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def is_workspace(self) -> bool:
        """A Google Workspace file (exported, never downloaded)."""
        return self.mime_type.startswith(WORKSPACE_PREFIX)

    def resource(self, base_url: str, *, trashed: bool) -> dict[str, Any]:
        """The full v3 file resource; `trashed` also when a folder above is in the trash."""
        body: dict[str, Any] = {
            "kind": "drive#file",
            "id": self.id,
            "name": self.name,
            "mimeType": self.mime_type,
            "parents": [self.parent] if self.parent else [],
            "trashed": trashed,
            "explicitlyTrashed": self.explicitly_trashed,
            "version": str(self.version),
            "createdTime": _rfc3339(self.created),
            "modifiedTime": _rfc3339(self.modified),
            "webViewLink": f"{base_url}/file/d/{self.id}/view",
        }
        if self.drive_id:
            body["driveId"] = self.drive_id
        if not self.is_workspace:
            body["md5Checksum"] = hashlib.md5(self.content).hexdigest()
            body["size"] = str(len(self.content))
        return body

    def touch(self) -> None:
        """Count a change: Drive bumps `version` and `modifiedTime` on every change."""
        self.version += 1
        self.modified = datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed `q` of files.list."""

    parent: str | None = None
    trashed: bool | None = None
    mime: str | None = None
    not_mime: str | None = None

    @classmethod
    def parse(cls, q: str | None) -> Query:
        """Parse the supported forms joined by `and`; anything else is Drive's 400."""
        values: dict[str, Any] = {}
        for term in re.split(r"\s+and\s+", (q or "").strip()) if q else []:
            for pattern, key in _Q_TERMS:
                match = pattern.match(term.strip())
                if match:
                    value = match.group(1)
                    values[key] = value == "true" if key == "trashed" else value
                    break
            else:
                raise invalid("q")
        return cls(**values)

    def matches(self, item: FakeFile, *, trashed: bool) -> bool:
        """Whether the item (in the trash or not) passes every term."""
        return (
            (self.parent is None or item.parent == self.parent)
            and (self.trashed is None or trashed == self.trashed)
            and (self.mime is None or item.mime_type == self.mime)
            and (self.not_mime is None or item.mime_type != self.not_mime)
        )


def partial(body: Any, fields: str | None, *, default: str, known: dict[str, Any]) -> Any:
    """`body` cut down to the `fields` selector (`a,b(c,d(e))`, `*`), or to `default`.

    Unknown names are Drive's 400 `Invalid field selection`.
    """
    selector, rest = _parse_selector((fields or default).replace(" ", ""))
    if rest:
        raise invalid("fields", f"Invalid field selection {fields}")
    return _select(body, selector, known)


def _select(body: Any, selector: dict[str, Any], known: dict[str, Any]) -> Any:
    if isinstance(body, list):
        return [_select(item, selector, known) for item in body]
    if not selector or "*" in selector:
        return body
    selected: dict[str, Any] = {}
    for name, below in selector.items():
        if name not in known:
            raise invalid("fields", f"Invalid field selection {name}")
        if name in body:
            nested = known[name]
            selected[name] = _select(body[name], below, nested) if nested else body[name]
    return selected


@dataclass
class Channel:
    """A notification channel opened by changes.watch."""

    id: str
    resource_id: str
    address: str
    token: str | None
    expiration_ms: int
    resource_uri: str
    messages: int = 0

    def resource(self) -> dict[str, Any]:
        """The channel resource Drive answers with."""
        body: dict[str, Any] = {
            "kind": "api#channel",
            "id": self.id,
            "resourceId": self.resource_id,
            "resourceUri": self.resource_uri,
            "expiration": str(self.expiration_ms),
        }
        if self.token is not None:
            body["token"] = self.token
        return body


def new_id() -> str:
    """A Drive-looking id (33 URL-safe characters)."""
    return "1" + secrets.token_urlsafe(24)[:32]


def _parse_selector(text: str) -> tuple[dict[str, Any], str]:
    fields: dict[str, Any] = {}
    while text:
        match = re.match(r"[A-Za-z*][A-Za-z0-9]*", text)
        if match is None:
            raise invalid("fields", f"Invalid field selection {text}")
        name, text = match.group(0), text[match.end() :]
        below: dict[str, Any] = {}
        if text.startswith("("):
            below, text = _parse_selector(text[1:])
            if not text.startswith(")"):
                raise invalid("fields", f"Invalid field selection {text}")
            text = text[1:]
        fields[name] = below
        if text.startswith(")"):
            return fields, text
        if text.startswith(","):
            text = text[1:]
    return fields, text


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
