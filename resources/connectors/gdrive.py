"""The `gdrive` connector: a Google Drive folder and everything below it, through Drive v3.

A full sync lists the folder recursively (files.list per folder, paginated) after taking a
changes page token; an incremental sync replays the changes feed from that token over the
tree kept in the source's cache folder (`gdrive-index.json`), then lists only folders that
came into the tree. Either way the resulting tree is compared with what the last good sync
holds, so only new, changed, renamed or moved files are fetched. Google Docs are exported
as markdown (plain text where Drive refuses), Sheets as CSV, Slides as text; other files
are downloaded as they are.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from resources.connectors.base import (
    HTTP_URL_RE,
    JSON_SCHEMA_DIALECT,
    TOKEN_SCHEMA,
    BaseConnector,
    Changes,
    CheckResult,
    CheckRun,
    ConnectorError,
    ConnectorSpec,
    Entry,
    Fetched,
    SourceUnavailable,
    WatchChannel,
)
from resources.connectors.gdrive_api import DEFAULT_RETRY, DriveApi
from resources.connectors.gdrive_tree import EXPORTS, FILE_TYPES, DriveFile, DriveTree, file_type
from resources.connectors.rest import BEARER_TOKEN, RetryPolicy

logger = logging.getLogger(__name__)

TYPE = "gdrive"
DEFAULT_API_URL = "https://www.googleapis.com/drive/v3"
INDEX_FILE = "gdrive-index.json"
INDEX_FORMAT = 1
CHECK_SAMPLE = 10
CONNECTION_TEST_SAMPLE = 5
# Calls made while an API request waits (connection tests, channels): they wait little.
INTERACTIVE_RETRY = RetryPolicy(attempts=2, backoff_s=0.5, rate_limit_wait_s=1.0, max_wait_s=2.0)

# Refusals that concern one file only: the sync goes on without it.
FILE_ERROR_STATUSES = frozenset({400, 403, 404})
UNSUPPORTED_CONVERSION = "badRequest"
EXPORT_TOO_LARGE = "exportSizeLimitExceeded"

CONFIG_SCHEMA: Mapping[str, Any] = {
    "$schema": JSON_SCHEMA_DIALECT,
    "title": "Google Drive folder",
    "type": "object",
    "properties": {
        "folderId": {
            "type": "string",
            "pattern": r"^[A-Za-z0-9_-]{1,200}$",
            "errorMessage": "must be a Drive folder id (letters, digits, - and _) or `root`",
            "description": (
                "The folder to sync, with everything below it: the id at the end of its "
                "URL (drive.google.com/drive/folders/ID), or `root` for My Drive."
            ),
        },
        "includeShared": {
            "type": "boolean",
            "default": False,
            "description": (
                "Also reach shared drives: needed when the folder is on a shared drive, "
                "and to list items of shared drives below it."
            ),
        },
        "fileTypes": {
            "type": "array",
            "items": {"enum": list(FILE_TYPES)},
            "minItems": 1,
            "uniqueItems": True,
            "description": (
                "Only these kinds of files: `document` (Google Docs, Word, OpenDocument "
                "text), `spreadsheet` (Sheets, Excel, CSV), `presentation` (Slides, "
                "PowerPoint), `pdf`, `text` (other text/*), `other`. Default: all."
            ),
        },
        "token": {
            **TOKEN_SCHEMA,
            "description": (
                "An OAuth 2.0 access token with a Drive read scope (drive.readonly); "
                "a source using a Google OAuth connection gets a fresh one from it instead."
            ),
        },
        "apiUrl": {
            "type": "string",
            "pattern": HTTP_URL_RE,
            "errorMessage": "must be an http(s) URL",
            "default": DEFAULT_API_URL,
            "description": "The Drive v3 base URL (for tests and proxies).",
        },
    },
    "required": ["folderId", "token"],
    "additionalProperties": False,
}

SPEC = ConnectorSpec(
    type=TYPE,
    display_name="Google Drive folder",
    description=(
        "A Google Drive folder and its subfolders: Docs as markdown, Sheets as CSV, Slides "
        "as text, PDFs and other files as stored; kept fresh by the changes feed."
    ),
    category="drive",
    config_schema=CONFIG_SCHEMA,
    secret_fields=("token",),
    capabilities=("read", "incremental", "deletions", "renames", "check", "webhooks"),
    auth_methods=("oauth2", "apiKey"),
    api_key=BEARER_TOKEN,
    connection_fields=("token", "apiUrl"),
    oauth_provider="google",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DriveEntry(Entry):
    """An entry that knows its Drive file (what `fetch` reads).

    Attributes:
        file_id: Drive's file id.
        mime_type: Drive's MIME type (decides export or download).
    """

    file_id: str
    mime_type: str


class GdriveConnector(BaseConnector):
    """Syncs one Drive folder recursively; see the module docstring."""

    spec = SPEC

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        workdir: Path,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """See `BaseConnector`; nothing connects until it is used.

        Args:
            config: The source config.
            workdir: The per-source cache folder (holds the tree between syncs).
            retry: Waits and attempts for rate limits, 5xx and network errors.
            sleep: Waits that long; tests pass a recorder.
        """
        super().__init__(config, workdir=workdir)
        self.folder_id: str = config["folderId"]
        self.include_shared = bool(config.get("includeShared", False))
        self.file_types = frozenset(config.get("fileTypes") or FILE_TYPES)
        api = functools.partial(
            DriveApi,
            _api_url(config),
            token=str(config["token"]),
            all_drives=self.include_shared,
            sleep=sleep,
        )
        self.api = api(retry=retry)
        # Channels are best effort (the renewal schedule tries again).
        self.channel_api = api(retry=INTERACTIVE_RETRY)

    @classmethod
    def test_connection(cls, config: Mapping[str, Any]) -> CheckResult:
        """Who the token is, a few files it can see, and one of them read.

        Args:
            config: A connection's fields: `token`, and `apiUrl` for tests and proxies.
        """
        api = DriveApi(
            _api_url(config), token=str(config["token"]), all_drives=True, retry=INTERACTIVE_RETRY
        )
        run = CheckRun()
        found: dict[str, Any] = {"apiUrl": api.api_url}
        listed: list[DriveFile] = []

        def whoami() -> str:
            user = api.about_user()
            found["user"] = user.get("emailAddress") or user.get("displayName")
            return f"authenticated as {user.get('displayName')} <{user.get('emailAddress')}>"

        def list_files() -> str:
            listed.extend(api.recent_files(page_size=CONNECTION_TEST_SAMPLE))
            found["sample"] = [item.name for item in listed]
            return f"{len(listed)} files visible: {', '.join(found['sample'])}"

        def read_sample() -> str:
            readable = [i for i in listed if not i.is_folder and file_type(i.mime_type)]
            if not readable:
                return "no file to read"
            data = read_file(api, readable[0].id, readable[0].mime_type)
            return f"read {readable[0].name}: {len(data)} bytes"

        try:
            run.step("GET /about", whoami)
            run.step("GET /files", list_files)
            run.step("read a sample", read_sample)
        finally:
            api.close()
        return run.result(
            message=f"Authenticated to Google Drive as {found.get('user')}", details=found
        )

    def check(self) -> CheckResult:
        """Reach the folder, list its first items, and read one file among them."""
        run = CheckRun()
        found: dict[str, Any] = {"folderId": self.folder_id, "apiUrl": self.api.api_url}
        listed: list[DriveFile] = []

        def get_folder() -> str:
            folder = self._root_folder()
            found.update(folderName=folder.name, folderId=folder.id)
            return f"folder {folder.name!r}"

        def list_items() -> str:
            listed.extend(self.api.children(found["folderId"], page_size=CHECK_SAMPLE))
            found["items"] = len(listed)
            folders = sum(item.is_folder for item in listed)
            return f"{len(listed)} items ({folders} folders) in the first page"

        def read_sample() -> str:
            tree = DriveTree(found["folderId"], (i for i in listed if self._keeps(i)))
            entries = self._entries(tree, known={})
            if not entries:
                return "no file of the selected types at the top level"
            fetched = next(self.fetch(entries[:1]))
            if fetched.data is None:
                raise ConnectorError(f"cannot read {fetched.entry.path}: {fetched.error}")
            found["sample"] = fetched.entry.path
            return f"read {fetched.entry.path}: {len(fetched.data)} bytes"

        run.step(f"GET /files/{self.folder_id}", get_folder)
        run.step("list folder", list_items)
        run.step("read a sample", read_sample)
        return run.result(
            message=(
                f"Reached Drive folder {found.get('folderName')!r}: "
                f"{found.get('items')} items at the top level"
            ),
            details=found,
        )

    def changes(self, *, cursor: str | None, known: Mapping[str, str]) -> Changes:
        """The folder's files against `known`: by the changes feed when the cache allows.

        The cursor is a changes page token; when the cached tree does not belong to it
        (first sync, lost cache, failed run) the folder is listed again instead.
        """
        before = self._load_index(cursor) if cursor is not None else None
        if before is None:
            token = self.api.start_page_token()  # first, so nothing changes unseen
            tree = self._list_tree()
            renames: list[tuple[str, str]] = []
            description = f"Drive listing of folder {tree.root_id}"
        else:
            assert cursor is not None
            tree, token, count = self._replay(before, cursor)
            old_paths, new_paths = before.file_paths(), tree.file_paths()
            renames = sorted(
                (old_paths[i], path)
                for i, path in new_paths.items()
                if i in old_paths and old_paths[i] != path
            )
            description = f"Drive changes {cursor}..{token}: {count} changes"
        self._save_index(tree, token)
        entries = self._entries(tree, known=known)
        listed = set(tree.file_paths().values())
        return Changes(
            upserts=iter(entries),
            deletes=sorted(path for path in known if path not in listed),
            cursor=token,
            renames=renames,
            description=description,
        )

    def fetch(self, entries: Iterable[Entry]) -> Iterator[Fetched]:
        """Export or download each entry, one at a time; a refused file is a per-file error.

        Raises:
            ConnectorError: Bad credentials, or rate limits and failures that outlasted
                the retries: the sync fails (transient where retrying later may help).
        """
        for entry in entries:
            if not isinstance(entry, DriveEntry):
                yield Fetched(entry=entry, data=None, error="not listed by the gdrive connector")
                continue
            try:
                data = read_file(self.api, entry.file_id, entry.mime_type, path=entry.path)
            except ConnectorError as error:
                if error.transient or error.details.get("status") not in FILE_ERROR_STATUSES:
                    raise
                yield Fetched(entry=entry, data=None, error=error.message)
                continue
            yield Fetched(entry=replace(entry, size=len(data)), data=data, error=None)

    def watch(self, *, address: str, channel_id: str, token: str, ttl: timedelta) -> WatchChannel:
        """Open a push channel on the changes feed (changes.watch) delivering to `address`.

        Store `channel_id` and `token` before calling: Drive posts its `sync` message at
        once. See `gdrive_push` for handling deliveries.

        Args:
            address: The HTTPS URL of `POST /webhooks/gdrive`.
            channel_id: A new unique id (a UUID), sent back as `X-Goog-Channel-ID`.
            token: A random secret, sent back as `X-Goog-Channel-Token`.
            ttl: How long the channel should live; Drive may shorten it (a week at most).

        Returns:
            The channel with Drive's resource id and actual expiration.
        """
        expiration_ms = int((datetime.now(UTC) + ttl).timestamp() * 1000)
        body = self.channel_api.watch_changes(
            self.channel_api.start_page_token(),
            {
                "id": channel_id,
                "type": "web_hook",
                "address": address,
                "token": token,
                "expiration": str(expiration_ms),
            },
        )
        return WatchChannel(
            channel_id=channel_id,
            token=token,
            resource_id=str(body["resourceId"]),
            expiration=datetime.fromtimestamp(int(body["expiration"]) / 1000, UTC),
        )

    def stop_watch(self, *, channel_id: str, resource_id: str) -> None:
        """Stop a channel (channels.stop); one Drive no longer knows is not an error."""
        try:
            self.channel_api.stop_channel(channel_id, resource_id)
        except SourceUnavailable:
            logger.info("Drive channel %s was already stopped", channel_id)

    def close(self) -> None:
        """Close the HTTP clients."""
        self.api.close()
        self.channel_api.close()

    def _root_folder(self) -> DriveFile:
        try:
            folder = self.api.file(self.folder_id)
        except SourceUnavailable as error:
            hint = "" if self.include_shared else "; on a shared drive, set includeShared"
            raise SourceUnavailable(
                f"Drive folder {self.folder_id} not found or no access{hint} ({error.message})",
                details={**error.details, "folderId": self.folder_id},
            ) from error
        if not folder.is_folder:
            raise SourceUnavailable(
                f"Drive item {self.folder_id} is a {folder.mime_type} file, not a folder",
                details={"folderId": self.folder_id, "mimeType": folder.mime_type},
            )
        return folder

    def _keeps(self, item: DriveFile) -> bool:
        return item.is_folder or file_type(item.mime_type) in self.file_types

    def _list_tree(self) -> DriveTree:
        tree = DriveTree(self._root_folder().id)
        self._walk(tree, [tree.root_id])
        return tree

    def _walk(self, tree: DriveTree, folders: list[str]) -> None:
        """Add everything below `folders` to the tree (one files.list per folder)."""
        pending = list(folders)
        while pending:
            for item in self.api.children(pending.pop()):
                if self._keeps(item):
                    tree.put(item)
                    if item.is_folder:
                        pending.append(item.id)

    def _replay(self, before: DriveTree, cursor: str) -> tuple[DriveTree, str, int]:
        """The tree after the changes since `cursor`, the next token, and the change count."""
        tree = before.copy()
        count = 0
        feed = self.api.changes(cursor)
        for change in feed:
            count += 1
            if change.get("changeType", "file") != "file":
                continue
            file_id = str(change["fileId"])
            body = change.get("file")
            gone = bool(change.get("removed")) or body is None or bool(body.get("trashed"))
            if file_id == tree.root_id and gone:
                raise SourceUnavailable(
                    f"Drive folder {file_id} was deleted or moved to the trash",
                    details={"folderId": file_id},
                )
            item = None if gone or body is None else DriveFile.from_api(body)
            if item is not None and self._keeps(item):
                tree.put(item)
            else:
                tree.remove(file_id)
        arrived = tree.folders() - before.folders()
        tops = [f for f in arrived if tree.items[f].parent not in arrived]
        self._walk(tree, tops)  # moved in or restored: their contents are not in the feed
        tree.prune()
        return tree, feed.new_start_page_token, count

    def _entries(self, tree: DriveTree, *, known: Mapping[str, str]) -> list[DriveEntry]:
        """Entries of the tree's files whose version differs from `known`, by path."""
        entries = []
        for file_id, path in tree.file_paths().items():
            item = tree.items[file_id]
            if known.get(path) != item.version:
                entries.append(
                    DriveEntry(
                        path=path,
                        version=item.version,
                        size=item.size,
                        modified_at=item.modified_at,
                        file_id=file_id,
                        mime_type=item.mime_type,
                    )
                )
        return sorted(entries, key=lambda entry: entry.path)

    def _index_key(self) -> list[Any]:
        """What the cached tree depends on besides the token."""
        return [INDEX_FORMAT, self.folder_id, self.include_shared, sorted(self.file_types)]

    def _load_index(self, cursor: str) -> DriveTree | None:
        """The cached tree if it was saved for this cursor and config, else None."""
        path = self.workdir / INDEX_FILE
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if saved.get("key") != self._index_key() or saved.get("token") != cursor:
            logger.info("Drive tree cache %s does not match the cursor; listing again", path)
            return None
        return DriveTree(saved["root"], (DriveFile.from_json(row) for row in saved["items"]))

    def _save_index(self, tree: DriveTree, token: str) -> None:
        """Keep the tree for the next sync (written whole, then moved into place)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        target = self.workdir / INDEX_FILE
        partial = target.with_suffix(".tmp")
        partial.write_text(
            json.dumps(
                {
                    "key": self._index_key(),
                    "token": token,
                    "root": tree.root_id,
                    "items": [item.to_json() for item in tree.items.values()],
                }
            )
        )
        partial.replace(target)


def read_file(api: DriveApi, file_id: str, mime_type: str, *, path: str | None = None) -> bytes:
    """A file's bytes: Google Workspace files exported (falling back to the next format
    Drive accepts), others downloaded as stored.

    Raises:
        ConnectorError: Drive refused or failed (see `DriveApi`).
    """
    export = EXPORTS.get(mime_type)
    if export is None:
        return api.download(file_id)
    *fallbacks, last = export.mime_types
    for export_type in fallbacks:
        try:
            return api.export(file_id, export_type)
        except ConnectorError as error:
            if error.details.get("reason") != UNSUPPORTED_CONVERSION:
                raise
            logger.info(
                "Drive cannot export %s as %s; trying the next format", path or file_id, export_type
            )
    return api.export(file_id, last)


def _api_url(config: Mapping[str, Any]) -> str:
    return str(config.get("apiUrl") or DEFAULT_API_URL).rstrip("/")
