"""The `local` connector: files under a folder on the machine that runs Headwater."""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from resources.connectors.base import (
    JSON_SCHEMA_DIALECT,
    BaseConnector,
    Changes,
    CheckResult,
    CheckRun,
    ConfigError,
    ConnectorSpec,
    Entry,
    Fetched,
    SourceUnavailable,
)
from resources.connectors.globs import PATH_FILTER_PROPERTIES, PathFilter

logger = logging.getLogger(__name__)

TYPE = "local"

CONFIG_SCHEMA: Mapping[str, Any] = {
    "$schema": JSON_SCHEMA_DIALECT,
    "title": "Local folder",
    "type": "object",
    "properties": {
        "path": {
            "type": "string",
            "minLength": 1,
            # No NUL: no operating system takes it in a path.
            "pattern": "^[/~][^\\u0000]*$",
            "errorMessage": "must be an absolute path or start with ~, without NUL characters",
            "description": "The folder to sync: an absolute path, or one starting with ~.",
        },
        **PATH_FILTER_PROPERTIES,
        "followSymlinks": {
            "type": "boolean",
            "default": False,
            "description": "Follow symbolic links to files and folders (loops are cut).",
        },
    },
    "required": ["path"],
    "additionalProperties": False,
}

SPEC = ConnectorSpec(
    type=TYPE,
    display_name="Local folder",
    description="Files under a folder on the machine that runs Headwater.",
    category="filesystem",
    config_schema=CONFIG_SCHEMA,
    secret_fields=(),
    capabilities=("read", "incremental", "deletions", "check"),
    auth_methods=("none",),
)

# How many unreadable folders a warning names before it only counts them.
LOGGED_FOLDERS = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class Listing:
    """One walk of the folder.

    Attributes:
        entries: Every synced file, sorted by path.
        unreadable: Folders (relative paths) that exist but could not be listed.
        skipped: Counts of what was left out and why (`symlink`, `special`, ...).
    """

    entries: list[Entry]
    unreadable: list[str]
    skipped: Counter[str]


