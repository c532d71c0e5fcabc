"""Start and finish an authorization code flow with PKCE (RFC 6749, RFC 7636, RFC 9207).

The state is a random 256-bit id of a stored row: unguessable, so it cannot be forged; the row
binds it to the user, the provider and the redirect URI, expires after `STATE_TTL`, and is
consumed by one conditional UPDATE, so it works once even when two callbacks race.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from resources.oauth.client import TokenError, Tokens, request_tokens
from resources.oauth.providers import Provider
from resources.store import connections
from resources.store.engine import transaction
from resources.store.models import Connection, ConnectionStatus, OAuthState, utcnow
from resources.store.owners import Owner
from resources.vault import Vault

STATE_TTL = timedelta(minutes=10)
TOKEN_FIELDS = ("accessToken", "refreshToken")
VERIFIER_FIELDS = ("codeVerifier",)


class StateError(Exception):
    """A callback whose state is unknown, expired, used, or issued for another provider."""


@dataclass(frozen=True)
class Outcome:
    """Where a finished flow sends the browser: the stored connection, or an error code."""

    redirect_uri: str
    connection_id: str | None
    error: str | None = None

    @property
    def location(self) -> str:
        """The redirect URI with `connectionId` and/or `error` added to its query."""
        query = {"connectionId": self.connection_id, "error": self.error}
        sep = "&" if "?" in self.redirect_uri else "?"
        shown = {k: v for k, v in query.items() if v is not None}
        return f"{self.redirect_uri}{sep}{urlencode(shown)}"


def callback_url(public_url: str, provider: Provider) -> str:
    """Our redirection endpoint for `provider`."""
    return f"{public_url.rstrip('/')}/oauth/{provider.name}/callback"


def start(
    session: Session,
    vault: Vault,
    provider: Provider,
    *,
    owner: Owner,
    redirect_uri: str,
    public_url: str,
) -> str:
    """Store a fresh state with its PKCE verifier; the provider's authorization URL.

    States expired for a while are deleted on the way (a used one is kept until then).
    """
    session.execute(delete(OAuthState).where(OAuthState.expires_at < utcnow() - STATE_TTL))
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    state = OAuthState(
        id=secrets.token_urlsafe(32),
        owner_id=owner.user_id,
        tenant_id=owner.tenant_id,
        provider=provider.name,
        redirect_uri=redirect_uri,
        secret=vault.seal({"codeVerifier": verifier}, VERIFIER_FIELDS),
        expires_at=utcnow() + STATE_TTL,
    )
    session.add(state)
    query = {
        "response_type": "code",
        "client_id": provider.client_id or "",
        "redirect_uri": callback_url(public_url, provider),
        "scope": " ".join(provider.scopes),
        "state": state.id,
        "code_challenge": challenge.decode().rstrip("="),
        "code_challenge_method": "S256",
        **provider.authorize_params,
    }
    return f"{provider.authorize_url}?{urlencode(query)}"


def finish(
    sessions: sessionmaker[Session],
    vault: Vault,
    provider: Provider,
    *,
    state_id: str,
    code: str | None,
    issuer: str | None,
    public_url: str,
) -> Outcome:
    """Consume the state, exchange the code and store the tokens in a connection.

    Raises:
        StateError: The state cannot be used here (nothing is stored or consumed).
    """
    if issuer is not None and issuer != provider.issuer:
        raise StateError(f"the callback's iss {issuer!r} is not {provider.name}'s issuer")
    with transaction(sessions) as session:
        state = _consume(session, state_id, provider)
        owner = Owner(user_id=state.owner_id, tenant_id=state.tenant_id)
        verifier = vault.unseal(state.secret, VERIFIER_FIELDS)["codeVerifier"]
        redirect_uri = state.redirect_uri
    if not code:
        return Outcome(redirect_uri, None, "access_denied")
    try:
        tokens = request_tokens(
            provider,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": callback_url(public_url, provider),
                "code_verifier": verifier,
            },
        )
    except TokenError as error:
        return Outcome(redirect_uri, None, error.code)
    with transaction(sessions) as session:
        try:
            connection = _store(session, vault, provider, owner, tokens)
        except connections.DuplicateName:
            return Outcome(redirect_uri, None, "duplicate_connection")
        missing = connection.status is ConnectionStatus.NEEDS_REAUTH
        return Outcome(redirect_uri, connection.id, "no_refresh_token" if missing else None)


def _consume(session: Session, state_id: str, provider: Provider) -> OAuthState:
    now = utcnow()
    used = session.execute(
        update(OAuthState)
        .where(
            OAuthState.id == state_id,
            OAuthState.provider == provider.name,
            OAuthState.used_at.is_(None),
            OAuthState.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(used, "rowcount", 0) != 1:
        raise StateError("unknown, expired or already used state, or one for another provider")
    state = session.get(OAuthState, state_id)
    assert state is not None
    return state


def _store(
    session: Session, vault: Vault, provider: Provider, owner: Owner, tokens: Tokens
) -> Connection:
    """Put the tokens in the owner's connection of this provider (made on first use)."""
    complete = tokens.refresh_token is not None or not provider.requires_refresh_token
    oauth = {
        "provider": provider.name,
        "scopes": list(tokens.scopes or provider.scopes),
        **vault.seal(
            {"accessToken": tokens.access_token, "refreshToken": tokens.refresh_token}
            if complete
            else {},
            TOKEN_FIELDS,
        ),
    }
    connection = oauth_connection(session, owner, provider.name)
    if connection is None:
        connection = connections.create_connection(
            session,
            owner=owner,
            type=provider.name,
            name=f"{provider.name} (OAuth)",
            description=f"Authorized through {provider.name} OAuth",
            config={},
            options={},
        )
    connection.oauth = oauth
    connection.token_expires_at = tokens.expires_at
    connection.status = ConnectionStatus.ACTIVE if complete else ConnectionStatus.NEEDS_REAUTH
    connection.last_error = (
        None
        if complete
        else f"{provider.name} returned no refresh token; connect again and grant offline access"
    )
    return connection


def oauth_connection(session: Session, owner: Owner, provider: str) -> Connection | None:
    """The owner's connection made through `provider`'s OAuth flow, if any."""
    return session.scalars(
        select(Connection)
        .where(owner.clause(Connection), Connection.type == provider, Connection.oauth.is_not(None))
        .order_by(Connection.created_at)
        .limit(1)
    ).first()
