"""Push channels of sources whose provider pushes their changes (Drive's `changes.watch`).

A channel is opened when such a source is created, replaced before it expires (providers
never renew one: a new channel is opened, then the old one stopped) and stopped when the
source is deleted. Each channel gets a fresh UUID and a random token, stored (the token
sealed) before the provider is asked, because its first message may arrive before the
answer. Best effort, as code-host hook registration: a source syncs without its channel, so
a refusal is logged and the source keeps working on requested and scheduled syncs.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy.orm import Session, sessionmaker

from resources.connectors import ConnectorError, connector_class, open_connector
from resources.connectors.base import ChangeWatcher, WatchChannel
from resources.source_credentials import ConnectorConfig, connector_config
from resources.store import channels
from resources.store.engine import transaction
from resources.store.models import utcnow
from resources.vault import Vault, VaultError

logger = logging.getLogger(__name__)

TOKEN_BYTES = 32
# What opening or stopping a channel may fail with, besides the provider refusing: a URL no
# request can use, and our keys failing to open the credentials.
FAILURES = (ConnectorError, VaultError, httpx.InvalidURL, UnicodeError)


@dataclass(frozen=True, slots=True, kw_only=True)
class Renewal:
    """What renewing one expiring channel did.

    Attributes:
        source_id: The source.
        old_channel_id: The expiring channel.
        new_channel_id: Its replacement; None when none could be opened (see `error`).
        error: Why not, else None.
    """

    source_id: str
    old_channel_id: str
    new_channel_id: str | None
    error: str | None = None


def watches_changes(source_type: str) -> bool:
    """Whether sources of this type get a push channel."""
    return issubclass(connector_class(source_type), ChangeWatcher)


def open_channel(
    sessions: sessionmaker[Session],
    vault: Vault,
    source_id: str,
    *,
    address: str,
    ttl: timedelta,
) -> WatchChannel | None:
    """Open a push channel delivering the source's changes to `address`, for about `ttl`.

    Returns:
        The open channel, or None when the type pushes nothing or the provider refused
        (the reason is logged).
    """
    try:
        found = connector_config(sessions, vault, source_id)
        if found is None or not watches_changes(found.type):
            return None
        return _open(sessions, vault, found, source_id=source_id, address=address, ttl=ttl)
    except FAILURES as error:
        logger.warning("push channel of source %s not opened: %s", source_id, _why(error))
        return None


def stop_channels(sessions: sessionmaker[Session], vault: Vault, source_id: str) -> int:
    """Stop every channel of a source at the provider and forget them; how many stopped.

    A channel the provider could not be asked to stop is forgotten too: it expires by itself.
    """
    with transaction(sessions) as session:
        held = [
            (channel.id, channel.resource_id)
            for channel in channels.channels_of_source(session, source_id)
        ]
    if not held:
        return 0
    try:
        found = connector_config(sessions, vault, source_id)
    except FAILURES as error:
        logger.warning("push channels of source %s not stopped: %s", source_id, _why(error))
        found = None
    stopped = _stop(found, held, source_id=source_id) if found is not None else 0
    with transaction(sessions) as session:
        for channel_id, _ in held:
            channels.delete_channel(session, channel_id)
    return stopped


def renew_channels(
    sessions: sessionmaker[Session], vault: Vault, *, within: timedelta, ttl: timedelta
) -> list[Renewal]:
    """Replace every channel expiring within `within`: open a new one, then stop the old.

    When no new channel can be opened the old one is kept (it may still deliver until it
    expires) and the next run tries again.
    """
    with transaction(sessions) as session:
        expiring = [
            (channel.id, channel.source_id, channel.resource_id, channel.address)
            for channel in channels.expiring_channels(session, before=utcnow() + within)
        ]
    renewals = []
    for old_id, source_id, resource_id, address in expiring:
        try:
            found = connector_config(sessions, vault, source_id)
            if found is None:  # deleted meanwhile: its channels went with it
                continue
            new = _open(sessions, vault, found, source_id=source_id, address=address, ttl=ttl)
        except FAILURES as error:
            logger.warning(
                "push channel %s of source %s not renewed: %s", old_id, source_id, _why(error)
            )
            renewals.append(
                Renewal(
                    source_id=source_id,
                    old_channel_id=old_id,
                    new_channel_id=None,
                    error=_why(error),
                )
            )
            continue
        _stop(found, [(old_id, resource_id)], source_id=source_id)
        with transaction(sessions) as session:
            channels.delete_channel(session, old_id)
        logger.info("push channel %s of source %s renewed as %s", old_id, source_id, new.channel_id)
        renewals.append(
            Renewal(source_id=source_id, old_channel_id=old_id, new_channel_id=new.channel_id)
        )
    return renewals


def _open(
    sessions: sessionmaker[Session],
    vault: Vault,
    found: ConnectorConfig,
    *,
    source_id: str,
    address: str,
    ttl: timedelta,
) -> WatchChannel:
    """Store a new channel, ask the provider to open it, then store what it said.

    Raises:
        ConnectorError: The provider refused (the stored channel is forgotten again).
    """
    channel_id, token = str(uuid.uuid4()), secrets.token_urlsafe(TOKEN_BYTES)
    with transaction(sessions) as session:
        channels.add_channel(
            session,
            channel_id=channel_id,
            source_id=source_id,
            token=vault.seal_value(token),
            address=address,
        )
    try:
        with _watcher(found) as watcher:
            opened = watcher.watch(address=address, channel_id=channel_id, token=token, ttl=ttl)
    except BaseException:
        with transaction(sessions) as session:
            channels.delete_channel(session, channel_id)
        raise
    with transaction(sessions) as session:
        channels.mark_open(
            session,
            channel_id,
            resource_id=str(opened.resource_id),
            expires_at=opened.expiration,
        )
    logger.info(
        "push channel %s of source %s open until %s", channel_id, source_id, opened.expiration
    )
    return opened


def _stop(found: ConnectorConfig, held: list[tuple[str, str | None]], *, source_id: str) -> int:
    """Ask the provider to stop these open channels; how many it did (failures logged)."""
    stopped = 0
    try:
        with _watcher(found) as watcher:
            for channel_id, resource_id in held:
                if resource_id is not None:
                    watcher.stop_watch(channel_id=channel_id, resource_id=resource_id)
                    stopped += 1
    except FAILURES as error:
        logger.warning("push channels of source %s not stopped: %s", source_id, _why(error))
    return stopped


@contextmanager
def _watcher(found: ConnectorConfig) -> Iterator[ChangeWatcher]:
    """The source's connector (in a throwaway workdir: channels need no cache)."""
    with (
        tempfile.TemporaryDirectory(prefix="headwater-channel-") as workdir,
        open_connector(found.type, found.config, workdir=Path(workdir)) as connector,
    ):
        if not isinstance(connector, ChangeWatcher):
            raise ConnectorError(f"{found.type} sources have no push channels")
        yield connector


def _why(error: BaseException) -> str:
    """A failure in words, never a secret (an invalid URL's text may hold one)."""
    if isinstance(error, ConnectorError):
        return error.message
    if isinstance(error, VaultError):
        return str(error)
    return type(error).__name__
