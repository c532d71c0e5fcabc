"""Connections: accounts at providers (credentials, endpoints) that sources use."""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.connection_input import checked_config, checked_options, invalid_config, unique_name
from api.connection_tests import test_report, token_refused_report, undecryptable_report
from api.deps import CurrentUser, OwnedConnection, RateLimited, SessionDep, StateDep
from api.errors import CONNECTION_MISSING, ERROR_RESPONSES, ApiError, ErrorCode, error_doc
from api.schemas import (
    ConnectionCreate,
    ConnectionDeletedOut,
    ConnectionListOut,
    ConnectionOut,
    ConnectionPatch,
    ConnectionReplace,
    ConnectionTestOut,
)
from api.state import AppState
from resources.connectors import ConfigError, ConnectorError
from resources.connectors.registry import run_connection_test
from resources.oauth.providers import provider
from resources.oauth.tokens import revoke
from resources.source_configs import shown_connection_config
from resources.source_credentials import connection_fields
from resources.store import connections
from resources.store.engine import session_factory
from resources.store.models import Connection, ConnectionStatus, utcnow
from resources.vault import Vault, VaultError

INVALID: dict[int | str, dict[str, Any]] = {
    400: error_doc("INVALID_CONFIG: `details.field` names the field.")
}
DUPLICATE: dict[int | str, dict[str, Any]] = {
    409: error_doc("DUPLICATE_CONNECTION: you have a connection of that name.")
}

router = APIRouter(
    prefix="/connections",
    tags=["connections"],
    dependencies=[RateLimited],
    responses=ERROR_RESPONSES,
)


@router.post("", status_code=201, responses={**INVALID, **DUPLICATE})
def create_connection(
    body: ConnectionCreate, session: SessionDep, user: CurrentUser, state: StateDep
) -> ConnectionOut:
    """Store a connection; its config is checked against the type's connection fields, its
    options against the type's options schema."""
    config = checked_config(state.vault, body.type, body.config)
    options = checked_options(state.settings, body.type, body.options)
    with unique_name(body.name):
        created = connections.create_connection(
            session,
            owner=user.owner,
            type=body.type,
            name=body.name,
            description=body.description,
            config=config,
            options=options,
        )
    return connection_view(created)


