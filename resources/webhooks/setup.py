"""Webhook secrets of code-host sources: made when a source is created, stored sealed."""

from __future__ import annotations

import secrets

from resources.store.models import Source
from resources.vault import Vault
from resources.webhooks.providers import PROVIDERS

SECRET_BYTES = 32


def issue_secret(vault: Vault, source: Source) -> str | None:
    """Give a code-host source a new random webhook secret, stored sealed.

    Returns:
        The secret in clear, to show once; None for sources no code host delivers to.
    """
    if source.type not in PROVIDERS:
        return None
    secret = secrets.token_hex(SECRET_BYTES)
    source.webhook_secret = vault.seal_value(secret)
    return secret


def webhook_url(base_url: str, source_type: str) -> str:
    """Where the code host of `source_type` delivers, under the API's public `base_url`."""
    return f"{base_url.rstrip('/')}/webhooks/{source_type}"
