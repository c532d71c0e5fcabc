"""Push-notification channels of sources: keyword-only functions over a session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from resources.store.models import PushChannel


def add_channel(
    session: Session, *, channel_id: str, source_id: str, token: dict[str, Any], address: str
) -> PushChannel:
    """Store a channel about to be opened (its token already sealed), flushed."""
    channel = PushChannel(id=channel_id, source_id=source_id, token=token, address=address)
    session.add(channel)
    session.flush()
    return channel


def get_channel(session: Session, channel_id: str) -> PushChannel | None:
    """The channel with this id, or None."""
    return session.get(PushChannel, channel_id)


def mark_open(
    session: Session, channel_id: str, *, resource_id: str, expires_at: datetime | None
) -> None:
    """Record what the provider said when it opened the channel."""
    channel = session.get(PushChannel, channel_id)
    if channel is not None:
        channel.resource_id = resource_id
        channel.expires_at = expires_at


def channels_of_source(session: Session, source_id: str) -> Sequence[PushChannel]:
    """The source's channels, oldest first."""
    return session.scalars(
        select(PushChannel)
        .where(PushChannel.source_id == source_id)
        .order_by(PushChannel.created_at, PushChannel.id)
    ).all()


def expiring_channels(session: Session, *, before: datetime) -> Sequence[PushChannel]:
    """Open channels that expire before `before`, soonest first."""
    return session.scalars(
        select(PushChannel)
        .where(PushChannel.resource_id.is_not(None), PushChannel.expires_at < before)
        .order_by(PushChannel.expires_at, PushChannel.id)
    ).all()


def delete_channel(session: Session, channel_id: str) -> None:
    """Forget a channel (stopped, or never opened)."""
    session.execute(delete(PushChannel).where(PushChannel.id == channel_id))
