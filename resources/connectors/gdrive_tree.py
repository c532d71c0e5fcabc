"""Drive files as a tree under the synced folder, and the paths the `gdrive` source gives them.

Pure: no I/O. Drive lets siblings share a name and a name hold `/`; a path segment is the
name with `/` replaced, Google Workspace files get the extension of their export format,
and among siblings with the same segment the first by id keeps it while the others get
their id added (`Report (1AbC).md`), so every file has one stable path.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

FOLDER_MIME = "application/vnd.google-apps.folder"
DOCUMENT_MIME = "application/vnd.google-apps.document"
SPREADSHEET_MIME = "application/vnd.google-apps.spreadsheet"
PRESENTATION_MIME = "application/vnd.google-apps.presentation"
PDF_MIME = "application/pdf"
GOOGLE_APPS_PREFIX = "application/vnd.google-apps."

# The fields of a file resource the connector reads (`fields=files(...)` of files.list).
FILE_FIELDS = "id,name,mimeType,parents,trashed,version,md5Checksum,size,modifiedTime,driveId"


@dataclass(frozen=True, slots=True)
class Export:
    """How a Google Workspace file is read: exported to the first format Drive accepts.

    Attributes:
        extension: Added to the file's name in its path (`md`, `csv`, `txt`).
        mime_types: Export formats to try, in order (a later one when Drive refuses one).
    """

    extension: str
    mime_types: tuple[str, ...]


EXPORTS: Mapping[str, Export] = {
    DOCUMENT_MIME: Export("md", ("text/markdown", "text/plain")),
    SPREADSHEET_MIME: Export("csv", ("text/csv",)),
    PRESENTATION_MIME: Export("txt", ("text/plain",)),
}

# `fileTypes` values -> the MIME types they cover; `text` and `other` are catch-alls.
FILE_TYPE_MIMES: Mapping[str, frozenset[str]] = {
    "document": frozenset(
        {
            DOCUMENT_MIME,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/msword",
            "application/vnd.oasis.opendocument.text",
            "application/rtf",
        }
    ),
    "spreadsheet": frozenset(
        {
            SPREADSHEET_MIME,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.ms-excel",
            "application/vnd.oasis.opendocument.spreadsheet",
            "text/csv",
        }
    ),
    "presentation": frozenset(
        {
            PRESENTATION_MIME,
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "application/vnd.ms-powerpoint",
            "application/vnd.oasis.opendocument.presentation",
        }
    ),
    "pdf": frozenset({PDF_MIME}),
}
TEXT_TYPE = "text"
OTHER_TYPE = "other"
FILE_TYPES: tuple[str, ...] = (*FILE_TYPE_MIMES, TEXT_TYPE, OTHER_TYPE)


def file_type(mime_type: str) -> str | None:
    """The `fileTypes` value of a MIME type; None for what cannot be read as a file.

    Folders, shortcuts and Google Workspace types without a text export (forms, sites,
    drawings, ...) are None.
    """
    for name, mimes in FILE_TYPE_MIMES.items():
        if mime_type in mimes:
            return name
    if mime_type.startswith(GOOGLE_APPS_PREFIX):
        return None
    return TEXT_TYPE if mime_type.startswith("text/") else OTHER_TYPE


@dataclass(frozen=True, slots=True, kw_only=True)
class DriveFile:
    """What the connector keeps of one Drive file or folder.

    Attributes:
        id: Drive's file id.
        name: Its name in Drive (may repeat among siblings, may hold `/`).
        mime_type: Drive's MIME type (`application/vnd.google-apps.folder` for folders).
        parent: The id of its folder (Drive gives an item one parent), or None.
        version: A change marker: `md5:` + the content checksum of binary files, else
            `v` + Drive's version number, else the modification time.
        size: Bytes in Drive; 0 for Google Workspace files (their exports have no size).
        modified_at: Drive's `modifiedTime`.
    """

    id: str
    name: str
    mime_type: str
    parent: str | None
    version: str
    size: int
    modified_at: datetime | None

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> DriveFile:
        """From a file resource of Drive v3 with (at least) the `FILE_FIELDS`."""
        parents = body.get("parents") or [None]
        modified = body.get("modifiedTime")
        if body.get("md5Checksum"):
            version = f"md5:{body['md5Checksum']}"
        elif body.get("version"):
            version = f"v{body['version']}"
        else:
            version = str(modified or "")
        return cls(
            id=str(body["id"]),
            name=str(body.get("name", "")),
            mime_type=str(body.get("mimeType", "")),
            parent=parents[0],
            version=version,
            size=int(body.get("size") or 0),
            modified_at=datetime.fromisoformat(modified) if modified else None,
        )

    @property
    def is_folder(self) -> bool:
        """Whether this is a folder."""
        return self.mime_type == FOLDER_MIME

    def to_json(self) -> list[Any]:
        """A compact JSON form (for the connector's cache), read back by `from_json`."""
        modified = self.modified_at.isoformat() if self.modified_at else None
        return [self.id, self.name, self.mime_type, self.parent, self.version, self.size, modified]

    @classmethod
    def from_json(cls, row: list[Any]) -> DriveFile:
        """Read back `to_json`."""
        id_, name, mime, parent, version, size, modified = row
        return cls(
            id=id_,
            name=name,
            mime_type=mime,
            parent=parent,
            version=version,
            size=size,
            modified_at=datetime.fromisoformat(modified) if modified else None,
        )


class DriveTree:
    """The folders and selected files under one root folder, by id.

    Items may be added in any order and under parents not (yet) known; `prune` keeps only
    what is reachable from the root, which is what the source holds.
    """

    def __init__(self, root_id: str, items: Iterable[DriveFile] = ()) -> None:
        self.root_id = root_id
        self.items: dict[str, DriveFile] = {item.id: item for item in items}

    def copy(self) -> DriveTree:
        """An independent copy."""
        return DriveTree(self.root_id, self.items.values())

    def put(self, item: DriveFile) -> None:
        """Add or replace an item."""
        self.items[item.id] = item

    def remove(self, item_id: str) -> None:
        """Forget an item (its descendants become unreachable)."""
        self.items.pop(item_id, None)

    def folders(self) -> set[str]:
        """Ids of the folders reachable from the root, the root included."""
        return {self.root_id} | {
            item.id for item in self._reachable() if item.is_folder and item.id != self.root_id
        }

    def prune(self) -> None:
        """Drop every item that is not under the root."""
        self.items = {item.id: item for item in self._reachable()}

    def file_paths(self) -> dict[str, str]:
        """File id -> path relative to the root, for every reachable file (not folders)."""
        children: dict[str, list[DriveFile]] = defaultdict(list)
        for item in self._reachable():
            if item.parent is not None:
                children[item.parent].append(item)
        paths: dict[str, str] = {}
        pending = [(self.root_id, "")]
        while pending:
            folder, prefix = pending.pop()
            for item, segment in _segments(children.get(folder, [])):
                path = f"{prefix}{segment}"
                if item.is_folder:
                    pending.append((item.id, f"{path}/"))
                else:
                    paths[item.id] = path
        return paths

    def _reachable(self) -> Iterator[DriveFile]:
        """Items whose chain of parents reaches the root (the root itself excluded)."""
        verdict: dict[str, bool] = {self.root_id: True}
        for item in self.items.values():
            chain: list[str] = []
            current: str | None = item.id
            while current is not None and current not in verdict:
                verdict[current] = False  # a cycle reads as unreachable
                chain.append(current)
                node = self.items.get(current)
                current = node.parent if node is not None else None
            reached = current is not None and verdict[current]
            for node_id in chain:
                verdict[node_id] = reached
            if item.id != self.root_id and verdict[item.id]:
                yield item


def _segments(siblings: list[DriveFile]) -> Iterator[tuple[DriveFile, str]]:
    """Each sibling with its path segment, unique among them."""
    taken: set[str] = set()
    for item, segment in sorted(((s, _segment(s)) for s in siblings), key=_by_segment_then_id):
        if segment in taken:
            stem, dot, extension = segment.rpartition(".")
            segment = (
                f"{stem} ({item.id}).{extension}" if dot and stem else f"{segment} ({item.id})"
            )
        taken.add(segment)
        yield item, segment


def _by_segment_then_id(pair: tuple[DriveFile, str]) -> tuple[str, str]:
    return pair[1], pair[0].id


def _segment(item: DriveFile) -> str:
    """The item's name made a safe path segment, with its export extension if any."""
    name = item.name.replace("/", "_").strip()
    if name in {"", ".", ".."}:
        name = f"_{name}"
    export = EXPORTS.get(item.mime_type)
    if export is not None and not name.lower().endswith(f".{export.extension}"):
        name = f"{name}.{export.extension}"
    return name
