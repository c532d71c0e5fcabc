"""What a source's connector runs with, OAuth access tokens included.

A source's config is its own fields and its connection's, secrets opened
(`source_configs.source_connector_config`). A source whose connection was made through an
OAuth flow gets the connection's access token as its `token`, refreshed first when it is
about to expire, through the single-flight refresher (`resources.oauth.tokens`): the new
refresh token is committed before the access token is used. A connection that cannot give
one any more (the provider refused the refresh) is marked `needs_reauth`, and whatever
wanted the token fails saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from resources.connectors import ConnectorError
from resources.connectors.registry import OAUTH_TOKEN_FIELD, connection_connector
from resources.oauth.client import TokenError
from resources.oauth.providers import provider
from resources.oauth.tokens import NeedsReauth, fresh_tokens
from resources.source_configs import source_connector_config
from resources.store import sources
from resources.store.engine import transaction
from resources.store.models import Connection
from resources.vault import Vault

# Token endpoint failures worth retrying later (RFC 6749 §5.2 and our own).
TRANSIENT_TOKEN_ERRORS = frozenset(
    {"unreachable", "lock_timeout", "server_error", "temporarily_unavailable"}
)


class ReauthorizationNeeded(ConnectorError):
    """The source's OAuth connection gives no token until a person connects again."""


@dataclass(frozen=True, slots=True)
class ConnectorConfig:
    """A source's connector type and the config it runs with (secrets opened)."""

    type: str
    config: dict[str, Any]


def connector_config(
    sessions: sessionmaker[Session], vault: Vault, source_id: str
) -> ConnectorConfig | None:
    """The source's connector type and config, with a fresh token from an OAuth connection.

    Returns:
        None when the source does not exist (any more).

    Raises:
        ReauthorizationNeeded: Its OAuth connection needs re-authorization (and is marked so).
        ConnectorError: The token endpoint failed otherwise.
        VaultError: Stored secrets that none of the keys opens.
    """
    with transaction(sessions) as session:
        source = sources.get_source(session, source_id)
        if source is None:
            return None
        found = ConnectorConfig(type=source.type, config=source_connector_config(vault, source))
        connection = source.connection
        oauth = connection if connection is not None and connection.oauth is not None else None
    if oauth is not None:  # outside the transaction: a refresh commits on its own
        found.config[OAUTH_TOKEN_FIELD] = oauth_access_token(
            sessions, vault, connection_id=oauth.id, provider_name=oauth.type
        )
    return found


def connection_fields(
    sessions: sessionmaker[Session], vault: Vault, connection: Connection
) -> dict[str, Any]:
    """What a connection gives its connector (to test it alone): its fields, secrets
    opened, and an OAuth connection's access token, refreshed first if it is about to expire.

    Raises:
        ConfigError: An OAuth provider no connector takes.
        ReauthorizationNeeded: The OAuth connection needs re-authorization (marked so).
        ConnectorError: The token endpoint failed otherwise.
        VaultError: Stored secrets that none of the keys opens.
    """
    oauth = connection.oauth is not None
    served = connection_connector(connection.type, oauth=oauth).spec
    fields = vault.unseal(connection.config, served.secret_fields)
    if oauth:
        fields[OAUTH_TOKEN_FIELD] = oauth_access_token(
            sessions, vault, connection_id=connection.id, provider_name=connection.type
        )
    return fields


def oauth_access_token(
    sessions: sessionmaker[Session], vault: Vault, *, connection_id: str, provider_name: str
) -> str:
    """An OAuth connection's access token, refreshed first if it is about to expire.

    Raises:
        ReauthorizationNeeded: The connection needs re-authorization (and is marked so).
        ConnectorError: The token endpoint failed otherwise (transient when worth retrying).
        VaultError: Its tokens cannot be opened with the configured keys.
    """
    chosen = provider(provider_name)
    details = {"provider": provider_name, "connectionId": connection_id}
    if chosen is None:
        raise ConnectorError(f"unknown OAuth provider {provider_name!r}", details=details)
    # `from None`: run failures show the innermost cause, and this message says it all.
    try:
        return fresh_tokens(sessions, vault, chosen, connection_id).access_token
    except NeedsReauth as error:
        raise ReauthorizationNeeded(
            f"{provider_name} OAuth connection {connection_id} needs re-authorization "
            f"({error}): connect again through GET /oauth/{provider_name}",
            details={**details, "status": "needs_reauth"},
        ) from None
    except TokenError as error:
        raise ConnectorError(
            f"{provider_name} did not refresh the access token of OAuth connection "
            f"{connection_id}: {error}",
            details={**details, "error": error.code},
            transient=error.code in TRANSIENT_TOKEN_ERRORS,
        ) from None
