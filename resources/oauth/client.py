"""Calls to a provider's token and revocation endpoints (httpx, client_secret_post)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from resources.oauth.providers import Provider
from resources.store.models import utcnow

TIMEOUT_S = 20


class TokenError(Exception):
    """The token endpoint refused (`code` is the RFC 6749 error, e.g. `invalid_grant`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Tokens:
    """A token endpoint's answer."""

    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    scopes: tuple[str, ...]


def request_tokens(provider: Provider, grant: dict[str, str]) -> Tokens:
    """POST a grant (`authorization_code` or `refresh_token`) to the token endpoint.

    Raises:
        TokenError: An error answer, or one without an access token.
    """
    form = {**grant, **_client_auth(provider)}
    try:
        response = httpx.post(
            provider.token_url,
            data=form,
            headers={"Accept": "application/json"},
            timeout=TIMEOUT_S,
        )
        body: dict[str, Any] = response.json()
    except (httpx.HTTPError, ValueError) as error:
        raise TokenError("unreachable", f"{provider.name} token endpoint: {error}") from error
    if "error" in body or not isinstance(body.get("access_token"), str):
        code = str(body.get("error", "invalid_response"))
        raise TokenError(code, f"{provider.name} refused the token request: {code}")
    expires_in = body.get("expires_in")
    scope = body.get("scope")
    return Tokens(
        access_token=body["access_token"],
        refresh_token=body.get("refresh_token"),
        expires_at=utcnow() + timedelta(seconds=int(expires_in)) if expires_in else None,
        scopes=tuple(scope.replace(",", " ").split()) if isinstance(scope, str) else (),
    )


def revoke_token(provider: Provider, token: str) -> bool:
    """Revoke a token where the provider can; whether the provider accepted it."""
    if provider.revoke_url is None:
        return False
    try:
        if provider.revoke_style == "bearer":
            response = httpx.post(
                provider.revoke_url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=TIMEOUT_S,
            )
        else:
            response = httpx.post(
                provider.revoke_url,
                data={"token": token, **_client_auth(provider)},
                timeout=TIMEOUT_S,
            )
    except httpx.HTTPError:
        return False
    return response.is_success


def _client_auth(provider: Provider) -> dict[str, str]:
    """`client_secret_post` client authentication (RFC 6749 §2.3.1)."""
    secret = provider.client_secret.get_secret_value() if provider.client_secret else ""
    return {"client_id": provider.client_id or "", "client_secret": secret}
