"""Reading how long an HTTP server asks a client to wait."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx


def parse_retry_after(headers: httpx.Headers, *, now: datetime | None = None) -> float | None:
    """Seconds to wait according to `retry-after-ms` or `Retry-After`, if either is usable.

    `Retry-After` may be delay-seconds or an HTTP date (RFC 9110); OpenAI also sends
    `retry-after-ms`. Fractional seconds are accepted. Past dates give 0.
    """
    if (millis := finite_number(headers.get("retry-after-ms"))) is not None:
        return max(0.0, millis / 1000)
    value = headers.get("retry-after")
    if value is None:
        return None
    if (seconds := finite_number(value)) is not None:
        return max(0.0, seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def finite_number(value: str | None) -> float | None:
    """The number in a header value, or None when it is missing, not a number or not finite."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None
