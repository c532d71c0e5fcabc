"""Fixed-window rate-limit counters in the metadata store: keyword-only functions over a session.

Every API process shares them through the database, so a limit holds however many workers
serve the API. Each increment is one atomic upsert: no read-modify-write race between them.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, case, delete, select
from sqlalchemy.orm import Session

from resources.store.models import RateLimitCounter
from resources.store.upserts import upsert_insert


def increment(session: Session, *, key: str, expiry_s: int, amount: int, now: float) -> int:
    """Add `amount` to the key's window (a new one if it expired) and return the new count."""
    insert = upsert_insert(session, RateLimitCounter)
    expired = RateLimitCounter.expires_at <= now
    statement = (
        insert.values(key=key, count=amount, expires_at=now + expiry_s)
        .on_conflict_do_update(
            index_elements=[RateLimitCounter.key],
            set_={
                "count": case((expired, amount), else_=RateLimitCounter.count + amount),
                "expires_at": case((expired, now + expiry_s), else_=RateLimitCounter.expires_at),
            },
        )
        .returning(RateLimitCounter.count)
    )
    return int(session.execute(statement).scalar_one())


def count(session: Session, *, key: str, now: float) -> int:
    """Hits in the key's current window (0 once it expired)."""
    value = session.scalar(
        select(RateLimitCounter.count).where(
            RateLimitCounter.key == key, RateLimitCounter.expires_at > now
        )
    )
    return value or 0


def expires_at(session: Session, *, key: str, now: float) -> float:
    """When the key's current window ends (epoch seconds); `now` if there is none."""
    value = session.scalar(
        select(RateLimitCounter.expires_at).where(
            RateLimitCounter.key == key, RateLimitCounter.expires_at > now
        )
    )
    return value if value is not None else now


def clear(session: Session, *, key: str) -> None:
    """Forget the key's window."""
    session.execute(delete(RateLimitCounter).where(RateLimitCounter.key == key))


def clear_all(session: Session) -> int:
    """Forget every window; returns how many there were."""
    result = cast(CursorResult[Any], session.execute(delete(RateLimitCounter)))
    return result.rowcount or 0
