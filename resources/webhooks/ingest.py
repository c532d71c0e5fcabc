"""Persist first, answer second: authenticate a delivery, then store it with the jobs it queues.

Nothing here syncs: a push to a source's branch queues (or joins) an incremental job, and the
sync-request sensor turns that job into a run. The caller runs `authenticate` and `record`
in transactions of their own, and answers only after `record`'s has committed. Code-host
deliveries are read here; other providers (Google Drive's push notifications) authenticate
their own way and store through the same `record_accepted` and `audit`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from resources.store import jobs, sources, webhooks
from resources.store.models import Source, SyncType
from resources.vault import Vault, VaultError
from resources.webhooks.providers import (
    Provider,
    Push,
    Repository,
    parse_body,
    repository_key,
    storable,
)

logger = logging.getLogger(__name__)

TRIGGER = "webhook"
MAX_DELIVERY_ID_CHARS = 128
MAX_EVENT_CHARS = 64
MAX_ATTEMPT = 2**31 - 1  # the column is a 32-bit integer


class DeliveryRejected(Exception):
    """No source's secret verifies the delivery (or it could not be read): answer 401.

    Attributes:
        reason: What was wrong, for the audit row and logs (not for the sender).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """A delivery as received: read, not yet verified.

    Attributes:
        provider: The code host it claims to come from.
        delivery_id: The host's delivery id (the body's SHA-256 if it sent none).
        event: The event named by the host's header (`push`, `ping`, ...).
        attempt: The host's attempt counter, if it sends one.
        body: The raw body, as signed.
        body_sha256: Hex SHA-256 of the body.
        signature: The signature (or token) header, if present.
        payload: The body's JSON object, or None if it is not one.
        remote_addr: The address it came from.
    """

    provider: Provider
    delivery_id: str
    event: str
    attempt: int | None
    body: bytes
    body_sha256: str
    signature: str | None
    payload: Mapping[str, Any] | None
    remote_addr: str | None

    @classmethod
    def read(
        cls,
        provider: Provider,
        *,
        headers: Mapping[str, str],
        body: bytes,
        remote_addr: str | None,
    ) -> Delivery:
        """Read a delivery from its (case-insensitive) headers and raw body."""
        digest = hashlib.sha256(body).hexdigest()
        delivery_id = next(
            (
                value[:MAX_DELIVERY_ID_CHARS]
                for name in provider.delivery_headers
                if (value := storable(headers.get(name)))
            ),
            f"sha256:{digest}",
        )
        return cls(
            provider=provider,
            delivery_id=delivery_id,
            event=(storable(headers.get(provider.event_header)) or "")[:MAX_EVENT_CHARS],
            attempt=_attempt(headers.get(provider.attempt_header or "")),
            body=body,
            body_sha256=digest,
            signature=headers.get(provider.signature_header),
            payload=parse_body(body, headers.get("content-type", "")),
            remote_addr=remote_addr,
        )

    @property
    def push(self) -> Push | None:
        """What the push says changed, if this is a push."""
        if self.payload is None or self.event != self.provider.push_event:
            return None
        return self.provider.push(self.payload)


def _attempt(header: str | None) -> int | None:
    """The host's attempt counter, if the header holds a plain number a column can keep."""
    if header is None or not (header.isascii() and header.isdigit()):
        return None
    number = int(header)
    return number if number <= MAX_ATTEMPT else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Verified:
    """A delivery whose signature a source's secret verified.

    Attributes:
        delivery: The delivery.
        repository: The repository it is about.
        source_ids: The sources whose secret verifies it, oldest first.
        owner_id: The owner of the first: whose webhook rate limit it counts against.
    """

    delivery: Delivery
    repository: Repository
    source_ids: tuple[str, ...]
    owner_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    """An authenticated delivery of any provider, as the store keeps it.

    Attributes:
        provider: The provider in the URL (`/webhooks/{provider}`).
        delivery_id: The provider's id of the delivery, the same on redeliveries.
        event: What the provider says happened (`push`, a Drive resource state, ...).
        body_sha256: Hex SHA-256 of the body.
        attempt: The provider's attempt counter, if it sends one.
        changes: What the delivery says changed, as stored.
        source_ids: The sources it authenticated for.
    """

    provider: str
    delivery_id: str
    event: str
    body_sha256: str
    attempt: int | None
    changes: dict[str, Any]
    source_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """What storing a delivery did.

    Attributes:
        job_ids: The jobs it queued or joined (a redelivery: those of the first attempt).
        redelivery: The delivery id had been stored before.
    """

    job_ids: list[str]
    redelivery: bool


