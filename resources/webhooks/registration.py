"""Registering a code-host source's push webhook at the provider, and removing it.

Best effort by design: a source works without its hook (the reconcile schedule notices
new commits), so a refusal is logged and the hook is left to be set up by hand.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from resources.connectors import ConnectorError, open_connector
from resources.connectors.base import HookManager, HookNotPermitted

logger = logging.getLogger(__name__)


def register_hook(
    source_type: str, config: Mapping[str, Any], *, url: str, secret: str
) -> str | None:
    """Create the push webhook of a source whose config (secrets opened) may manage hooks.

    Returns:
        The provider's hook id, or None when the type has no hooks, the config has no
        token, or the provider refused (the reason is logged).
    """
    if not config.get("token"):
        return None
    with tempfile.TemporaryDirectory(prefix="headwater-hook-") as workdir:
        connector = open_connector(source_type, config, workdir=Path(workdir))
        with connector:
            if not isinstance(connector, HookManager):
                return None
            try:
                return connector.create_hook(url=url, secret=secret)
            except HookNotPermitted as error:
                logger.info("webhook left to set up by hand: %s", error.message)
            except ConnectorError as error:
                logger.warning("webhook registration failed: %s", error.message)
            except (httpx.InvalidURL, UnicodeError) as error:  # an API URL no request can use
                logger.warning("webhook registration failed: %s", type(error).__name__)
    return None


def remove_hook(source_type: str, config: Mapping[str, Any], *, hook_id: str) -> bool:
    """Delete a source's registered webhook; whether the provider confirmed it."""
    with tempfile.TemporaryDirectory(prefix="headwater-hook-") as workdir:
        connector = open_connector(source_type, config, workdir=Path(workdir))
        with connector:
            if not isinstance(connector, HookManager):
                return False
            try:
                connector.delete_hook(hook_id)
            except ConnectorError as error:
                logger.warning("webhook %s not removed: %s", hook_id, error.message)
                return False
    return True
