"""Typed ORM models of the metadata store.

Every row that belongs to somebody carries `owner_id` (the JWT `sub`) and `tenant_id`
(the optional workspace), so later tables (connections, credentials) follow the same shape.
Webhook deliveries belong to the sources they reach.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def new_id() -> str:
    """A random UUID4 as text: the id of sources and jobs."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes and always hands back UTC-aware ones (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every Headwater table."""

    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime}


class SourceStatus(enum.StrEnum):
    """Lifecycle of a source as seed 000 names it."""

    PENDING = "pending"
    SYNCING = "syncing"
    SYNCED = "synced"
    ERROR = "error"


class JobStatus(enum.StrEnum):
    """Status of a sync job; mirrors its Dagster run."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Whether the job can change no more."""
        return self in {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}


class ConnectionStatus(enum.StrEnum):
    """Whether a connection's credentials can be used."""

    ACTIVE = "active"
    # Stored secrets no configured key can decrypt (keys lost or rotated away).
    CREDENTIALS_INVALID = "credentials_invalid"
    # The provider refused the credentials (revoked or expired): a person must act.
    NEEDS_REAUTH = "needs_reauth"


class SyncType(enum.StrEnum):
    """Full recomputes every stage; incremental starts from the stored cursor."""

    FULL = "full"
    INCREMENTAL = "incremental"


def _enum(cls: type[enum.StrEnum], *, length: int = 16) -> Enum:
    return Enum(
        cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e]
    )


