"""How a source hears of its changes: set up once it is stored, given up before it is deleted.

A code-host source gets a webhook secret and, where its token may, a push webhook registered
at the host; a source whose provider pushes changes (Google Drive) gets a push channel. The
API and the CLI both go through here, after the source's row is committed (a provider may
deliver before it answers). Best effort throughout: a source syncs without either.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from resources.connectors import ConnectorError
from resources.source_credentials import ConnectorConfig, connector_config
from resources.store import sources
from resources.store.engine import transaction
from resources.vault import Vault, VaultError
from resources.webhooks.channels import open_channel, stop_channels, watches_changes
from resources.webhooks.registration import register_hook, remove_hook
from resources.webhooks.setup import issue_secret, webhook_url

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    """Where a source's changes are delivered.

    Attributes:
        url: Where the provider delivers (`{public URL}/webhooks/{type}`).
        secret: A code-host webhook secret to set the hook up by hand, shown once; None
            when Headwater set it up, or the provider needs none.
        registered: Whether Headwater set it up at the provider (a hook or a channel).
    """

    url: str
    secret: str | None
    registered: bool


def subscribe(
    sessions: sessionmaker[Session],
    vault: Vault,
    source_id: str,
    *,
    public_url: str,
    channel_ttl: timedelta,
) -> Subscription | None:
    """Set up how a stored source hears of its changes; None for types no provider pushes.

    Args:
        sessions: The metadata store's sessions.
        vault: The vault.
        source_id: The source, committed.
        public_url: Where providers reach the API.
        channel_ttl: How long a push channel should live (providers may shorten it).
    """
    with transaction(sessions) as session:
        source = sources.get_source(session, source_id)
        if source is None:
            return None
        source_type = source.type
        secret = issue_secret(vault, source)
    url = webhook_url(public_url, source_type)
    if secret is not None:
        found = _connector_config(sessions, vault, source_id)
        hook_id = register_hook(found.type, found.config, url=url, secret=secret) if found else None
        if hook_id is not None:
            with transaction(sessions) as session:
                stored = sources.get_source(session, source_id)
                if stored is not None:
                    stored.webhook_hook_id = hook_id
        return Subscription(
            url=url, secret=None if hook_id else secret, registered=hook_id is not None
        )
    if not watches_changes(source_type):
        return None
    channel = open_channel(sessions, vault, source_id, address=url, ttl=channel_ttl)
    return Subscription(url=url, secret=None, registered=channel is not None)


def unsubscribe(sessions: sessionmaker[Session], vault: Vault, source_id: str) -> None:
    """Before a source is deleted: remove the hook it registered and stop its channels."""
    with transaction(sessions) as session:
        source = sources.get_source(session, source_id)
        hook_id = source.webhook_hook_id if source is not None else None
    if hook_id is not None:
        found = _connector_config(sessions, vault, source_id)
        if found is not None:
            remove_hook(found.type, found.config, hook_id=hook_id)
    stop_channels(sessions, vault, source_id)


def _connector_config(
    sessions: sessionmaker[Session], vault: Vault, source_id: str
) -> ConnectorConfig | None:
    """The source's connector config, or None (logged) when its credentials fail."""
    try:
        return connector_config(sessions, vault, source_id)
    except (ConnectorError, VaultError) as error:
        logger.warning("webhook of source %s left alone: %s", source_id, error)
        return None
