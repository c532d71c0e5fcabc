"""Access tokens of OAuth connections, refreshed before they expire, and their revocation.

Concurrent refreshes of one connection make one call to the token endpoint: a refresher
first takes `refresh_lock_until` with a conditional UPDATE committed on its own (the same on
PostgreSQL and SQLite); the others wait for it to be released and read the new tokens. The
new refresh token is committed before the access token is handed out, so a provider that
rotates refresh tokens (and invalidates the family on reuse, as Atlassian does) never sees
an old one again.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm import Session, sessionmaker

from resources.oauth.client import TokenError, Tokens, request_tokens, revoke_token
from resources.oauth.flow import TOKEN_FIELDS
from resources.oauth.providers import Provider
from resources.store.engine import transaction
from resources.store.models import Connection, ConnectionStatus, utcnow
from resources.vault import Vault

REFRESH_MARGIN = timedelta(minutes=2)
LOCK_TTL = timedelta(seconds=60)
WAIT_STEP_S = 0.05
WAIT_LIMIT_S = 60.0


class NeedsReauth(Exception):
    """The connection's tokens cannot be used or refreshed: a person must connect again."""


def fresh_tokens(
    sessions: sessionmaker[Session], vault: Vault, provider: Provider, connection_id: str
) -> Tokens:
    """The connection's tokens, refreshed first when they expire within `REFRESH_MARGIN`.

    Raises:
        NeedsReauth: The connection needs re-authorization (now or after a refused refresh).
        TokenError: The token endpoint failed otherwise (the tokens are left as they were).
    """
    deadline = time.monotonic() + WAIT_LIMIT_S
    while True:
        with transaction(sessions) as session:
            current = _opened(session, vault, connection_id)
        if not _expiring(current.expires_at):
            return current
        if _take_lock(sessions, connection_id):
            break
        if time.monotonic() > deadline:
            raise TokenError("lock_timeout", "another refresh of this connection is stuck")
        time.sleep(WAIT_STEP_S)
    try:
        with transaction(sessions) as session:
            current = _opened(session, vault, connection_id)
        if not _expiring(current.expires_at) or current.refresh_token is None:
            return current
        new = request_tokens(
            provider, {"grant_type": "refresh_token", "refresh_token": current.refresh_token}
        )
    except TokenError as error:
        with transaction(sessions) as session:
            connection = _locked_row(session, connection_id)
            if error.code == "invalid_grant":
                connection.status = ConnectionStatus.NEEDS_REAUTH
                connection.last_error = f"{provider.name} refused the refresh token; connect again"
        if error.code == "invalid_grant":
            raise NeedsReauth(str(error)) from error
        raise
    except BaseException:
        with transaction(sessions) as session:
            _locked_row(session, connection_id)
        raise
    kept = Tokens(
        access_token=new.access_token,
        refresh_token=new.refresh_token or current.refresh_token,
        expires_at=new.expires_at,
        scopes=new.scopes or current.scopes,
    )
    with transaction(sessions) as session:
        connection = _locked_row(session, connection_id)
        connection.oauth = {
            **(connection.oauth or {}),
            "scopes": list(kept.scopes),
            **vault.seal(
                {"accessToken": kept.access_token, "refreshToken": kept.refresh_token},
                TOKEN_FIELDS,
            ),
        }
        connection.token_expires_at = kept.expires_at
    return kept


def revoke(vault: Vault, provider: Provider, connection: Connection) -> bool:
    """Revoke the connection's tokens at the provider (refresh token first); whether it did."""
    opened = vault.unseal(connection.oauth or {}, TOKEN_FIELDS)
    token = opened.get("refreshToken") or opened.get("accessToken")
    return isinstance(token, str) and revoke_token(provider, token)


def _opened(session: Session, vault: Vault, connection_id: str) -> Tokens:
    connection = session.get(Connection, connection_id)
    if connection is None or connection.status is not ConnectionStatus.ACTIVE:
        reason = connection.last_error if connection is not None else None
        raise NeedsReauth(reason or "the connection needs re-authorization")
    opened = vault.unseal(connection.oauth or {}, TOKEN_FIELDS)
    if not isinstance(opened.get("accessToken"), str):
        raise NeedsReauth("the connection holds no OAuth token")
    return Tokens(
        access_token=opened["accessToken"],
        refresh_token=opened.get("refreshToken"),
        expires_at=connection.token_expires_at,
        scopes=tuple(opened.get("scopes", ())),
    )


def _expiring(expires_at: datetime | None) -> bool:
    return expires_at is not None and expires_at <= utcnow() + REFRESH_MARGIN


def _take_lock(sessions: sessionmaker[Session], connection_id: str) -> bool:
    now = utcnow()
    with transaction(sessions) as session:
        result = session.execute(
            update(Connection)
            .where(
                Connection.id == connection_id,
                or_(Connection.refresh_lock_until.is_(None), Connection.refresh_lock_until < now),
            )
            .values(refresh_lock_until=now + LOCK_TTL)
            .execution_options(synchronize_session=False)
        )
        return getattr(result, "rowcount", 0) == 1


def _locked_row(session: Session, connection_id: str) -> Connection:
    """The connection, its refresh lock released (on commit)."""
    connection = session.get(Connection, connection_id)
    if connection is None:
        raise NeedsReauth("the connection was deleted")
    connection.refresh_lock_until = None
    return connection
