"""Response shapes of seed 000 (camelCase), shared by the API and the CLI's --json output."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from resources.connectors.base import HEADER_TOKEN_RE
from resources.store.models import SyncType

# Keys of a connection's free-form objects: far more than any connector takes.
MAX_OPTIONS = 64


def _unicode_text(value: Any) -> Any:
    """`value`, if every string in it (keys too) is Unicode text that UTF-8 can encode: JSON
    lets `\\ud800` stand alone, but no path, URL, database or provider takes it.

    Raises:
        ValueError: A lone surrogate somewhere in `value`.
    """
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError("strings must be valid Unicode (a lone surrogate is not)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _unicode_text(key)
            _unicode_text(item)
    elif isinstance(value, list):
        for item in value:
            _unicode_text(item)
    return value


# A free-form JSON object of a request (a config, options), checked later against a schema.
JsonObject = Annotated[dict[str, Any], AfterValidator(_unicode_text)]


class CamelModel(BaseModel):
    """Serializes field names in camelCase, as seed 000 writes them."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def dump(self) -> dict[str, Any]:
        """The JSON-ready dict, by alias."""
        return self.model_dump(mode="json", by_alias=True)


class SourceStatsOut(CamelModel):
    """What is indexed for a source."""

    files_indexed: int
    chunks_created: int
    total_size: int
    languages: dict[str, int]
    last_sync_duration: float | None


class SourceOut(CamelModel):
    """A source as `GET /sources/:id` returns it."""

    id: str
    type: str
    name: str
    status: str
    config: dict[str, Any]
    stats: SourceStatsOut
    last_sync_at: datetime | None
    created_at: datetime
    last_error: str | None = None
    connection_id: str | None = None
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="The options in force: the source's own, else its connection's, else the "
        "deployment's defaults (see the connector's `optionsSchema`).",
    )


class JobStatsOut(CamelModel):
    """Counts of what a sync did (seed 000's four plus what an incremental sync needs)."""

    files_total: int = 0
    files_processed: int = 0
    files_added: int = 0
    files_changed: int = 0
    files_deleted: int = 0
    files_skipped: int = 0
    chunks_created: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    chunks_deleted: int = 0
    errors: int = 0


class JobOut(CamelModel):
    """A sync job as `GET /jobs/:id` returns it."""

    id: str
    source_id: str
    type: str
    status: str
    trigger: str = Field(
        description="What asked for the sync: `api`, `cli`, `webhook`, `schedule` (the source's "
        "syncIntervalMinutes), `reconcile` (a missed push), `demo`."
    )
    progress: int
    stage: str | None
    stats: JobStatsOut
    error: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    estimated_completion: datetime | None = None


class ErrorBody(CamelModel):
    """What went wrong: a stable code, a message for people, and structured facts."""

    code: str
    message: str
    details: dict[str, Any]


class ErrorOut(CamelModel):
    """Every error response: `{"error": {"code", "message", "details"}}`."""

    error: ErrorBody


class SourceListOut(CamelModel):
    """`GET /sources`."""

    sources: list[SourceOut]
    total: int


class SourceCreate(CamelModel):
    """`POST /sources`: a connector type and its config (checked against the type's schema)."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=32)
    config: JsonObject
    name: str | None = Field(default=None, min_length=1, max_length=256)
    connection_id: str | None = Field(
        default=None,
        max_length=64,
        description=(
            "A connection whose credentials the source uses: one of the same type, or an "
            "OAuth connection of the type's provider (`google` for `gdrive`), whose access "
            "token is refreshed before it expires."
        ),
    )
    options: JsonObject = Field(
        default_factory=dict,
        max_length=MAX_OPTIONS,
        description="How the pipeline treats the source's files (the type's `optionsSchema`); "
        "unset ones come from the connection, else the deployment.",
    )


class SourcePatch(CamelModel):
    """`PATCH /sources/:id`: only what is sent changes; `options` replace the source's own."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=256)
    options: JsonObject | None = Field(
        default=None,
        max_length=MAX_OPTIONS,
        description="The source's own options (the type's `optionsSchema`), replacing those it "
        "had; unset ones come from the connection, else the deployment. Syncs from the next one "
        "on use them.",
    )


class SourceSummaryOut(CamelModel):
    """The source part of `POST /sources`' answer."""

    id: str
    type: str
    name: str
    status: str


