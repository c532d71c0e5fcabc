"""Secrets generated for development when none is configured, kept in the home folder."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)


def development_secret(path: Path, *, variable: str, generate: Callable[[], str]) -> str:
    """The secret stored at `path`, created on first use with a warning naming `variable`.

    Settings refuse to load outside development without the variable, so production never
    reaches this.
    """
    if not path.exists():
        _create(path, generate())
        logger.warning("%s is unset: generated a development secret in %s", variable, path)
    return path.read_text().strip()


def _create(path: Path, value: str) -> None:
    """Write a new secret atomically; when two processes race, the first one's wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    staging.write_text(value)
    staging.chmod(0o600)
    try:
        os.link(staging, path)
    except FileExistsError:
        logger.debug("another process created %s first", path)
    finally:
        staging.unlink()