@router.get("")
def list_connections(
    session: SessionDep,
    user: CurrentUser,
    type: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ConnectionListOut:
    """List your connections by name, optionally of one type."""
    rows, total = connections.list_connections(
        session, owner=user.owner, type=type, limit=limit, offset=offset
    )
    return ConnectionListOut(connections=[connection_view(c) for c in rows], total=total)


@router.get("/{connection_id}", responses=CONNECTION_MISSING)
def get_connection(connection: OwnedConnection) -> ConnectionOut:
    """Show a connection (secrets masked)."""
    return connection_view(connection)


@router.put("/{connection_id}", responses={**CONNECTION_MISSING, **INVALID, **DUPLICATE})
def replace_connection(
    body: ConnectionReplace, connection: OwnedConnection, session: SessionDep, state: StateDep
) -> ConnectionOut:
    """Replace name, description, config and options (a masked secret keeps its value)."""
    _update(
        session,
        state,
        connection,
        name=body.name,
        description=body.description,
        config=body.config,
        options=body.options,
    )
    return connection_view(connection)


@router.patch("/{connection_id}", responses={**CONNECTION_MISSING, **INVALID, **DUPLICATE})
def patch_connection(
    body: ConnectionPatch, connection: OwnedConnection, session: SessionDep, state: StateDep
) -> ConnectionOut:
    """Change what is sent; `config` keys merge into the stored config."""
    sent = body.model_fields_set
    _update(
        session,
        state,
        connection,
        name=body.name if body.name is not None else connection.name,
        description=body.description if "description" in sent else connection.description,
        config=(
            {**shown_connection_config(connection), **body.config}
            if body.config is not None
            else None
        ),
        options=body.options if body.options is not None else connection.options,
    )
    return connection_view(connection)


@router.delete(
    "/{connection_id}",
    responses={**CONNECTION_MISSING, 409: error_doc("CONFLICT: sources still use it.")},
)
def delete_connection(
    connection: OwnedConnection, session: SessionDep, state: StateDep
) -> ConnectionDeletedOut:
    """Delete a connection that no source uses; its OAuth tokens are revoked where possible."""
    using = [source.id for source in connections.sources_using(session, connection.id)]
    if using:
        raise ApiError(
            409,
            ErrorCode.CONFLICT,
            f"Connection {connection.id} is used by {len(using)} source(s); delete them first",
            details={"sourceIds": using},
        )
    if connection.oauth is not None:
        _revoke(state.vault, connection)
    connections.delete_connection(session, connection)
    return ConnectionDeletedOut(message="Connection deleted")


@router.post("/{connection_id}/test", responses=CONNECTION_MISSING)
def test_connection(
    connection: OwnedConnection, session: SessionDep, state: StateDep
) -> ConnectionTestOut:
    """Connect with the stored credentials, list a few items and read a sample, timed.

    An OAuth connection's access token is refreshed first when it is about to expire; a
    refused refresh marks it `needs_reauth`.
    """
    sessions = session_factory(state.settings.resolved_database_url)
    try:
        config = connection_fields(sessions, state.vault, connection)
    except VaultError as error:
        connection.status = ConnectionStatus.CREDENTIALS_INVALID
        connection.last_error = str(error)
        return undecryptable_report(str(error))
    except ConfigError as error:  # no connector serves this connection
        raise invalid_config(error) from error
    except ConnectorError as error:  # the OAuth refresh failed (needs_reauth is stored)
        connection.last_tested_at = utcnow()
        connection.last_error = error.message
        return token_refused_report(error, provider=connection.type)
    try:
        result = run_connection_test(connection.type, config, oauth=connection.oauth is not None)
    except ConfigError as error:
        raise invalid_config(error) from error
    connection.last_tested_at = utcnow()
    connection.last_error = None if result.ok else result.message
    connection.status = ConnectionStatus.ACTIVE if result.ok else connection.status
    return test_report(result)


def connection_view(connection: Connection) -> ConnectionOut:
    """A connection as every answer shows it."""
    return ConnectionOut(
        id=connection.id,
        type=connection.type,
        name=connection.name,
        description=connection.description,
        config=shown_connection_config(connection),
        options=connection.options,
        status=connection.status.value,
        last_error=connection.last_error,
        last_tested_at=connection.last_tested_at,
        created_at=connection.created_at,
        updated_at=connection.updated_at,
    )


def _update(
    session: Any,
    state: AppState,
    connection: Connection,
    *,
    name: str,
    description: str | None,
    config: dict[str, Any] | None,
    options: dict[str, Any],
) -> None:
    """Apply a change, or answer 400/409 and change nothing.

    New credentials make a connection `active` again; an OAuth connection's come only from
    its provider (its config holds endpoints), so its status stays as it is.
    """
    oauth = connection.oauth is not None
    if options != connection.options:
        options = checked_options(
            state.settings,
            connection.type,
            options,
            sources=connections.sources_using(session, connection.id),
            oauth=oauth,
        )
    if config is not None:
        connection.config = checked_config(
            state.vault, connection.type, config, stored=connection.config, oauth=oauth
        )
        if not oauth:
            connection.status = ConnectionStatus.ACTIVE
    with unique_name(name):
        connections.rename_connection(session, connection, name)
    connection.description = description
    connection.options = options


def _revoke(vault: Vault, connection: Connection) -> None:
    """Revoke the connection's OAuth tokens; tokens that cannot be opened are simply dropped."""
    found = provider(connection.type)
    if found is not None:
        with suppress(VaultError):
            revoke(vault, found, connection)