class QueuedJobOut(CamelModel):
    """The sync job part of `POST /sources`' answer."""

    id: str
    status: str


class WebhookSetupOut(CamelModel):
    """Where the provider delivers the source's changes: a code host's push events, signed
    with `secret` (shown only once), or Google Drive's push notifications."""

    url: str
    secret: str | None = Field(
        description=(
            "Set the code-host hook up with this secret; null once Headwater registered it, "
            "and for Drive (its channel token stays with Headwater)."
        )
    )
    registered: bool = Field(
        description="Whether Headwater set it up at the provider (a hook, or a Drive channel)."
    )


class SourceCreatedOut(CamelModel):
    """`POST /sources`: the new source, its first (queued) full sync, and where its changes
    are delivered (code hosts: the webhook, to set up by hand unless registered; Google
    Drive: its push channel)."""

    source: SourceSummaryOut
    sync_job: QueuedJobOut
    webhook: WebhookSetupOut | None = None


class WebhookReceivedOut(CamelModel):
    """`POST /webhooks/*`: the delivery is stored. `jobId` is the sync job it queued or joined
    (a redelivery: the same one as the first time), null when it asks for no sync (a ping,
    another branch, another event); `jobIds` lists every one when several sources share the
    repository and the secret."""

    received: bool
    job_id: str | None
    job_ids: list[str]


class SourceDeletedOut(CamelModel):
    """`DELETE /sources/:id`: what was removed."""

    message: str
    files_removed: int
    chunks_removed: int


class SyncRequest(CamelModel):
    """`POST /sources/:id/sync`: full recomputes (vectors reused); incremental uses the cursor."""

    model_config = ConfigDict(extra="forbid")

    type: SyncType = SyncType.INCREMENTAL


class SyncJobOut(CamelModel):
    """A queued sync; `estimatedDuration` (seconds) comes from earlier syncs, else null."""

    id: str
    status: str
    type: str
    estimated_duration: int | None


class SyncQueuedOut(CamelModel):
    """`POST /sources/:id/sync`."""

    job: SyncJobOut


class JobListOut(CamelModel):
    """`GET /jobs`."""

    jobs: list[JobOut]
    total: int


class FileOut(CamelModel):
    """An indexed file; `id` is its stable file id."""

    id: str
    path: str
    language: str | None
    size: int
    last_modified: datetime | None
    indexed_at: datetime | None


class FileListOut(CamelModel):
    """`GET /sources/:id/files`; pass `nextCursor` as `cursor` for the next page."""

    files: list[FileOut]
    total: int
    next_cursor: str | None


class HealthOut(CamelModel):
    """`GET /health`: the store, Redis when configured, and the services syncs need."""

    status: str
    version: str
    database: str
    redis: str | None = None
    services: dict[str, str]


class ProbeOut(CamelModel):
    """`/healthz` and `/readyz`."""

    status: str
    checks: dict[str, str] = Field(default_factory=dict)


class ConnectorOut(CamelModel):
    """A connector type of the catalog, generated from the connector's own spec."""

    type: str
    display_name: str
    description: str
    category: str
    config_schema: dict[str, Any] = Field(
        description="JSON Schema (2020-12) of a source's `config`; secret fields are "
        "`writeOnly` and listed in `secretFields`."
    )
    secret_fields: list[str]
    options_schema: dict[str, Any] = Field(
        description="JSON Schema (2020-12) of a source's (or a connection's) `options`, with "
        "bounds and this deployment's defaults."
    )
    capabilities: dict[str, bool]
    auth_methods: list[str] = Field(
        description="`apiKey` (see `POST /connectors/{type}/connect`), `oauth2` (`GET /oauth/"
        "{provider}`), `none` (public data)."
    )
    is_enabled: bool = True


class ConnectorListOut(CamelModel):
    """Every connector type, by type."""

    connectors: list[ConnectorOut]
    total: int


