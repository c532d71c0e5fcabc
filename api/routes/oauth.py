"""OAuth 2.0 with PKCE: start a flow, take the provider's callback, hand tokens to services."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import RedirectResponse

from api.deps import (
    CurrentUser,
    PublicUrl,
    RateLimited,
    SessionDep,
    SettingsDep,
    StateDep,
    service_token,
)
from api.errors import ERROR_RESPONSES, ApiError, ErrorCode, error_doc, unauthorized
from api.schemas import OAuthTokenOut
from resources.oauth import flow
from resources.oauth.client import TokenError
from resources.oauth.providers import Provider, provider
from resources.oauth.tokens import NeedsReauth, fresh_tokens
from resources.store.engine import session_factory
from resources.vault import VaultError

BAD_REQUEST: dict[int | str, dict[str, Any]] = {
    400: error_doc("VALIDATION_ERROR: provider not configured, redirect_uri or state refused."),
    404: error_doc("NOT_FOUND: unknown provider, or no connection of it."),
}

router = APIRouter(prefix="/oauth", tags=["oauth"], responses={**ERROR_RESPONSES, **BAD_REQUEST})


@router.get(
    "/tokens/{provider_name}",
    dependencies=[RateLimited],
    responses={409: error_doc("CONFLICT: the connection needs re-authorization.")},
)
def get_tokens(
    provider_name: str,
    user: CurrentUser,
    settings: SettingsDep,
    state: StateDep,
    service: Annotated[str | None, Depends(service_token)],
) -> OAuthTokenOut:
    """The user's access token for a provider, refreshed first if it is about to expire.

    Internal: only with `X-Service-Token` and `X-User-Id`.
    """
    if service is None:
        raise unauthorized("X-Service-Token (with X-User-Id) is required")
    chosen = _configured(provider_name)
    sessions = session_factory(settings.resolved_database_url)
    with sessions() as session:
        connection = flow.oauth_connection(session, user.owner, chosen.name)
        connection_id = connection.id if connection is not None else None
    if connection_id is None:
        raise ApiError(404, ErrorCode.NOT_FOUND, f"No {chosen.name} OAuth connection")
    try:
        tokens = fresh_tokens(sessions, state.vault, chosen, connection_id)
    except (NeedsReauth, VaultError) as error:
        raise ApiError(
            409, ErrorCode.CONFLICT, str(error), details={"connectionId": connection_id}
        ) from error
    except TokenError as error:
        raise ApiError(502, ErrorCode.PROVIDER_ERROR, str(error)) from error
    return OAuthTokenOut(
        access_token=tokens.access_token, expires_at=tokens.expires_at, scopes=list(tokens.scopes)
    )


@router.get("/{provider_name}", status_code=302, dependencies=[RateLimited])
def start_flow(
    provider_name: str,
    redirect_uri: Annotated[str, Query(max_length=2048)],
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    state: StateDep,
    public_url: PublicUrl,
) -> RedirectResponse:
    """Redirect to the provider's consent page (state and PKCE challenge attached)."""
    chosen = _configured(provider_name)
    if redirect_uri not in settings.oauth_redirect_uris:
        raise ApiError(
            400,
            ErrorCode.VALIDATION_ERROR,
            "redirect_uri is not on the allow-list (HEADWATER_OAUTH_REDIRECT_URIS)",
            details={"field": "redirect_uri"},
        )
    url = flow.start(
        session,
        state.vault,
        chosen,
        owner=user.owner,
        redirect_uri=redirect_uri,
        public_url=public_url,
    )
    return RedirectResponse(url, status_code=302)


@router.get("/{provider_name}/callback", status_code=302)
def callback(
    provider_name: str,
    settings: SettingsDep,
    state: StateDep,
    public_url: PublicUrl,
    state_id: Annotated[str, Query(alias="state", max_length=128)],
    code: Annotated[str | None, Query(max_length=4096)] = None,
    iss: Annotated[str | None, Query(max_length=2048)] = None,
) -> RedirectResponse:
    """Where the provider sends the browser back: store the tokens, return to the app."""
    chosen = _configured(provider_name)
    try:
        outcome = flow.finish(
            session_factory(settings.resolved_database_url),
            state.vault,
            chosen,
            state_id=state_id,
            code=code,
            issuer=iss,
            public_url=public_url,
        )
    except flow.StateError as error:
        raise ApiError(
            400, ErrorCode.VALIDATION_ERROR, str(error), details={"field": "state"}
        ) from error
    return RedirectResponse(outcome.location, status_code=302)


def _configured(name: str) -> Provider:
    """The named provider; 404 if unknown, 400 if its client is not configured."""
    found = provider(name)
    if found is None:
        raise ApiError(404, ErrorCode.NOT_FOUND, f"Unknown OAuth provider {name!r}")
    if not found.configured:
        upper = name.upper()
        raise ApiError(
            400,
            ErrorCode.VALIDATION_ERROR,
            f"OAuth for {name} is not configured "
            f"(HEADWATER_OAUTH_{upper}_CLIENT_ID and HEADWATER_OAUTH_{upper}_CLIENT_SECRET)",
            details={"field": "provider"},
        )
    return found
