"""OAuth connections seeded straight into the store, as a finished flow leaves them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from resources.metadata import MetadataStore
from resources.oauth.flow import TOKEN_FIELDS
from resources.store import connections
from resources.store.models import utcnow
from resources.store.owners import Owner
from resources.vault import Vault

# Inside the refresh margin (2 minutes): the first use refreshes.
EXPIRING = timedelta(seconds=30)


def oauth_connection(
    store: MetadataStore,
    vault: Vault,
    *,
    provider: str,
    access_token: str,
    refresh_token: str,
    config: dict[str, Any] | None = None,
    expires_in: timedelta = EXPIRING,
) -> str:
    """Alice's OAuth connection of `provider`, its access token expiring in `expires_in`
    (by default inside the refresh margin, so its first use refreshes); its id."""
    with store.session() as session:
        connection = connections.create_connection(
            session,
            owner=Owner("alice"),
            type=provider,
            name=f"{provider} (OAuth)",
            description=None,
            config=config or {},
            options={},
        )
        connection.oauth = {
            "provider": provider,
            "scopes": [],
            **vault.seal(
                {"accessToken": access_token, "refreshToken": refresh_token}, TOKEN_FIELDS
            ),
        }
        connection.token_expires_at = utcnow() + expires_in
        return connection.id