class ConnectionCreate(CamelModel):
    """`POST /connections`: an account at a provider, for sources to use."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=32, description="A connector type.")
    name: str = Field(min_length=1, max_length=256, description="Unique among yours.")
    description: str | None = Field(default=None, max_length=2000)
    config: JsonObject = Field(description="The type's connection fields (credentials).")
    options: JsonObject = Field(
        default_factory=dict,
        max_length=MAX_OPTIONS,
        description="Options (the type's `optionsSchema`) for the sources that use it.",
    )


class ConnectionReplace(CamelModel):
    """`PUT /connections/:id`: everything but the type; a masked secret keeps its value."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256)
    description: str | None = Field(default=None, max_length=2000)
    config: JsonObject = Field(max_length=MAX_OPTIONS)
    options: JsonObject = Field(default_factory=dict, max_length=MAX_OPTIONS)


class ConnectionPatch(CamelModel):
    """`PATCH /connections/:id`: only what is sent changes; `config` keys merge."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=256)
    description: str | None = Field(default=None, max_length=2000)
    config: JsonObject | None = Field(default=None, max_length=MAX_OPTIONS)
    options: JsonObject | None = Field(default=None, max_length=MAX_OPTIONS)


class ConnectionOut(CamelModel):
    """A connection; secret config fields are always masked."""

    id: str
    type: str
    name: str
    description: str | None
    config: dict[str, Any]
    options: dict[str, Any]
    status: str
    last_error: str | None
    last_tested_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ConnectionListOut(CamelModel):
    """Your connections, by name."""

    connections: list[ConnectionOut]
    total: int


class ConnectionDeletedOut(CamelModel):
    """`DELETE /connections/:id`."""

    message: str


class ConnectionStepOut(CamelModel):
    """One timed step of a connection test."""

    status: str = Field(description="`success` or `failed`.")
    time_ms: float
    detail: str


class ConnectionProbeOut(CamelModel):
    """Whether the provider could be reached with the credentials at all."""

    status: str = Field(description="`success` or `failed`.")
    response_time_ms: float
    message: str
    error_code: str | None = None


class TestIssueOut(CamelModel):
    """Something the test found wrong, and what to do about it."""

    severity: str
    message: str
    resolution: str


class ConnectionTestOut(CamelModel):
    """`POST /connections/:id/test` (seed 002's shape, camelCase)."""

    success: bool
    connection_test: ConnectionProbeOut
    operations_test: dict[str, ConnectionStepOut]
    recommendations: list[str]
    issues: list[TestIssueOut]


class ApiKeyConnectStart(CamelModel):
    """`POST /connectors/:type/connect`: the onboarding method (seed 001)."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["apiKey"] = "apiKey"


class CredentialFieldOut(CamelModel):
    """A credential the API-key onboarding takes."""

    name: str = Field(description="Its name in the callback's body: `apiKey` or `apiSecret`.")
    description: str
    required: bool


class ApiKeyConnectOut(CamelModel):
    """What an API-key connection of a type needs, and where to send it."""

    type: str
    method: str
    header: str = Field(description="How the provider's API receives the key.")
    fields: list[CredentialFieldOut]
    config_schema: dict[str, Any] = Field(
        description="JSON Schema of the callback's `config`: the type's other connection "
        "fields (API and git URLs for self-hosted providers)."
    )
    options_schema: dict[str, Any]
    callback_url: str = Field(description="Where to POST the key (relative to the API).")


class ApiKeyConnect(CamelModel):
    """`POST /connectors/:type/connect/callback`: a key (and secret) to test and store."""

    model_config = ConfigDict(extra="forbid")

    api_key: str = Field(min_length=1, max_length=4096, pattern=HEADER_TOKEN_RE)
    api_secret: str | None = Field(
        default=None, min_length=1, max_length=4096, pattern=HEADER_TOKEN_RE
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Unique among your connections; default `TYPE API key ID`.",
    )
    description: str | None = Field(default=None, max_length=2000)
    config: JsonObject = Field(default_factory=dict, max_length=MAX_OPTIONS)
    options: JsonObject = Field(default_factory=dict, max_length=MAX_OPTIONS)


class ConnectedOut(CamelModel):
    """A connection made by onboarding (seed 001's answer)."""

    connection_id: str
    status: Literal["connected"] = "connected"


class OAuthTokenOut(CamelModel):
    """`GET /oauth/tokens/:provider`: the only answer that carries a token."""

    access_token: str
    # Never handed out: a caller refreshing with it would break rotating refresh tokens.
    refresh_token: str | None = None
    expires_at: datetime | None
    scopes: list[str]