class LocalConnector(BaseConnector):
    """Lists a folder with `os.scandir` and reads files straight from disk.

    Every sync lists the whole folder (there is no cursor); a file counts as changed when
    its size or mtime differs from the last sync, and the caller confirms by content
    hash. Symbolic links are skipped unless `followSymlinks` is set; sockets, FIFOs and
    devices are always skipped.
    """

    spec = SPEC

    def __init__(self, config: Mapping[str, Any], *, workdir: Path) -> None:
        """See `BaseConnector`; nothing is read until `check`, `changes` or `fetch`."""
        super().__init__(config, workdir=workdir)
        self.root = _root(config)
        self.folder = f"{str(self.root).rstrip('/')}/"  # the root as a prefix of file paths
        self.follow_symlinks = bool(config.get("followSymlinks", False))
        self.path_filter = PathFilter.from_config(config)

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> None:
        """Patterns compile and `~` expands."""
        _root(config)
        PathFilter.from_config(config)

    def check(self) -> CheckResult:
        """Stat the folder, then list its top level."""
        run = CheckRun()
        found: dict[str, Any] = {"path": str(self.root)}

        def stat_folder() -> str:
            info = self._stat_root()
            return f"folder, {stat.filemode(info.st_mode)}, owner uid {info.st_uid}"

        def list_root() -> str:
            found["entries"] = self._count_top_level()
            return f"{found['entries']} entries at the top level"

        run.step("stat folder", stat_folder)
        run.step("list folder", list_root)
        return run.result(
            message=f"Read folder {self.root}: {found.get('entries')} entries at the top level",
            details=found,
        )

    def changes(self, *, cursor: str | None, known: Mapping[str, str]) -> Changes:
        """List the whole folder and compare sizes and mtimes with `known`.

        `cursor` is ignored: folders have no change feed. Known files under a folder
        that could not be listed are kept, not deleted, so a passing permission glitch
        does not drop documents.

        Raises:
            SourceUnavailable: The folder is missing, not a folder or not readable.
        """
        listing = self.walk()
        seen = {entry.path for entry in listing.entries}
        upserts = [entry for entry in listing.entries if known.get(entry.path) != entry.version]
        blind = tuple(f"{folder}/" for folder in listing.unreadable)
        deletes = sorted(path for path in known if path not in seen and not path.startswith(blind))
        if listing.unreadable:
            logger.warning(
                "%d folder(s) under %s could not be listed; their files are kept: %s",
                len(listing.unreadable),
                self.root,
                ", ".join(listing.unreadable[:LOGGED_FOLDERS]),
            )
        description = (
            f"full listing of {self.root}: {len(listing.entries)} files, "
            f"{len(upserts)} new or changed, {len(deletes)} deleted"
        )
        notes = [f"{count} {reason}" for reason, count in sorted(listing.skipped.items())]
        if listing.unreadable:
            notes.append(f"{len(listing.unreadable)} unreadable folders")
        if notes:
            description += f" (skipped: {', '.join(notes)})"
        return Changes(upserts=iter(upserts), deletes=deletes, cursor=None, description=description)

    def walk(self) -> Listing:
        """Walk the folder without recursion, in path order (as `sorted` orders strings).

        Folders are scanned one at a time and their children pushed on a stack in
        reverse order; a folder sorts as `name/`, which makes depth-first order equal
        to the sorted order of full paths. With `followSymlinks`, a folder reached
        twice (a loop, or two links to one folder) is walked the first time only.
        """
        entries: list[Entry] = []
        unreadable: list[str] = []
        skipped: Counter[str] = Counter()
        visited: set[tuple[int, int]] = set()
        stack: list[tuple[str, os.stat_result]] = [("", self._stat_root())]
        while stack:
            relative, info = stack.pop()
            if not stat.S_ISDIR(info.st_mode):
                entries.append(_entry(relative, info))
                continue
            if (info.st_dev, info.st_ino) in visited:
                skipped["folders seen twice"] += 1
                continue
            visited.add((info.st_dev, info.st_ino))
            pending: list[tuple[str, str, os.stat_result]] = []
            for child in self._scan(relative, unreadable=unreadable):
                item = self._classify(child, parent=relative, skipped=skipped)
                if item is not None:
                    pending.append(item)
            pending.sort(key=lambda item: item[0])
            stack.extend((path, child_info) for _, path, child_info in reversed(pending))
        return Listing(entries=entries, unreadable=unreadable, skipped=skipped)

    def fetch(self, entries: Iterable[Entry]) -> Iterator[Fetched]:
        """Read each file whole; the returned entry reflects what was read."""
        for entry in entries:
            yield self._read(entry)

    def _stat_root(self) -> os.stat_result:
        """The folder's stat, or `SourceUnavailable` saying why it cannot be synced."""
        try:
            info = self.root.stat()
        except FileNotFoundError as error:
            raise SourceUnavailable(
                f"folder {self.root} does not exist", details={"path": str(self.root)}
            ) from error
        except OSError as error:
            raise SourceUnavailable(
                f"folder {self.root} cannot be accessed: {_describe(error)}",
                details={"path": str(self.root)},
            ) from error
        if not stat.S_ISDIR(info.st_mode):
            raise SourceUnavailable(
                f"{self.root} is not a folder", details={"path": str(self.root)}
            )
        return info

    def _count_top_level(self) -> int:
        try:
            with os.scandir(self.root) as found:
                return sum(1 for _ in found)
        except OSError as error:
            raise SourceUnavailable(
                f"folder {self.root} cannot be listed: {_describe(error)}",
                details={"path": str(self.root)},
            ) from error

    def _scan(self, relative: str, *, unreadable: list[str]) -> list[os.DirEntry[str]]:
        folder = self.root / relative if relative else self.root
        try:
            with os.scandir(folder) as found:
                return list(found)
        except (FileNotFoundError, NotADirectoryError):
            # Removed or replaced while walking: its files are gone, like any deletion.
            logger.debug("folder %s vanished during the walk", folder)
            return []
        except OSError as error:
            if not relative:
                raise SourceUnavailable(
                    f"folder {self.root} cannot be listed: {_describe(error)}",
                    details={"path": str(self.root)},
                ) from error
            unreadable.append(relative)
            return []

    def _classify(
        self, child: os.DirEntry[str], *, parent: str, skipped: Counter[str]
    ) -> tuple[str, str, os.stat_result] | None:
        """`(sort key, path, stat)` for a file or folder worth keeping, else None."""
        path = f"{parent}/{child.name}" if parent else child.name
        if child.is_symlink() and not self.follow_symlinks:
            skipped["symlinks"] += 1
            return None
        try:
            info = child.stat(follow_symlinks=self.follow_symlinks)
        except OSError:
            # Only a symlink whose target vanished or is unreadable gets here.
            skipped["broken symlinks"] += 1
            return None
        if stat.S_ISDIR(info.st_mode):
            if self.path_filter.excludes_dir(path):
                return None
            return f"{child.name}/", path, info
        if not stat.S_ISREG(info.st_mode):
            skipped["special files"] += 1
            return None
        if not self.path_filter.matches(path):
            return None
        return child.name, path, info

    def _read(self, entry: Entry) -> Fetched:
        if not _is_relative(entry.path):
            return Fetched(entry=entry, data=None, error="path is outside the source folder")
        # O_NONBLOCK: a file swapped for a FIFO after listing must not hang the sync.
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
        if not self.follow_symlinks:
            flags |= os.O_NOFOLLOW
        try:
            # A string, not `self.root / entry.path`: a `Path` per file costs more than the open.
            descriptor = os.open(f"{self.folder}{entry.path}", flags)
        except OSError as error:
            if error.errno == errno.ELOOP and not self.follow_symlinks:
                return Fetched(entry=entry, data=None, error="is a symbolic link (not followed)")
            return Fetched(entry=entry, data=None, error=_describe(error))
        try:
            # Unbuffered: the file is read whole, in one call sized by its stat.
            with os.fdopen(descriptor, "rb", buffering=0) as stream:
                info = os.fstat(stream.fileno())
                if not stat.S_ISREG(info.st_mode):
                    return Fetched(entry=entry, data=None, error="not a regular file")
                data = stream.read()
        except OSError as error:
            return Fetched(entry=entry, data=None, error=_describe(error))
        return Fetched(entry=_entry(entry.path, info, size=len(data)), data=data, error=None)


def _root(config: Mapping[str, Any]) -> Path:
    try:
        root = Path(config["path"]).expanduser()
    except RuntimeError as error:  # `~name` of a user this machine does not know
        raise ConfigError(
            f"config.path: {config['path']!r} names an unknown user's home", field="config.path"
        ) from error
    if not root.is_absolute():
        raise ConfigError(
            f"config.path: {config['path']!r} is not an absolute path after expanding ~",
            field="config.path",
        )
    return root


def _entry(path: str, info: os.stat_result, *, size: int | None = None) -> Entry:
    return Entry(
        path=path,
        version=f"{info.st_size}:{info.st_mtime_ns}",
        size=info.st_size if size is None else size,
        modified_at=datetime.fromtimestamp(info.st_mtime_ns / 1e9, tz=UTC),
    )


def _is_relative(path: str) -> bool:
    """Whether `path` is a plain relative POSIX path that cannot leave the root."""
    if not path or path.startswith("/") or "\0" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def _describe(error: OSError) -> str:
    """`No such file or directory (ENOENT)`: the reason without the absolute path."""
    if error.errno is None:
        return str(error)
    name = errno.errorcode.get(error.errno, str(error.errno))
    return f"{error.strerror or os.strerror(error.errno)} ({name})"