def authenticate(session: Session, vault: Vault, delivery: Delivery) -> Verified:
    """Find the sources of the delivery's repository whose secret verifies its signature.

    Raises:
        DeliveryRejected: Missing signature, unreadable payload, or no source verifies it.
        VaultError: No source verifies it and some secret could not be decrypted (our
            keys are wrong: not the sender's fault).
    """
    provider = delivery.provider
    if delivery.signature is None:
        raise DeliveryRejected(f"missing {provider.signature_header}")
    repository = provider.repository(delivery.payload) if delivery.payload is not None else None
    if repository is None:
        raise DeliveryRejected("payload is not a JSON object naming a repository")
    candidates = sources.sources_for_repository(
        session, repository_key(provider.name, repository.full_name)
    )
    verified: list[Source] = []
    unopened: list[str] = []
    for source in candidates:
        if source.webhook_secret is None:
            continue
        try:
            secret = vault.open_value(source.webhook_secret, name="a webhook secret")
        except VaultError:
            unopened.append(source.id)
            continue
        if provider.verify(delivery.signature, delivery.body, secret):
            verified.append(source)
    if verified:
        return Verified(
            delivery=delivery,
            repository=repository,
            source_ids=tuple(source.id for source in verified),
            owner_id=verified[0].owner_id,
        )
    if unopened:
        raise VaultError(f"webhook secrets of sources {unopened} cannot be decrypted")
    if not candidates:
        raise DeliveryRejected(f"no source for {provider.name} repository {repository.full_name}")
    raise DeliveryRejected(f"signature verifies for no source of {repository.full_name}")


def reject(session: Session, delivery: Delivery, reason: str) -> None:
    """Audit a rejected code-host delivery (see `audit`)."""
    audit(
        session,
        provider=delivery.provider.name,
        reason=reason,
        delivery_id=delivery.delivery_id,
        event=delivery.event or None,
        remote_addr=delivery.remote_addr,
    )


def audit(
    session: Session,
    *,
    provider: str,
    reason: str,
    delivery_id: str | None,
    event: str | None,
    remote_addr: str | None,
) -> None:
    """Audit a rejected delivery: who sent what claim, and why it failed; never the body."""
    logger.warning(
        "webhook rejected: %s",
        reason,
        extra={"provider": provider, "deliveryId": delivery_id, "remoteAddr": remote_addr},
    )
    webhooks.add_rejection(
        session,
        provider=provider,
        reason=reason,
        delivery_id=delivery_id,
        event=event,
        remote_addr=remote_addr,
    )


def record(session: Session, verified: Verified, *, now: datetime) -> Receipt:
    """Store a code-host delivery and queue (or join) an incremental job per source it
    concerns (see `record_accepted`)."""
    delivery = verified.delivery
    push = delivery.push
    accepted = Accepted(
        provider=delivery.provider.name,
        delivery_id=delivery.delivery_id,
        event=delivery.event,
        body_sha256=delivery.body_sha256,
        attempt=delivery.attempt,
        changes=_changes(push),
        source_ids=verified.source_ids,
    )
    return record_accepted(
        session,
        accepted,
        no_sync_reason=lambda source: _no_sync_reason(delivery, push, source, verified.repository),
        now=now,
    )


def record_accepted(
    session: Session,
    accepted: Accepted,
    *,
    no_sync_reason: Callable[[Source], str | None],
    now: datetime,
) -> Receipt:
    """Store an authenticated delivery and queue (or join) an incremental job per source.

    A delivery id stored before changes nothing but its attempt count, and answers with
    the jobs of its first attempt.

    Args:
        session: The transaction to store in.
        accepted: The delivery.
        no_sync_reason: Why the delivery queues no sync of a source, or None when it does.
        now: When it was received.
    """
    row_id, new = webhooks.record_delivery(
        session,
        provider=accepted.provider,
        delivery_id=accepted.delivery_id,
        event=accepted.event,
        body_sha256=accepted.body_sha256,
        changes=accepted.changes,
        attempt_number=accepted.attempt,
        now=now,
    )
    if not new:
        return Receipt(
            job_ids=webhooks.delivery_jobs(session, delivery_row_id=row_id), redelivery=True
        )
    job_ids: list[str] = []
    for source_id in accepted.source_ids:
        source = sources.get_source(session, source_id)
        if source is None:  # deleted since it was verified
            continue
        reason = no_sync_reason(source)
        job_id = None
        if reason is None:
            job_id = jobs.enqueue_sync(
                session, source=source, type=SyncType.INCREMENTAL, trigger=TRIGGER
            ).id
            job_ids.append(job_id)
        webhooks.add_target(
            session, delivery_row_id=row_id, source_id=source.id, job_id=job_id, reason=reason
        )
    logger.info(
        "webhook %s %s stored",
        accepted.provider,
        accepted.event,
        extra={"deliveryId": accepted.delivery_id, "jobIds": job_ids},
    )
    return Receipt(job_ids=job_ids, redelivery=False)


def _changes(push: Push | None) -> dict[str, Any]:
    if push is None:
        return {}
    return {
        "branches": [{"branch": b.branch, "head": b.head} for b in push.branches],
        **push.paths,
        "truncated": push.truncated,
    }


def _no_sync_reason(
    delivery: Delivery, push: Push | None, source: Source, repository: Repository
) -> str | None:
    """Why the delivery queues no sync of `source`, or None when it should."""
    if push is None:
        return f"event {delivery.event!r} queues no sync"
    wanted = source.config.get("branch") or repository.default_branch
    moved = [b for b in push.branches if wanted is None or b.branch == wanted]
    if not moved:
        pushed = ", ".join(b.branch for b in push.branches) or "no branch"
        return f"push to {pushed}; the source follows {wanted}"
    if all(b.head is None for b in moved):
        return f"branch {wanted} deleted"
    return None
