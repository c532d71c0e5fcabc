"""Structured JSON logs, one object a line, with tokens and secrets masked."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

MASK = "***"
# Bearer credentials, JWTs and `secret=...`-style pairs, wherever they appear in a line.
PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[^\s\"',]+"),
    re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"),
    re.compile(r"(?i)((?:password|secret|token|api[_-]?key)[\"']?\s*[:=]\s*[\"']?)[^\s\"',&]+"),
)
# LogRecord attributes that are not extra fields.
STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats records as JSON with their `extra` fields, masking secrets in the result."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (key, value) for key, value in vars(record).items() if key not in STANDARD_ATTRS
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self.mask(json.dumps(entry, default=str))

    def mask(self, line: str) -> str:
        """`line` with known secrets and secret-looking values replaced."""
        for secret in self._secrets:
            line = line.replace(secret, MASK)
        for pattern in PATTERNS:
            line = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + MASK, line)
        return line


def configure_logging(*, secrets: Iterable[str] = (), level: int = logging.INFO) -> None:
    """Send every log line (uvicorn's included) through one JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # The request middleware logs every request with its id; uvicorn's own line would repeat it.
    logging.getLogger("uvicorn.access").disabled = True
