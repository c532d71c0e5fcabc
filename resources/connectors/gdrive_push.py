"""Google Drive push notifications: what one delivery to `POST /webhooks/gdrive` means.

Pure: no I/O. Drive posts no body, only `X-Goog-*` headers: the channel id Headwater chose,
the token it gave, the watched resource, its state and a message number. A delivery whose
channel is unknown, or whose token or resource does not match the stored channel, is
rejected; the `sync` message (sent once, when a channel opens) and states that say nothing
changed are acknowledged; a change queues an incremental sync (see `resources/webhooks/drive`).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from resources.connectors.base import WatchChannel

CHANNEL_ID_HEADER = "X-Goog-Channel-ID"
CHANNEL_TOKEN_HEADER = "X-Goog-Channel-Token"
RESOURCE_ID_HEADER = "X-Goog-Resource-ID"
RESOURCE_STATE_HEADER = "X-Goog-Resource-State"
MESSAGE_NUMBER_HEADER = "X-Goog-Message-Number"

SYNC_STATE = "sync"
# `change` is what changes.watch channels send; the others come from files.watch channels.
CHANGE_STATES = frozenset({"change", "add", "remove", "update", "trash", "untrash"})


class Decision(StrEnum):
    """What to do with one delivery."""

    REJECT = "reject"
    ACKNOWLEDGE = "acknowledge"
    QUEUE = "queue"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision and, for people and logs, why (never the token)."""

    decision: Decision
    reason: str


def decide(headers: Mapping[str, str], channel: WatchChannel | None) -> Verdict:
    """What a push delivery with these headers means for the source holding `channel`.

    Args:
        headers: The request headers (any case; a case-insensitive mapping or plain dict).
        channel: The stored channel whose id is the delivery's `X-Goog-Channel-ID`, or
            None when no source holds that channel.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    channel_id = lowered.get(CHANNEL_ID_HEADER.lower())
    if channel is None or channel_id != channel.channel_id:
        return Verdict(Decision.REJECT, "unknown channel")
    token = lowered.get(CHANNEL_TOKEN_HEADER.lower(), "")
    if not hmac.compare_digest(token.encode(), channel.token.encode()):
        return Verdict(Decision.REJECT, "channel token does not match")
    resource_id = lowered.get(RESOURCE_ID_HEADER.lower())
    if channel.resource_id is not None and resource_id != channel.resource_id:
        return Verdict(Decision.REJECT, "resource id does not match the channel")
    state = lowered.get(RESOURCE_STATE_HEADER.lower(), "")
    if state == SYNC_STATE:
        return Verdict(Decision.ACKNOWLEDGE, "channel opened (sync message)")
    if state in CHANGE_STATES:
        return Verdict(Decision.QUEUE, f"drive changed ({state})")
    # Authentic, so not refused; but only the states above say that something changed.
    return Verdict(Decision.ACKNOWLEDGE, f"resource state {state[:40]!r} queues no sync")
