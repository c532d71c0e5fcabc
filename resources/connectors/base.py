"""The connector protocol: what a source is, what changed in it, and how to read it."""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

from resources.connectors.options import pipeline_options_schema

logger = logging.getLogger(__name__)

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# An http(s) URL for config schemas. Control characters are excluded by range, not only by
# `\s`: Python's `\s` (jsonschema) and ECMA's (API clients, fuzzers) disagree on some.
HTTP_URL_RE = r"^https?://[^\x00-\x20\x7f-\x9f\s/?#]+(?:/[^\x00-\x20\x7f-\x9f\s?#]*)?$"
# The auth method of connectors that take an API key or personal access token.
API_KEY_METHOD = "apiKey"
# A token or key as an HTTP header can carry it: visible ASCII, no spaces.
HEADER_TOKEN_RE = r"^[\x21-\x7e]+$"
# The JSON Schema of a token field, given its description.
TOKEN_SCHEMA: Mapping[str, Any] = {
    "type": "string",
    "minLength": 1,
    "pattern": HEADER_TOKEN_RE,
    "errorMessage": "must be visible ASCII characters without spaces",
    "writeOnly": True,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeyAuth:
    """How a connector takes an API key or personal access token (auth method `apiKey`).

    Attributes:
        key_field: The connection field that holds the key, e.g. `token`.
        header: How the provider's API receives it, `{apiKey}` standing for the key, e.g.
            `Authorization: Bearer {apiKey}`.
        secret_field: The connection field of a secret that goes with the key, when the
            provider needs one.
    """

    key_field: str
    header: str
    secret_field: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectorSpec:
    """What a connector type is and how it is configured (the catalog entry).

    Attributes:
        type: The `type` of a source, e.g. `git`.
        display_name: Human name, e.g. `Git repository`.
        description: One sentence for the catalog.
        category: Family of sources: `filesystem`, `code`, `drive`, ...
        config_schema: JSON Schema (draft 2020-12) of the source config, camelCase keys.
        secret_fields: Config keys that hold secrets (encrypted, never returned).
        capabilities: What the connector can do, e.g. `read`, `incremental`, `deletions`.
        auth_methods: How it authenticates: `none`, `apiKey`, `oauth2`.
        connection_fields: Config keys a connection may hold for its sources (credentials
            and endpoints); empty when the type takes no connection.
        api_key: The fields of its `apiKey` method; set exactly when it has that method.
        options_schema: JSON Schema of a source's `options` (how the pipeline treats its
            files); every type takes the pipeline's own.
        oauth_provider: The OAuth provider (`resources/oauth/providers.py`) whose
            connections can serve its sources, handing the connector their access token as
            `token`; None when the type takes no OAuth connection.
    """

    type: str
    display_name: str
    description: str
    category: str
    config_schema: Mapping[str, Any]
    secret_fields: tuple[str, ...]
    capabilities: tuple[str, ...]
    auth_methods: tuple[str, ...]
    connection_fields: tuple[str, ...] = ()
    api_key: ApiKeyAuth | None = None
    options_schema: Mapping[str, Any] = field(default_factory=pipeline_options_schema)
    oauth_provider: str | None = None

    def __post_init__(self) -> None:
        if (API_KEY_METHOD in self.auth_methods) != (self.api_key is not None):
            raise ValueError(f"{self.type}: `api_key` describes the {API_KEY_METHOD!r} method")
        if self.api_key is not None:
            fields = (self.api_key.key_field, self.api_key.secret_field)
            unsealed = [name for name in fields if name and name not in self.secret_fields]
            if unsealed:
                raise ValueError(f"{self.type}: API key fields must be secret: {unsealed}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One file of a source, as listed (no content).

    Attributes:
        path: POSIX path relative to the source root.
        version: A cheap change marker (`size:mtime_ns` for folders, the blob sha for git);
            the caller confirms a change by content hash.
        size: Size in bytes.
        modified_at: Last modification time, when the source knows it.
    """

    path: str
    version: str
    size: int
    modified_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Fetched:
    """The content of one entry, or why it could not be read.

    Attributes:
        entry: The entry read; connectors may refresh its version and size to match what
            was actually read.
        data: The bytes, or None when reading failed.
        error: Why reading failed (`No such file or directory (ENOENT)`, ...), else None.
    """

    entry: Entry
    data: bytes | None
    error: str | None


@dataclass(kw_only=True)
class Changes:
    """What changed in a source since the last good sync.

    Attributes:
        upserts: Entries that are new or whose version differs from `known`.
        deletes: Paths of `known` that are gone (or no longer pass the path filter).
        cursor: What to pass as `cursor` next time (git: the head commit sha), else None.
        renames: `(old, new)` pairs, informational: each is also a delete and an upsert.
        description: One line for logs, e.g. `git diff abc123..def456`.
    """

    upserts: Iterator[Entry]
    deletes: list[str]
    cursor: str | None
    renames: list[tuple[str, str]] = field(default_factory=list)
    description: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckStep:
    """One timed step of a connectivity check.

    Attributes:
        name: What was tried, e.g. `ls-remote` or `list root`.
        ok: Whether it worked.
        duration_ms: How long it took.
        detail: What it found, or the error message.
    """

    name: str
    ok: bool
    duration_ms: float
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    """The outcome of a real connectivity test.

    Attributes:
        ok: Whether the source can be synced with this config.
        message: One line for people, e.g. `Reached /data/docs: 12 entries`.
        duration_ms: Total time of all steps.
        steps: Each step tried, in order; steps after a failure are not tried.
        details: Facts found (branch, head commit, entry count) or the error's details.
        transient: On failure, whether trying again later may succeed.
    """

    ok: bool
    message: str
    duration_ms: float
    steps: tuple[CheckStep, ...]
    details: Mapping[str, Any] = field(default_factory=dict)
    transient: bool = False


class ConnectorError(Exception):
    """A connector failed; the message is safe to show (no secrets).

    Attributes:
        message: What went wrong, with what the source said.
        details: Structured facts for the API's `details` (field, url, stderr line, ...).
        transient: Whether retrying later may succeed (network, timeouts).
    """

    def __init__(
        self, message: str, *, details: Mapping[str, Any] | None = None, transient: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.transient = transient


class ConfigError(ConnectorError):
    """The source config is invalid; `field` names it, e.g. `config.branch`.

    `details` holds `field` and `errors`: every problem found, as `{field, message}`.
    """

    def __init__(
        self, message: str, *, field: str, details: Mapping[str, Any] | None = None
    ) -> None:
        problems = [{"field": field, "message": message.removeprefix(f"{field}: ")}]
        super().__init__(
            message,
            details={"field": field, "errors": problems, **(details or {})},
            transient=False,
        )
        self.field = field


class SourceUnavailable(ConnectorError):
    """The source cannot be reached or read: missing folder, unreachable repo, no branch."""


@runtime_checkable
class Connector(Protocol):
    """A source of files: list what changed, then stream the contents.

    Connectors are context managers; `close` ends whatever they started (processes,
    sessions). Nothing is opened before the first call that needs it.
    """

    spec: ClassVar[ConnectorSpec]

    def check(self) -> CheckResult:
        """Test connectivity for real (list the folder, reach the branch), with timings."""
        ...

    def changes(self, *, cursor: str | None, known: Mapping[str, str]) -> Changes:
        """What changed since `cursor`, judged against `known` (path -> version).

        Args:
            cursor: The `Changes.cursor` of the last good sync, or None for a full listing.
            known: Path -> version of the last good sync; `{}` for a full sync.

        Raises:
            SourceUnavailable: The source cannot be reached or read.
        """
        ...

    def fetch(self, entries: Iterable[Entry]) -> Iterator[Fetched]:
        """Stream the contents of entries from `changes`, one in memory at a time.

        A file that cannot be read comes back with `data=None` and an `error`; only a
        failure of the whole source raises.
        """
        ...

    def close(self) -> None:
        """Release processes and handles; the connector is unusable afterwards."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class HookNotPermitted(ConnectorError):
    """The credentials may read the repository but not manage its webhooks."""


@runtime_checkable
class HookManager(Protocol):
    """A connector whose provider can register a push webhook for the source."""

    def create_hook(self, *, url: str, secret: str) -> str:
        """Register a webhook delivering push events to `url`, signed with `secret`.

        Returns:
            The provider's id of the new hook (kept to delete it later).

        Raises:
            HookNotPermitted: The token cannot manage hooks (set it up by hand).
            ConnectorError: Any other refusal or failure.
        """
        ...

    def delete_hook(self, hook_id: str) -> None:
        """Remove the webhook `hook_id`; one already gone is not an error."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchChannel:
    """A push-notification channel on a source's changes, as Headwater stores it.

    Attributes:
        channel_id: The id chosen when opening it (Drive's `X-Goog-Channel-ID`).
        token: The secret sent back with every message (stored sealed).
        resource_id: The provider's id of the watched resource; None until opened.
        expiration: When the provider stops sending; None until opened.
    """

    channel_id: str
    token: str
    resource_id: str | None = None
    expiration: datetime | None = None


@runtime_checkable
class ChangeWatcher(Protocol):
    """A connector whose provider can push a notification whenever the source changes."""

    def watch(self, *, address: str, channel_id: str, token: str, ttl: timedelta) -> WatchChannel:
        """Open a channel that posts to `address` on every change, for about `ttl`.

        Store `channel_id` and `token` first: the provider may post before this returns.

        Raises:
            ConnectorError: The provider refused or failed.
        """
        ...

    def stop_watch(self, *, channel_id: str, resource_id: str) -> None:
        """Stop a channel; one the provider no longer knows is not an error."""
        ...


@runtime_checkable
class BranchHead(Protocol):
    """A connector that can tell the synced branch's head commit in one cheap call."""

    def head_sha(self) -> str:
        """The commit at the tip of the synced branch, from the provider's API."""
        ...


@runtime_checkable
class ConnectionTester(Protocol):
    """A connector type that can test a connection's fields alone, before any source."""

    @classmethod
    def test_connection(cls, config: Mapping[str, Any]) -> CheckResult:
        """Connect, list a few items and read a sample, each step timed.

        Args:
            config: The connection's fields, secrets opened.
        """
        ...


class BaseConnector(ABC):
    """Shared plumbing of the built-in connectors: config, workdir, context manager.

    Subclasses set `spec` and implement `check`, `changes` and `fetch`.
    """

    spec: ClassVar[ConnectorSpec]

    def __init__(self, config: Mapping[str, Any], *, workdir: Path) -> None:
        """Keep the (already validated) config and the private cache folder.

        Args:
            config: The source config, validated against `spec.config_schema`.
            workdir: A per-source private folder the connector may use as a cache.
        """
        self.config: Mapping[str, Any] = config
        self.workdir = workdir

    @classmethod  # noqa: B027 - an optional hook; most connectors need no extra rule
    def check_config(cls, config: Mapping[str, Any]) -> None:
        """Checks beyond the JSON Schema (patterns compile, ...); raise `ConfigError`."""

    @abstractmethod
    def check(self) -> CheckResult:
        """See `Connector.check`."""

    @abstractmethod
    def changes(self, *, cursor: str | None, known: Mapping[str, str]) -> Changes:
        """See `Connector.changes`."""

    @abstractmethod
    def fetch(self, entries: Iterable[Entry]) -> Iterator[Fetched]:
        """See `Connector.fetch`."""

    def close(self) -> None:  # noqa: B027 - connectors without resources need nothing
        """See `Connector.close`."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class CheckRun:
    """Runs the timed steps of one `check()` and turns them into a `CheckResult`."""

    def __init__(self) -> None:
        self.steps: list[CheckStep] = []
        self.failure: ConnectorError | None = None

    def step(self, name: str, action: Callable[[], str]) -> bool:
        """Run `action` (which returns what it found) unless an earlier step failed.

        A `ConnectorError` from the action becomes a failed step (kept as `failure`);
        anything else is a bug and propagates.

        Returns:
            Whether the step ran and succeeded.
        """
        if self.failure is not None:
            return False
        start = time.perf_counter()
        try:
            detail = action()
        except ConnectorError as error:
            self.failure = error
            self.steps.append(
                CheckStep(name=name, ok=False, duration_ms=_ms_since(start), detail=error.message)
            )
            logger.info("check step %s failed: %s", name, error.message)
            return False
        self.steps.append(
            CheckStep(name=name, ok=True, duration_ms=_ms_since(start), detail=detail)
        )
        return True

    def result(self, *, message: str, details: Mapping[str, Any]) -> CheckResult:
        """The result: `message` and `details` on success, the failure's otherwise."""
        total = round(sum(step.duration_ms for step in self.steps), 3)
        if self.failure is not None:
            return CheckResult(
                ok=False,
                message=self.failure.message,
                duration_ms=total,
                steps=tuple(self.steps),
                details={**details, **self.failure.details},
                transient=self.failure.transient,
            )
        return CheckResult(
            ok=True, message=message, duration_ms=total, steps=tuple(self.steps), details=details
        )


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)
