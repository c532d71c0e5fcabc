"""The metadata-store counters behind the rate limits, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from api.ratelimit import DatabaseStorage, RateLimiter, rules_from
from resources.settings import Settings
from resources.store import rate_limits
from resources.store.engine import session_factory, transaction


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_fixed_windows_count_expire_and_clear(database_url: str) -> None:
    sessions = session_factory(database_url)
    now = time.time()
    key = f"test/{now}"
    with transaction(sessions) as session:
        assert [
            rate_limits.increment(session, key=key, expiry_s=60, amount=1, now=now)
            for _ in range(3)
        ] == [1, 2, 3]
        assert rate_limits.count(session, key=key, now=now + 1) == 3
        assert rate_limits.expires_at(session, key=key, now=now + 1) == pytest.approx(now + 60)
        # Past the window a hit starts a new one.
        later = now + 61
        assert rate_limits.count(session, key=key, now=later) == 0
        assert rate_limits.increment(session, key=key, expiry_s=60, amount=2, now=later) == 2
        assert rate_limits.expires_at(session, key=key, now=later) == pytest.approx(later + 60)
        rate_limits.clear(session, key=key)
        assert rate_limits.count(session, key=key, now=later) == 0


def test_limiter_over_the_database_refuses_past_the_limit(database_url: str) -> None:
    settings = Settings(rate_limit_sync="2/minute")
    storage = DatabaseStorage(session_factory(database_url))
    assert storage.check()
    limiter = RateLimiter(storage, rules=rules_from(settings))
    user = f"user-{time.time()}"
    quotas = [
        limiter.hit(method="POST", route_path="/sources/{source_id}/sync", user=user)
        for _ in range(3)
    ]
    assert [q.allowed for q in quotas] == [True, True, False]
    assert [q.remaining for q in quotas] == [1, 0, 0]
    assert quotas[-1].headers()["X-RateLimit-Limit"] == "2"
    assert 0 < int(quotas[-1].headers()["Retry-After"]) <= 60
    other = limiter.hit(method="GET", route_path="/sources", user=user)
    assert other.allowed and other.limit == 100
    with pytest.raises(ValueError):
        rules_from(Settings(rate_limit_default="lots"))
