"""Google Drive push notifications: find the channel, verify its token, store what it asks for.

Drive posts no body: the channel id Headwater chose, the token it gave, the watched resource,
its state and a message number come as `X-Goog-*` headers (`gdrive_push.decide` judges them).
A verified notification is stored through the code hosts' path (`ingest.record_accepted`),
deduplicated by channel and message number: a `change` queues (or joins) an incremental job
of the channel's source, the `sync` message that opens a channel queues nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from resources.connectors.base import WatchChannel
from resources.connectors.gdrive_push import (
    CHANNEL_ID_HEADER,
    MESSAGE_NUMBER_HEADER,
    RESOURCE_STATE_HEADER,
    Decision,
    Verdict,
    decide,
)
from resources.store import channels, sources
from resources.store.models import new_id
from resources.vault import Vault
from resources.webhooks.ingest import (
    MAX_DELIVERY_ID_CHARS,
    MAX_EVENT_CHARS,
    Accepted,
    DeliveryRejected,
    audit,
)

PROVIDER = "gdrive"
MAX_CHANNEL_ID_CHARS = 64  # Drive's limit, and the column's
MAX_MESSAGE_DIGITS = 18  # a number that fits a 64-bit integer, whatever its digits


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """A push notification as received: read, not yet verified.

    Attributes:
        headers: The request headers, names lowercased.
        channel_id: `X-Goog-Channel-ID`, if present.
        state: `X-Goog-Resource-State` (`sync`, `change`, ...), cut to the column's size.
        message_number: `X-Goog-Message-Number`, when it is a plain number.
        body_sha256: Hex SHA-256 of the body (Drive sends none).
        remote_addr: The address it came from.
    """

    headers: Mapping[str, str]
    channel_id: str | None
    state: str
    message_number: int | None
    body_sha256: str
    remote_addr: str | None

    @classmethod
    def read(
        cls, headers: Mapping[str, str], *, body: bytes, remote_addr: str | None
    ) -> Notification:
        """Read a notification from its (any case) headers."""
        lowered = {name.lower(): value for name, value in headers.items()}
        number = lowered.get(MESSAGE_NUMBER_HEADER.lower(), "")
        plain = number.isascii() and number.isdigit() and len(number) <= MAX_MESSAGE_DIGITS
        return cls(
            headers=lowered,
            channel_id=lowered.get(CHANNEL_ID_HEADER.lower()),
            state=lowered.get(RESOURCE_STATE_HEADER.lower(), "")[:MAX_EVENT_CHARS],
            message_number=int(number) if plain else None,
            body_sha256=hashlib.sha256(body).hexdigest(),
            remote_addr=remote_addr,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedNotification:
    """A notification whose channel token matched.

    Attributes:
        accepted: What to store, for the channel's source.
        verdict: Whether it queues a sync, and why.
        owner_id: The source's owner: whose webhook rate limit it counts against.
    """

    accepted: Accepted
    verdict: Verdict
    owner_id: str


def authenticate(
    session: Session, vault: Vault, notification: Notification
) -> VerifiedNotification:
    """Find the notification's channel and verify its token and resource (constant time).

    Raises:
        DeliveryRejected: Unknown channel, or the token or resource does not match.
        VaultError: The channel's token cannot be decrypted (our keys: not the sender's fault).
    """
    channel_id = notification.channel_id
    row = (
        channels.get_channel(session, channel_id)
        if channel_id and len(channel_id) <= MAX_CHANNEL_ID_CHARS
        else None
    )
    stored = (
        WatchChannel(
            channel_id=row.id,
            token=vault.open_value(row.token, name="a push channel token"),
            resource_id=row.resource_id,
            expiration=row.expires_at,
        )
        if row is not None
        else None
    )
    verdict = decide(notification.headers, stored)
    if row is None or verdict.decision is Decision.REJECT:
        raise DeliveryRejected(verdict.reason)
    source = sources.get_source(session, row.source_id)
    if source is None:
        raise DeliveryRejected("the channel's source was deleted")
    # Drive numbers each channel's messages and sends the same number again on a retry.
    number = notification.message_number
    delivery_id = f"{row.id}:{number if number is not None else 'unnumbered-' + new_id()}"
    return VerifiedNotification(
        accepted=Accepted(
            provider=PROVIDER,
            delivery_id=delivery_id[:MAX_DELIVERY_ID_CHARS],
            event=notification.state,
            body_sha256=notification.body_sha256,
            attempt=None,
            changes={},
            source_ids=(source.id,),
        ),
        verdict=verdict,
        owner_id=source.owner_id,
    )


def reject(session: Session, notification: Notification, reason: str) -> None:
    """Audit a rejected notification (never its token)."""
    channel_id = notification.channel_id
    number = notification.message_number
    audit(
        session,
        provider=PROVIDER,
        reason=reason,
        delivery_id=f"{channel_id}:{number}"[:MAX_DELIVERY_ID_CHARS] if channel_id else None,
        event=notification.state or None,
        remote_addr=notification.remote_addr,
    )


def no_sync_reason(verified: VerifiedNotification) -> str | None:
    """Why the notification queues no sync (the `sync` message, a state that says nothing
    changed), or None when it does."""
    return None if verified.verdict.decision is Decision.QUEUE else verified.verdict.reason
