"""Sources: connect, list, show, sync and delete."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from sqlalchemy.orm import Session

from api.auth import User
from api.deps import (
    CurrentUser,
    InstanceDep,
    LakeDep,
    OwnedSource,
    PublicUrl,
    RateLimited,
    SessionDep,
    SettingsDep,
    StateDep,
    in_store,
    owned_source,
)
from api.errors import (
    CONNECTION_MISSING,
    ERROR_RESPONSES,
    SOURCE_MISSING,
    connection_not_found,
    validation_error,
)
from api.schemas import (
    QueuedJobOut,
    SourceCreate,
    SourceCreatedOut,
    SourceDeletedOut,
    SourceListOut,
    SourceOut,
    SourcePatch,
    SourceSummaryOut,
    SyncJobOut,
    SyncQueuedOut,
    SyncRequest,
)
from api.state import AppState
from api.views import source_view, webhook_setup
from resources import dagster_runs
from resources.connectors import ConfigError
from resources.connectors.options import PipelineOptions
from resources.connectors.registry import validate_options
from resources.lake import Lake
from resources.settings import Settings
from resources.source_configs import (
    inherited_options,
    sealed_config,
    sealed_source_config_with,
)
from resources.source_data import drop_source_data
from resources.source_stats import source_stats
from resources.store import connections, jobs, sources
from resources.store.engine import session_factory, transaction
from resources.store.models import Connection, SyncType
from resources.vault import VaultError
from resources.webhooks.subscriptions import subscribe, unsubscribe

# How long a delete waits for a terminated run to stop before dropping its data.
CANCEL_WAIT_S = 15.0
# Far past any real listing, and within the 64-bit integers databases take.
MAX_OFFSET = 1_000_000

router = APIRouter(
    prefix="/sources", tags=["sources"], dependencies=[RateLimited], responses=ERROR_RESPONSES
)


@router.get("")
async def list_sources(
    lake: LakeDep,
    user: CurrentUser,
    settings: SettingsDep,
    limit: Annotated[
        int, Query(ge=1, le=1000, description="Page size (default 20, as `GET /jobs`).")
    ] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> SourceListOut:
    """List the current user's sources, newest first, with their indexed figures."""
    return await in_store(settings, _source_list, user, lake, settings, limit=limit, offset=offset)


def _source_list(
    session: Session, user: User, lake: Lake, settings: Settings, *, limit: int, offset: int
) -> SourceListOut:
    rows, total = sources.list_sources(session, owner=user.owner, limit=limit, offset=offset)
    defaults = PipelineOptions.from_settings(settings)
    return SourceListOut(
        sources=[source_view(source, lake, defaults=defaults) for source in rows], total=total
    )


@router.post("", status_code=201, responses=CONNECTION_MISSING)
def create_source(
    body: SourceCreate,
    user: CurrentUser,
    state: StateDep,
    public_url: PublicUrl,
) -> SourceCreatedOut:
    """Connect a source (config checked against its connector's schema) and queue a full sync.

    The sync sensor makes the source a `sources` partition on the tick that starts its run: the
    request needs only the metadata store.

    With `connectionId`, the credentials come from that connection (of the same type, or an
    OAuth connection of the type's provider). Once the source is stored, a code-host source
    gets a webhook secret (shown once, with the URL, unless Headwater registered the hook)
    and a Google Drive source a push channel.
    """
    sessions = session_factory(state.settings.resolved_database_url)
    with transaction(sessions) as session:
        config, options = _checked_source(body, session, user, state)
        source = sources.create_source(
            session,
            owner_id=user.id,
            tenant_id=user.tenant,
            type=body.type,
            name=body.name or sources.default_name(body.type, config),
            config=config,
            options=options,
            connection_id=body.connection_id,
        )
        job = jobs.enqueue_sync(session, source=source, type=SyncType.FULL, trigger="api")
    subscription = subscribe(
        sessions,
        state.vault,
        source.id,
        public_url=public_url,
        channel_ttl=state.settings.push_channel_ttl,
    )
    return SourceCreatedOut(
        source=SourceSummaryOut(
            id=source.id, type=source.type, name=source.name, status=source.status.value
        ),
        sync_job=QueuedJobOut(id=job.id, status=job.status.value),
        webhook=webhook_setup(subscription),
    )


