"""Bearer tokens: HS256 JWTs; `sub` is the user, an optional `tenant` scopes a workspace."""

from __future__ import annotations

import functools
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from resources.dev_secrets import development_secret
from resources.settings import Settings
from resources.store.owners import Owner

logger = logging.getLogger(__name__)

ALGORITHM = "HS256"
SECRET_FILE = "jwt_secret"
MAX_ID_CHARS = 128  # the width of owner_id and tenant_id in the store
LEEWAY_S = 10
# Tokens whose signature and claims were checked, per API process (a client reuses its token).
VERIFIED_TOKENS = 4096


class InvalidToken(ValueError):
    """The token is malformed, wrongly signed, expired or lacks a usable `sub`."""


@dataclass(frozen=True, slots=True)
class User:
    """Who a request acts for."""

    id: str
    tenant: str | None = None

    @property
    def owner(self) -> Owner:
        """The owner the request's rows are scoped to (user and tenant, exactly)."""
        return Owner(self.id, self.tenant)


def signing_secret(settings: Settings) -> str:
    """`HEADWATER_JWT_SECRET`; in development, a random one kept in the home folder."""
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    return development_secret(
        settings.resolved_home / SECRET_FILE,
        variable="HEADWATER_JWT_SECRET",
        generate=lambda: secrets.token_urlsafe(48),
    )


def mint_token(secret: str, *, user: str, tenant: str | None = None, ttl: timedelta) -> str:
    """A signed token for `user` (and `tenant`) that expires after `ttl`."""
    if not user or len(user) > MAX_ID_CHARS:
        raise ValueError(f"user must be 1 to {MAX_ID_CHARS} characters")
    now = datetime.now(UTC)
    claims: dict[str, object] = {"sub": user, "iat": now, "exp": now + ttl}
    if tenant is not None:
        claims["tenant"] = tenant
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> User:
    """The user a token names.

    A token is verified once; later calls only check that it has not expired since, the one
    check whose answer changes with time (`nbf` and `iat` passed once stay passed).

    Raises:
        InvalidToken: Malformed, wrongly signed, expired, or without `sub`/`exp`.
    """
    user, expires_at = _verified(secret, token)
    if expires_at <= time.time() - LEEWAY_S:
        raise InvalidToken("token expired")
    return user


@functools.lru_cache(maxsize=VERIFIED_TOKENS)
def _verified(secret: str, token: str) -> tuple[User, float]:
    """The user of a token that passed every check now, and its `exp` (errors are not kept)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp"]},
            leeway=LEEWAY_S,
        )
    except jwt.ExpiredSignatureError as error:
        raise InvalidToken("token expired") from error
    except jwt.InvalidTokenError as error:
        raise InvalidToken(f"invalid token: {error}") from error
    subject, tenant = claims.get("sub"), claims.get("tenant")
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_ID_CHARS:
        raise InvalidToken(f"`sub` must be a string of 1 to {MAX_ID_CHARS} characters")
    if tenant is not None and (not isinstance(tenant, str) or not 0 < len(tenant) <= MAX_ID_CHARS):
        raise InvalidToken(f"`tenant` must be a string of 1 to {MAX_ID_CHARS} characters")
    return User(id=subject, tenant=tenant), float(claims["exp"])


def service_user(
    expected: str | None, presented: str, *, user: str | None, tenant: str | None
) -> User:
    """The user an internal caller acts for, after checking its service token.

    Args:
        expected: `HEADWATER_SERVICE_TOKEN`, or None when service calls are disabled.
        presented: The `X-Service-Token` header.
        user: The `X-User-Id` header.
        tenant: The `X-Tenant-Id` header, if any.

    Raises:
        InvalidToken: Service calls disabled, wrong token, or no valid user id.
    """
    if expected is None:
        raise InvalidToken("service calls are disabled (HEADWATER_SERVICE_TOKEN is not set)")
    if not hmac.compare_digest(expected.encode(), presented.encode()):
        raise InvalidToken("invalid service token")
    if user is None or not 0 < len(user) <= MAX_ID_CHARS:
        raise InvalidToken(f"X-User-Id must name the user (1 to {MAX_ID_CHARS} characters)")
    if tenant is not None and not 0 < len(tenant) <= MAX_ID_CHARS:
        raise InvalidToken(f"X-Tenant-Id must be 1 to {MAX_ID_CHARS} characters")
    return User(id=user, tenant=tenant)
