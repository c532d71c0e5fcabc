"""Google Drive push notifications: the channel a source keeps, and what a delivery means.

Pure: no I/O. The flow, for whoever wires `POST /webhooks/gdrive`:

1. Pick a channel id and a random token and store them with the source *before* calling
   `GdriveConnector.watch` (Drive posts a `sync` message as soon as the channel opens),
   then store the `resource_id` and `expiration` it returns.
2. For each delivery, call `decide(headers, channel)` with the stored channel found by the
   `X-Goog-Channel-ID` header (None when unknown). `REJECT`: answer 4xx (unknown channel,
   wrong token or resource); `ACKNOWLEDGE`: answer 200 and do nothing (the `sync` message);
   `QUEUE`: queue an incremental sync job for the source, then answer 200 (Drive retries
   deliveries that do not get a 2xx, and a duplicate only queues a run that finds nothing).
3. Open a new channel before `expiration` (Drive never renews one), and
   `GdriveConnector.stop_watch` the old one and the channel of a deleted source.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

CHANNEL_ID_HEADER = "X-Goog-Channel-ID"
CHANNEL_TOKEN_HEADER = "X-Goog-Channel-Token"
RESOURCE_ID_HEADER = "X-Goog-Resource-ID"
RESOURCE_STATE_HEADER = "X-Goog-Resource-State"

SYNC_STATE = "sync"
# `change` is what changes.watch channels send; the others come from files.watch channels.
CHANGE_STATES = frozenset({"change", "add", "remove", "update", "trash", "untrash"})


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchChannel:
    """A notification channel as the source stores it.

    Attributes:
        channel_id: The id chosen when opening it (`X-Goog-Channel-ID`).
        token: The secret sent back in `X-Goog-Channel-Token` (store it sealed).
        resource_id: Drive's id of the watched resource; None until `watch` returned.
        expiration: When Drive stops sending; None until `watch` returned.
    """

    channel_id: str
    token: str
    resource_id: str | None = None
    expiration: datetime | None = None


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
    return Verdict(Decision.REJECT, f"unknown resource state {state[:40]!r}")