@router.get("/{source_id}", responses=SOURCE_MISSING)
async def get_source(
    source_id: str, user: CurrentUser, lake: LakeDep, settings: SettingsDep
) -> SourceOut:
    """Show one source with its indexed figures (files, size, languages, chunks) and the
    options in force."""
    return await in_store(settings, _source_out, source_id, user, lake, settings)


def _source_out(
    session: Session, source_id: str, user: User, lake: Lake, settings: Settings
) -> SourceOut:
    source = owned_source(session, source_id, user)
    return source_view(source, lake, defaults=PipelineOptions.from_settings(settings))


@router.patch("/{source_id}", responses=SOURCE_MISSING)
def patch_source(
    body: SourcePatch, source: OwnedSource, session: SessionDep, lake: LakeDep, state: StateDep
) -> SourceOut:
    """Rename a source or replace its own options (checked with its connection's, which stay
    under them); the options apply from its next sync on."""
    defaults = PipelineOptions.from_settings(state.settings)
    options = source.options
    if body.options is not None:
        try:
            options = validate_options(
                source.type, body.options, defaults=defaults, inherited=inherited_options(source)
            )
        except ConfigError as error:
            raise validation_error(error.message, details=error.details) from error
    sources.update_source(session, source, name=body.name or source.name, options=options)
    return source_view(source, lake, defaults=defaults)


@router.delete("/{source_id}", responses=SOURCE_MISSING)
def delete_source(
    source: OwnedSource,
    session: SessionDep,
    lake: LakeDep,
    instance: InstanceDep,
    state: StateDep,
) -> SourceDeletedOut:
    """Disconnect a source: remove its webhook or push channel, stop its runs, drop its
    partition, jobs and lake data."""
    unsubscribe(session_factory(state.settings.resolved_database_url), state.vault, source.id)
    removed = source_stats(lake, source.id)
    runs = dagster_runs.unfinished_runs(instance, source_id=source.id)
    dagster_runs.cancel_runs(instance, runs, wait_s=CANCEL_WAIT_S)
    dagster_runs.drop_partition(instance, source.id)
    sources.delete_source(session, source)
    drop_source_data(lake, source.id)
    return SourceDeletedOut(
        message="Source deleted",
        files_removed=removed.files_indexed,
        chunks_removed=removed.chunks,
    )


@router.post("/{source_id}/sync", status_code=202, responses=SOURCE_MISSING)
def sync_source(
    source: OwnedSource, session: SessionDep, body: Annotated[SyncRequest | None, Body()] = None
) -> SyncQueuedOut:
    """Queue a sync (incremental unless `type` is `full`); joins a sync already queued."""
    sync_type = body.type if body is not None else SyncType.INCREMENTAL
    job = jobs.enqueue_sync(session, source=source, type=sync_type, trigger="api")
    typical = jobs.typical_duration(session, source_id=source.id)
    return SyncQueuedOut(
        job=SyncJobOut(
            id=job.id,
            status=job.status.value,
            type=job.type.value,
            estimated_duration=math.ceil(typical) if typical is not None else None,
        )
    )


def _checked_source(
    body: SourceCreate, session: Session, user: User, state: AppState
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The config (sealed) and options to store, validated with the connection's, if any."""
    connection = _connection(body, session, user)
    try:
        options = validate_options(
            body.type,
            body.options,
            defaults=PipelineOptions.from_settings(state.settings),
            inherited=connection.options if connection is not None else None,
        )
        if connection is None:
            return sealed_config(state.vault, body.type, body.config), options
        config = sealed_source_config_with(state.vault, body.type, body.config, connection)
    except ConfigError as error:
        raise validation_error(error.message, details=error.details) from error
    except VaultError as error:
        raise validation_error(
            f"connectionId: {error}; update the connection's credentials",
            details={"field": "connectionId"},
        ) from error
    return config, options


def _connection(body: SourceCreate, session: Session, user: User) -> Connection | None:
    """The connection the source names, if any, among the user's (whether it serves the
    type is checked with the config)."""
    if body.connection_id is None:
        return None
    connection = connections.get_connection(session, body.connection_id, owner=user.owner)
    if connection is None:
        raise connection_not_found(body.connection_id)
    return connection