class Connection(Base):
    """An account at a provider (its credentials and endpoints), used by sources."""

    __tablename__ = "connections"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(String(128), index=True)
    tenant_id: Mapped[str | None] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    # The connector's connection fields, secret ones sealed by the vault.
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Source options (resources/connectors/options.py) for the sources that use it.
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[ConnectionStatus] = mapped_column(
        _enum(ConnectionStatus, length=32), default=ConnectionStatus.ACTIVE
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    last_tested_at: Mapped[datetime | None]
    # OAuth tokens of connections made through `/oauth/:provider` (secrets sealed), None else.
    oauth: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    token_expires_at: Mapped[datetime | None]
    # Held by the one process refreshing the tokens; free when None or in the past.
    refresh_lock_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# Names are unique per user and tenant; NULL tenants compare equal through coalesce.
Index(
    "uq_connections_owner_name",
    Connection.owner_id,
    func.coalesce(Connection.tenant_id, ""),
    Connection.name,
    unique=True,
)


class Source(Base):
    """A connected source; its id is also its Dagster partition key."""

    __tablename__ = "sources"
    __table_args__ = (
        Index("ix_sources_owner_tenant_created", "owner_id", "tenant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(String(128), index=True)
    tenant_id: Mapped[str | None] = mapped_column(String(128), index=True)
    type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(256))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # How the pipeline treats its files (resources/connectors/options.py), as given.
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    connection_id: Mapped[str | None] = mapped_column(
        ForeignKey("connections.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[SourceStatus] = mapped_column(_enum(SourceStatus), default=SourceStatus.PENDING)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_sync_at: Mapped[datetime | None]
    last_sync_duration_s: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # `{"$sealed": token}` (resources/vault.py): the secret its code host signs deliveries with.
    webhook_secret: Mapped[dict[str, Any] | None]
    # `github:owner/repo`, lowercased: how a delivery finds its sources without a scan.
    repository_key: Mapped[str | None] = mapped_column(String(300), index=True)
    # The provider's id of the webhook Headwater registered for it (removed with the source).
    webhook_hook_id: Mapped[str | None] = mapped_column(String(128))

    connection: Mapped[Connection | None] = relationship()
    jobs: Mapped[list[SyncJob]] = relationship(
        back_populates="source", cascade="all, delete-orphan", passive_deletes=True
    )
    channels: Mapped[list[PushChannel]] = relationship(
        back_populates="source", cascade="all, delete-orphan", passive_deletes=True
    )


class PushChannel(Base):
    """A push-notification channel a provider keeps open for a source (Drive's changes.watch).

    Stored before the provider is asked to open it, since its first message may arrive before
    the answer; so while one channel replaces another, a source holds both.
    """

    __tablename__ = "push_channels"

    # The id Headwater chose (a UUID), sent back as `X-Goog-Channel-ID`.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    # `{"$sealed": token}`: the secret the provider sends back with every message.
    token: Mapped[dict[str, Any]]
    address: Mapped[str] = mapped_column(Text)
    # The provider's id of the watched resource, and when it stops sending; None until open.
    resource_id: Mapped[str | None] = mapped_column(String(256))
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    source: Mapped[Source] = relationship(back_populates="channels")


class SyncJob(Base):
    """One requested sync; written `queued` before anyone is answered, then run by a sensor."""

    __tablename__ = "sync_jobs"
    __table_args__ = (
        Index("ix_sync_jobs_status_created", "status", "created_at"),
        Index("ix_sync_jobs_source_created", "source_id", "created_at"),
        Index("ix_sync_jobs_source_status_completed", "source_id", "status", "completed_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    owner_id: Mapped[str] = mapped_column(String(128), index=True)
    tenant_id: Mapped[str | None] = mapped_column(String(128))
    type: Mapped[SyncType] = mapped_column(_enum(SyncType))
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus), default=JobStatus.QUEUED)
    trigger: Mapped[str] = mapped_column(String(32), default="api")
    run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    progress: Mapped[int] = mapped_column(default=0)
    stage: Mapped[str | None] = mapped_column(String(32))
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    source: Mapped[Source] = relationship(back_populates="jobs")


class RateLimitCounter(Base):
    """A fixed-window request counter shared by every API process (when Redis is not used)."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int]
    # Epoch seconds, as the `limits` library speaks them.
    expires_at: Mapped[float]


class DeliveryStatus(enum.StrEnum):
    """What a webhook delivery did for one source."""

    QUEUED = "queued"  # a sync job was queued, or a queued one joined
    IGNORED = "ignored"  # nothing to sync: a ping, another branch, another event


class WebhookDelivery(Base):
    """One delivery a code host made, stored before it is acknowledged.

    Unique per provider and delivery id, so a redelivery (or a retry that raced the first
    attempt) finds the row and its jobs instead of queueing new ones.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("provider", "delivery_id", name="uq_webhook_deliveries_provider_delivery"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    provider: Mapped[str] = mapped_column(String(16))
    delivery_id: Mapped[str] = mapped_column(String(128))
    event: Mapped[str] = mapped_column(String(64))
    body_sha256: Mapped[str] = mapped_column(String(64))
    # Pushed branches and the paths the payload says changed (added/modified/removed).
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Times it reached us, and the provider's own count (Bitbucket's X-Attempt-Number).
    attempts: Mapped[int] = mapped_column(default=1)
    last_attempt_number: Mapped[int | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_received_at: Mapped[datetime] = mapped_column(default=utcnow)

    targets: Mapped[list[WebhookDeliverySource]] = relationship(
        back_populates="delivery", cascade="all, delete-orphan", passive_deletes=True
    )


class WebhookDeliverySource(Base):
    """A source a delivery verified for (its secret signed it), and the job it queued."""

    __tablename__ = "webhook_delivery_sources"

    webhook_delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), primary_key=True
    )
    source_id: Mapped[str] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    job_id: Mapped[str | None] = mapped_column(ForeignKey("sync_jobs.id", ondelete="SET NULL"))
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus))
    reason: Mapped[str | None] = mapped_column(String(255))

    delivery: Mapped[WebhookDelivery] = relationship(back_populates="targets")


class WebhookRejection(Base):
    """Audit of a delivery refused as unauthenticated; never its body."""

    __tablename__ = "webhook_rejections"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(255))
    delivery_id: Mapped[str | None] = mapped_column(String(128))
    event: Mapped[str | None] = mapped_column(String(64))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class OAuthState(Base):
    """One started OAuth flow: single-use, expiring, bound to its user and provider."""

    __tablename__ = "oauth_states"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(128))
    tenant_id: Mapped[str | None] = mapped_column(String(128))
    provider: Mapped[str] = mapped_column(String(32))
    redirect_uri: Mapped[str] = mapped_column(Text)
    # {"codeVerifier": sealed}: the PKCE verifier never leaves the server.
    secret: Mapped[dict[str, Any]] = mapped_column(default=dict)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
