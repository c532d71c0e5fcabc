"""Source and connection configs as stored (secrets sealed), used (opened) and shown (masked)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resources.connectors import ConfigError, connector_class, validate_config
from resources.connectors.options import PipelineOptions
from resources.connectors.registry import (
    connection_connector,
    source_config_with,
    validate_connection_config,
)
from resources.store.models import Connection, Source
from resources.vault import MASK, Vault, mask


def sealed_config(vault: Vault, source_type: str, config: dict[str, Any]) -> dict[str, Any]:
    """Validate a config against its connector's schema and encrypt its secret fields.

    Raises:
        ConfigError: Unknown type or invalid config (the message names the field).
    """
    valid = validate_config(source_type, config)
    return vault.seal(valid, _secrets(source_type))


def sealed_connection_config(
    vault: Vault,
    source_type: str,
    config: Mapping[str, Any],
    *,
    stored: Mapping[str, Any] | None = None,
    oauth: bool = False,
) -> dict[str, Any]:
    """Validate a connection's config and encrypt its secrets.

    Args:
        vault: The vault.
        source_type: The connection's type (a provider for OAuth connections).
        config: The config as received.
        stored: The connection's stored config, when updating: a secret sent back as the
            mask keeps its stored value.
        oauth: Whether it is an OAuth connection (its config holds endpoints only).

    Raises:
        ConfigError: The type takes no connection, or the config is invalid.
        VaultError: A kept secret cannot be opened (send a new one).
    """
    secrets = connection_connector(source_type, oauth=oauth).spec.secret_fields
    kept: dict[str, Any] = {}
    if stored is not None:
        kept = {k: stored[k] for k in secrets if config.get(k) == MASK and k in stored}
        # Validated with the stored secrets opened; they stay sealed as they were.
        config = {**config, **vault.unseal(kept, secrets)}
    valid = validate_connection_config(source_type, config, oauth=oauth)
    return {**vault.seal(valid, secrets), **kept}


def sealed_source_config_with(
    vault: Vault, source_type: str, config: Mapping[str, Any], connection: Connection
) -> dict[str, Any]:
    """A source config that takes its credentials from a connection, validated with them.

    Raises:
        ConfigError: The connection does not serve this type; the config is invalid
            together with the connection's fields, or repeats one.
        VaultError: The connection's secrets cannot be opened.
    """
    oauth = connection.oauth is not None
    try:
        served: str | None = connection_connector(connection.type, oauth=oauth).spec.type
    except ConfigError:  # an OAuth provider no connector takes
        served = None
    if served != source_type:
        raise ConfigError(
            f"connectionId: a {connection.type} connection cannot serve a {source_type} source",
            field="connectionId",
        )
    opened = vault.unseal(connection.config, _secrets(source_type))
    valid = source_config_with(source_type, config, opened, oauth=oauth)
    return vault.seal(valid, _secrets(source_type))


def opened_config(
    vault: Vault,
    source_type: str,
    stored: dict[str, Any],
    *,
    connection: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The config a connector runs with: the connection's fields, then the source's own."""
    merged = {**(connection or {}), **stored}
    return vault.unseal(merged, _secrets(source_type))


def source_connector_config(vault: Vault, source: Source) -> dict[str, Any]:
    """What a source's connector runs with: its connection's fields and its own, opened."""
    connection = source.connection.config if source.connection is not None else None
    return opened_config(vault, source.type, source.config, connection=connection)


def inherited_options(source: Source) -> dict[str, Any]:
    """The options a source takes from its connection, under its own (none without one)."""
    return source.connection.options if source.connection is not None else {}


def source_options(defaults: PipelineOptions, source: Source) -> PipelineOptions:
    """The options a source's files are processed with: the deployment's, then its
    connection's, then its own."""
    return defaults.overridden(inherited_options(source)).overridden(source.options)


def shown_config(source_type: str, stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored config as any response or log may show it."""
    return mask(stored, _secrets(source_type))


def shown_connection_config(connection: Connection) -> dict[str, Any]:
    """A connection's config as any response may show it.

    An OAuth connection's config holds only endpoints (its tokens live apart, never shown),
    and its type may be a provider no connector takes (dropbox, atlassian).
    """
    if connection.oauth is not None:
        return dict(connection.config)
    return shown_config(connection.type, connection.config)


def _secrets(source_type: str) -> tuple[str, ...]:
    return connector_class(source_type).spec.secret_fields
