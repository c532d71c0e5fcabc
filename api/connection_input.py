"""What clients send for a connection, checked: config sealed, options validated, names unique.

Refusals are seed 002's: 400 INVALID_CONFIG naming the field, 409 DUPLICATE_CONNECTION.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from api.errors import ApiError, ErrorCode, validation_error
from resources.connectors import ConfigError
from resources.connectors.base import ApiKeyAuth
from resources.connectors.options import PipelineOptions
from resources.connectors.registry import connection_connector, validate_options
from resources.settings import Settings
from resources.source_configs import sealed_connection_config
from resources.store import connections
from resources.store.models import Source
from resources.vault import Vault, VaultError

# Names of the credentials in the API-key onboarding's body (seed 001).
KEY, SECRET = "apiKey", "apiSecret"


def checked_config(
    vault: Vault,
    type: str,
    config: Mapping[str, Any],
    *,
    stored: Mapping[str, Any] | None = None,
    oauth: bool = False,
) -> dict[str, Any]:
    """`sealed_connection_config`, its refusals answered as 400 `INVALID_CONFIG`."""
    try:
        return sealed_connection_config(vault, type, config, stored=stored, oauth=oauth)
    except ConfigError as error:
        raise invalid_config(error) from error
    except VaultError as error:
        raise ApiError(
            400,
            ErrorCode.INVALID_CONFIG,
            f"{error}; send the secret again instead of the mask",
            details={"field": "config"},
        ) from error


def checked_options(
    settings: Settings,
    type: str,
    options: Any,
    *,
    sources: Sequence[Source] = (),
    oauth: bool = False,
) -> dict[str, Any]:
    """A connection's options, if the type's options schema and bounds accept them, alone and
    under the options of each of the `sources` that use it (`oauth`: see `checked_config`)."""
    defaults = PipelineOptions.from_settings(settings)
    try:
        type = connection_connector(type, oauth=oauth).spec.type
        valid = validate_options(type, options, defaults=defaults)
    except ConfigError as error:
        raise invalid_config(error) from error
    for source in sources:
        try:
            validate_options(type, source.options, defaults=defaults, inherited=valid)
        except ConfigError as error:
            raise ApiError(
                400,
                ErrorCode.INVALID_CONFIG,
                f"{error.message} for source {source.id}, which uses this connection",
                details={**error.details, "sourceId": source.id},
            ) from error
    return valid


def api_key_config(
    method: ApiKeyAuth, *, api_key: str, api_secret: str | None, config: Mapping[str, Any]
) -> dict[str, Any]:
    """A connection's config from an API key (and secret) and the other fields in `config`.

    Raises:
        ApiError: 400 VALIDATION_ERROR: a credential in `config`, a secret the provider does
            not take, or a missing one it needs.
    """
    for field, name in ((method.key_field, KEY), (method.secret_field, SECRET)):
        if field is not None and field in config:
            raise validation_error(
                f"config.{field}: send it as {name}", details={"field": f"config.{field}"}
            )
    opened = {**config, method.key_field: api_key}
    if method.secret_field is None:
        if api_secret is not None:
            raise validation_error(
                f"{SECRET}: this provider takes no secret with its key", details={"field": SECRET}
            )
    elif api_secret is None:
        raise validation_error(f"{SECRET}: is required", details={"field": SECRET})
    else:
        opened[method.secret_field] = api_secret
    return opened


@contextmanager
def unique_name(name: str) -> Iterator[None]:
    """Answer 409 DUPLICATE_CONNECTION when the owner already has a connection named `name`."""
    try:
        yield
    except connections.DuplicateName as error:
        raise ApiError(
            409,
            ErrorCode.DUPLICATE_CONNECTION,
            f"You already have a connection named {name!r}",
            details={"name": name},
        ) from error


def invalid_config(error: ConfigError) -> ApiError:
    """400 INVALID_CONFIG for a refused config or options, naming the field."""
    return ApiError(400, ErrorCode.INVALID_CONFIG, error.message, details=error.details)
