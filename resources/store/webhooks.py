"""Webhook deliveries, the sources they reached and rejected deliveries: keyword-only functions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from resources.store.models import (
    DeliveryStatus,
    Source,
    WebhookDelivery,
    WebhookDeliverySource,
    WebhookRejection,
    new_id,
    utcnow,
)
from resources.store.upserts import upsert_insert

MAX_REASON_CHARS = 255  # the `reason` columns' length


def record_delivery(
    session: Session,
    *,
    provider: str,
    delivery_id: str,
    event: str,
    body_sha256: str,
    changes: dict[str, Any],
    attempt_number: int | None,
    now: datetime,
) -> tuple[str, bool]:
    """Store a delivery, or count one more attempt of a delivery already stored.

    One atomic upsert on the unique (provider, delivery id): concurrent attempts of one
    delivery cannot both insert it (on PostgreSQL the second waits for the first to commit).

    Returns:
        The row id, and whether this call inserted it (False: a redelivery).
    """
    insert = upsert_insert(session, WebhookDelivery)
    statement = (
        insert.values(
            id=new_id(),
            provider=provider,
            delivery_id=delivery_id,
            event=event,
            body_sha256=body_sha256,
            changes=changes,
            attempts=1,
            last_attempt_number=attempt_number,
            received_at=now,
            last_received_at=now,
        )
        .on_conflict_do_update(
            index_elements=[WebhookDelivery.provider, WebhookDelivery.delivery_id],
            set_={
                "attempts": WebhookDelivery.attempts + 1,
                "last_attempt_number": func.coalesce(
                    insert.excluded.last_attempt_number, WebhookDelivery.last_attempt_number
                ),
                "last_received_at": now,
            },
        )
        .returning(WebhookDelivery.id, WebhookDelivery.attempts)
    )
    row_id, attempts = session.execute(statement).one()
    return str(row_id), attempts == 1


def add_target(
    session: Session,
    *,
    delivery_row_id: str,
    source_id: str,
    job_id: str | None,
    reason: str | None,
) -> None:
    """Record what a delivery did for one source: the job it queued, or why it queued none."""
    session.add(
        WebhookDeliverySource(
            webhook_delivery_id=delivery_row_id,
            source_id=source_id,
            job_id=job_id,
            status=DeliveryStatus.QUEUED if job_id is not None else DeliveryStatus.IGNORED,
            reason=reason[:MAX_REASON_CHARS] if reason is not None else None,
        )
    )
    session.flush()


def delivery_jobs(session: Session, *, delivery_row_id: str) -> list[str]:
    """The jobs a stored delivery queued or joined, oldest source first."""
    rows = session.scalars(
        select(WebhookDeliverySource.job_id)
        .join(Source, Source.id == WebhookDeliverySource.source_id)
        .where(
            WebhookDeliverySource.webhook_delivery_id == delivery_row_id,
            WebhookDeliverySource.job_id.is_not(None),
        )
        .order_by(Source.created_at, Source.id)
    )
    return [job_id for job_id in rows if job_id is not None]


def get_delivery(session: Session, *, provider: str, delivery_id: str) -> WebhookDelivery | None:
    """The stored delivery with this provider and id, or None."""
    return session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.provider == provider, WebhookDelivery.delivery_id == delivery_id
        )
    ).first()


def count_deliveries(session: Session, *, provider: str | None = None) -> int:
    """How many deliveries are stored (of one provider, if given)."""
    query = select(func.count()).select_from(WebhookDelivery)
    if provider is not None:
        query = query.where(WebhookDelivery.provider == provider)
    return session.scalar(query) or 0


def add_rejection(
    session: Session,
    *,
    provider: str,
    reason: str,
    delivery_id: str | None,
    event: str | None,
    remote_addr: str | None,
) -> None:
    """Audit a delivery refused as unauthenticated (never its body)."""
    session.add(
        WebhookRejection(
            provider=provider,
            reason=reason[:MAX_REASON_CHARS],
            delivery_id=delivery_id,
            event=event,
            remote_addr=remote_addr,
            received_at=utcnow(),
        )
    )
    session.flush()


def recent_rejections(session: Session, *, limit: int = 100) -> Sequence[WebhookRejection]:
    """The latest rejected deliveries, newest first."""
    return session.scalars(
        select(WebhookRejection)
        .order_by(WebhookRejection.received_at.desc(), WebhookRejection.id.desc())
        .limit(limit)
    ).all()
