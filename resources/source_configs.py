"""Source configs as stored (secrets sealed), as used (opened) and as shown (masked)."""

from __future__ import annotations

from typing import Any

from resources.connectors import connector_class, validate_config
from resources.vault import Vault, mask


def sealed_config(vault: Vault, source_type: str, config: dict[str, Any]) -> dict[str, Any]:
    """Validate a config against its connector's schema and encrypt its secret fields.

    Raises:
        ConfigError: Unknown type or invalid config (the message names the field).
    """
    valid = validate_config(source_type, config)
    return vault.seal(valid, connector_class(source_type).spec.secret_fields)


def opened_config(vault: Vault, source_type: str, stored: dict[str, Any]) -> dict[str, Any]:
    """The stored config with its secrets decrypted, for the connector only."""
    return vault.unseal(stored, connector_class(source_type).spec.secret_fields)


def shown_config(source_type: str, stored: dict[str, Any]) -> dict[str, Any]:
    """The stored config as any response or log may show it."""
    return mask(stored, connector_class(source_type).spec.secret_fields)
