"""Per-user rate limits of seed 000, counted in Redis or in the metadata store.

Counters live outside the process, so the limits hold across API workers. The `limits`
library parses the limits, names the counters and keeps them in Redis; the metadata store
gets a small fixed-window storage of its own because `limits` offers none for SQL databases.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from resources.settings import Settings
from resources.store import rate_limits
from resources.store.engine import ping, transaction, write_transaction
from resources.webhooks.providers import PROVIDERS

DEFAULT_RULE = "default"
WEBHOOK_RULE = "webhook"
# (method, route path) -> counter name; every other route counts against DEFAULT_RULE.
ROUTE_RULES: Mapping[tuple[str, str], str] = {
    ("POST", "/sources"): "create-source",
    ("POST", "/sources/{source_id}/sync"): "sync",
    **{("POST", f"/webhooks/{provider}"): WEBHOOK_RULE for provider in PROVIDERS},
}


def rules_from(settings: Settings) -> dict[str, RateLimitItem]:
    """Each counter's limit (seed 000's table by default).

    Raises:
        ValueError: A configured limit is not in `limits` notation (`10/hour`).
    """
    configured = {
        "create-source": settings.rate_limit_create_source,
        "sync": settings.rate_limit_sync,
        WEBHOOK_RULE: settings.rate_limit_webhook,
        DEFAULT_RULE: settings.rate_limit_default,
    }
    return {name: parse(text) for name, text in configured.items()}


@dataclass(frozen=True, slots=True)
class Quota:
    """The state of one counter after a request was counted."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: float

    def headers(self) -> dict[str, str]:
        """`X-RateLimit-*` (seed 004), and `Retry-After` once the limit is hit."""
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.reset_at - time.time())))
        return headers


class RateLimiter:
    """Counts requests per user and rule in a shared storage."""

    def __init__(self, storage: Storage, *, rules: Mapping[str, RateLimitItem]) -> None:
        self.storage = storage
        self.rules = dict(rules)

    def hit(self, *, method: str, route_path: str, user: str) -> Quota:
        """Count one request of `user` against the route's rule (a fixed window).

        What `limits`' FixedWindowRateLimiter does in a hit and a window-stats call (three
        storage calls), from the incremented count and the window's end (one or two).
        """
        rule = ROUTE_RULES.get((method, route_path), DEFAULT_RULE)
        limit = self.rules[rule]
        count, reset_at = _hit_window(self.storage, limit.key_for(rule, user), limit.get_expiry())
        return Quota(
            allowed=count <= limit.amount,
            limit=limit.amount,
            remaining=max(0, limit.amount - count),
            reset_at=reset_at,
        )


class DatabaseStorage(Storage):
    """Fixed-window counters in the metadata store's `rate_limit_counters` table."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        super().__init__()
        self._sessions = sessions

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        with write_transaction(self._sessions) as session:
            return rate_limits.increment(
                session, key=key, expiry_s=expiry, amount=amount, now=time.time()
            )

    def incr_window(self, key: str, expiry: int) -> tuple[int, float]:
        """One hit, as `incr`, and the end of its window, in one transaction."""
        now = time.time()
        with write_transaction(self._sessions) as session:
            count = rate_limits.increment(session, key=key, expiry_s=expiry, amount=1, now=now)
            return count, rate_limits.expires_at(session, key=key, now=now)

    def get(self, key: str) -> int:
        with transaction(self._sessions) as session:
            return rate_limits.count(session, key=key, now=time.time())

    def get_expiry(self, key: str) -> float:
        with transaction(self._sessions) as session:
            return rate_limits.expires_at(session, key=key, now=time.time())

    def check(self) -> bool:
        ping(self._sessions)
        return True

    def reset(self) -> int | None:
        with transaction(self._sessions) as session:
            return rate_limits.clear_all(session)

    def clear(self, key: str) -> None:
        with transaction(self._sessions) as session:
            rate_limits.clear(session, key=key)


def _hit_window(storage: Storage, key: str, expiry: int) -> tuple[int, float]:
    """Count one hit of `key`: the window's count after it, and when the window ends."""
    if isinstance(storage, DatabaseStorage):
        return storage.incr_window(key, expiry)
    return storage.incr(key, expiry), storage.get_expiry(key)


def make_storage(*, redis_url: str | None, sessions: sessionmaker[Session]) -> Storage:
    """Redis when configured, else the metadata store."""
    if redis_url:
        storage = storage_from_string(redis_url)
        if not isinstance(storage, Storage):
            raise ValueError("HEADWATER_REDIS_URL must name a synchronous storage (redis://...)")
        return storage
    return DatabaseStorage(sessions)
