"""The OAuth providers Headwater connects to, each endpoint overridable by settings.

A provider is configured by `HEADWATER_OAUTH_<NAME>_CLIENT_ID` and `..._CLIENT_SECRET`;
`..._AUTHORIZE_URL`, `..._TOKEN_URL`, `..._REVOKE_URL` and `..._ISSUER` replace its
public endpoints (a self-hosted GitLab, or a local server in tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# How a provider revokes: RFC 7009 (`token=` form) or a bearer-authenticated POST (Dropbox).
RevokeStyle = Literal["rfc7009", "bearer"]


@dataclass(frozen=True)
class Provider:
    """An OAuth 2.0 authorization server and how Headwater uses it.

    Attributes:
        name: The path segment of `/oauth/:provider`; also the type of its connections.
        authorize_url: The authorization endpoint.
        token_url: The token endpoint.
        revoke_url: The revocation endpoint, None where the provider has none.
        scopes: Scopes asked for.
        rotates_refresh_tokens: Whether each refresh returns a new refresh token.
        requires_refresh_token: A token answer without one is not a usable connection.
        issuer: The `iss` the provider sends back on the callback (RFC 9207), if any.
        authorize_params: Extra query parameters of the authorization request.
        revoke_style: How the revocation endpoint takes the token.
        client_id: Our client id (from settings).
        client_secret: Our client secret (from settings).
    """

    name: str
    authorize_url: str
    token_url: str
    revoke_url: str | None
    scopes: tuple[str, ...]
    rotates_refresh_tokens: bool = False
    requires_refresh_token: bool = False
    issuer: str | None = None
    authorize_params: dict[str, str] = field(default_factory=dict)
    revoke_style: RevokeStyle = "rfc7009"
    client_id: str | None = None
    client_secret: SecretStr | None = None

    @property
    def configured(self) -> bool:
        """Whether client credentials are set."""
        return bool(self.client_id and self.client_secret)


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            name="github",
            authorize_url="https://github.com/login/oauth/authorize",
            token_url="https://github.com/login/oauth/access_token",
            # GitHub revokes through its REST API with basic auth, not RFC 7009.
            revoke_url=None,
            scopes=("repo", "read:user"),
            rotates_refresh_tokens=True,
        ),
        Provider(
            name="gitlab",
            authorize_url="https://gitlab.com/oauth/authorize",
            token_url="https://gitlab.com/oauth/token",
            revoke_url="https://gitlab.com/oauth/revoke",
            scopes=("read_api", "read_repository"),
            rotates_refresh_tokens=True,
            issuer="https://gitlab.com",
        ),
        Provider(
            name="google",
            authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
            token_url="https://oauth2.googleapis.com/token",
            revoke_url="https://oauth2.googleapis.com/revoke",
            scopes=("https://www.googleapis.com/auth/drive.readonly",),
            requires_refresh_token=True,
            issuer="https://accounts.google.com",
            authorize_params={"access_type": "offline", "prompt": "consent"},
        ),
        Provider(
            name="dropbox",
            authorize_url="https://www.dropbox.com/oauth2/authorize",
            token_url="https://api.dropboxapi.com/oauth2/token",
            revoke_url="https://api.dropboxapi.com/2/auth/token/revoke",
            scopes=("files.metadata.read", "files.content.read"),
            requires_refresh_token=True,
            authorize_params={"token_access_type": "offline"},
            revoke_style="bearer",
        ),
        Provider(
            name="atlassian",
            authorize_url="https://auth.atlassian.com/authorize",
            token_url="https://auth.atlassian.com/oauth/token",
            revoke_url=None,
            scopes=("read:confluence-content.all", "read:jira-work", "offline_access"),
            rotates_refresh_tokens=True,
            authorize_params={"audience": "api.atlassian.com", "prompt": "consent"},
        ),
    )
}


class ProviderSettings(BaseSettings):
    """`HEADWATER_OAUTH_<NAME>_*`: a provider's client and endpoint overrides."""

    model_config = SettingsConfigDict(extra="ignore")

    client_id: str | None = None
    client_secret: SecretStr | None = None
    authorize_url: str | None = None
    token_url: str | None = None
    revoke_url: str | None = None
    issuer: str | None = None


def provider(name: str) -> Provider | None:
    """The named provider with this process's settings applied, or None if unknown."""
    base = PROVIDERS.get(name)
    if base is None:
        return None
    given = ProviderSettings(_env_prefix=f"HEADWATER_OAUTH_{name.upper()}_")  # type: ignore[call-arg]
    overrides = {k: v for k, v in given.model_dump().items() if v is not None}
    return replace(base, **overrides)
