"""Connector types by name: the catalog, config validation, and opening a connector."""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from resources.connectors.base import (
    HTTP_URL_RE,
    JSON_SCHEMA_DIALECT,
    BaseConnector,
    CheckResult,
    ConfigError,
    ConnectionTester,
    Connector,
    ConnectorSpec,
)
from resources.connectors.bitbucket import BitbucketConnector
from resources.connectors.gdrive import GdriveConnector
from resources.connectors.git import GitConnector
from resources.connectors.github import GithubConnector
from resources.connectors.gitlab import GitlabConnector
from resources.connectors.local import LocalConnector
from resources.connectors.options import PipelineOptions

if TYPE_CHECKING:  # jsonschema is imported where used: loading the catalog costs none
    from jsonschema.exceptions import ValidationError

CONNECTORS: Mapping[str, type[BaseConnector]] = MappingProxyType(
    {
        cls.spec.type: cls
        for cls in (
            LocalConnector,
            GitConnector,
            GithubConnector,
            GitlabConnector,
            BitbucketConnector,
            GdriveConnector,
        )
    }
)

IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# The config field an OAuth connection fills with its access token.
OAUTH_TOKEN_FIELD = "token"
# What validation sees in that field before a run asks the connection for a real token.
OAUTH_TOKEN_STAND_IN = "oauth-access-token"


def _by_oauth_provider() -> Mapping[str, type[BaseConnector]]:
    served: dict[str, type[BaseConnector]] = {}
    for cls in CONNECTORS.values():
        provider = cls.spec.oauth_provider
        if provider is not None:
            if provider in served:
                raise RuntimeError(f"{provider} OAuth connections would serve two connector types")
            if OAUTH_TOKEN_FIELD not in cls.spec.connection_fields:
                raise RuntimeError(f"{cls.spec.type} takes OAuth connections but no token field")
            served[provider] = cls
    return MappingProxyType(served)


OAUTH_CONNECTORS = _by_oauth_provider()


def connector_types() -> list[ConnectorSpec]:
    """The spec of every connector type, sorted by type (copies: safe to modify)."""
    return [
        dataclasses.replace(
            cls.spec,
            config_schema=copy.deepcopy(dict(cls.spec.config_schema)),
            options_schema=copy.deepcopy(dict(cls.spec.options_schema)),
        )
        for _, cls in sorted(CONNECTORS.items())
    ]


def connector_class(type: str) -> type[BaseConnector]:
    """The class registered for `type`.

    Raises:
        ConfigError: No connector has that type (field `type`).
    """
    cls = CONNECTORS.get(type)
    if cls is None:
        known = ", ".join(sorted(CONNECTORS))
        raise ConfigError(
            f"type: unknown connector type {type!r} (known: {known})",
            field="type",
            details={"known": sorted(CONNECTORS)},
        )
    return cls


def validate_config(type: str, config: Any) -> dict[str, Any]:
    """Check a source config against its type's JSON Schema and extra rules.

    Args:
        type: The connector type, e.g. `git`.
        config: The config as received (parsed JSON).

    Returns:
        A deep copy of the config, unchanged otherwise (defaults are not filled in, so
        a later change of a default applies to stored sources too).

    Raises:
        ConfigError: Unknown type or invalid config. The message starts with the field
            path (`config.branch: 123 is not of type 'string'`); `details` has `field`
            and `errors` (every problem found, as `{field, message}`).
    """
    cls = connector_class(type)
    valid = _validated(cls.spec.config_schema, config, secrets=frozenset(cls.spec.secret_fields))
    cls.check_config(valid)
    return valid


def _validated(
    schema: Mapping[str, Any], config: Any, *, secrets: frozenset[str], root: str = "config"
) -> dict[str, Any]:
    """A deep copy of `config` if `schema` accepts it; else a ConfigError naming the field.

    `root` is the name of the checked object in field paths (`config`, `options`).
    """
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    errors = list(Draft202012Validator(schema).iter_errors(config))
    if errors:
        problems = sorted(_problem(error, secrets=secrets, root=root) for error in errors)
        field, message = _problem(best_match(errors), secrets=secrets, root=root)
        raise ConfigError(
            f"{field}: {message}",
            field=field,
            details={"errors": [{"field": f, "message": m} for f, m in problems]},
        )
    _check_urls(schema, config, root=root)
    return copy.deepcopy(dict(config))


def _check_urls(schema: Mapping[str, Any], config: Mapping[str, Any], *, root: str) -> None:
    """Raise a ConfigError for an http(s) URL field that matches the schema's pattern but
    that a URL parser refuses (a bracketed host that is no IP address, a port out of range,
    a host IDNA cannot encode): the connector could never reach it."""
    for name, field in schema.get("properties", {}).items():
        value = config.get(name)
        if field.get("pattern") != HTTP_URL_RE or not isinstance(value, str):
            continue
        try:
            urlsplit(value).port  # noqa: B018 - parsing the port is the check
            httpx.URL(value)
        except (ValueError, httpx.InvalidURL) as refused:
            raise ConfigError(
                f"{root}.{name}: must be an http(s) URL ({refused})", field=f"{root}.{name}"
            ) from refused


def connection_connector(type: str, *, oauth: bool = False) -> type[BaseConnector]:
    """The connector a connection serves: its type's, or for an OAuth connection (whose
    type is its provider, e.g. `google`) the connector that takes that provider's tokens.

    Raises:
        ConfigError: No connector has that type, or takes that provider's connections.
    """
    if not oauth:
        return connector_class(type)
    served = OAUTH_CONNECTORS.get(type)
    if served is None:
        raise ConfigError(
            f"type: no connector takes {type!r} OAuth connections",
            field="type",
            details={"known": sorted(OAUTH_CONNECTORS)},
        )
    return served


def connection_schema(spec: ConnectorSpec, *, oauth: bool = False) -> dict[str, Any] | None:
    """JSON Schema of a connection's config for this type; None if it takes no connection.

    An OAuth connection holds only the endpoints (its token comes from the provider), none
    of them required.
    """
    if not spec.connection_fields:
        return None
    properties = spec.config_schema["properties"]
    fields = [n for n in spec.connection_fields if not (oauth and n == OAUTH_TOKEN_FIELD)]
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": f"{spec.display_name} {'OAuth ' if oauth else ''}connection",
        "type": "object",
        "properties": {name: properties[name] for name in fields},
        "required": [name for name in spec.secret_fields if name in fields and not oauth],
        "additionalProperties": False,
    }


def validate_connection_config(type: str, config: Any, *, oauth: bool = False) -> dict[str, Any]:
    """Check a connection's config: the type's connection fields, its secrets required.

    Args:
        type: The connection's type (a provider for OAuth connections).
        config: The config as received.
        oauth: Whether it is an OAuth connection (see `connection_schema`).

    Raises:
        ConfigError: The type takes no connection, or the config is invalid (as
            `validate_config` words it).
    """
    spec = connection_connector(type, oauth=oauth).spec
    schema = connection_schema(spec, oauth=oauth)
    if schema is None:
        raise ConfigError(f"type: {type!r} connectors take no connection", field="type")
    return _validated(schema, config, secrets=frozenset(spec.secret_fields))


def options_schema(spec: ConnectorSpec, defaults: PipelineOptions) -> dict[str, Any]:
    """JSON Schema of a source's options for this type, with the deployment's defaults."""
    schema = copy.deepcopy(dict(spec.options_schema))
    for name, value in defaults.shown().items():
        if name in schema["properties"]:
            schema["properties"][name]["default"] = value
    return schema


def validate_options(
    type: str,
    options: Any,
    *,
    defaults: PipelineOptions,
    inherited: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Check a source's (or a connection's) options: schema, bounds, and together.

    Args:
        type: The connector type.
        options: The options as received.
        defaults: The deployment's options.
        inherited: Options the source takes from its connection, under its own.

    Returns:
        A deep copy of the options as given (defaults are not filled in).

    Raises:
        ConfigError: Unknown type, or invalid options; the field is `options.NAME`.
    """
    spec = connector_class(type).spec
    valid = _validated(spec.options_schema, options, secrets=frozenset(), root="options")
    problem = defaults.overridden(inherited or {}).overridden(valid).problem()
    if problem is not None:
        name, message = problem
        raise ConfigError(f"options.{name}: {message}", field=f"options.{name}")
    return valid


def run_connection_test(
    type: str, config: Mapping[str, Any], *, oauth: bool = False
) -> CheckResult:
    """Test a connection's fields (secrets opened) with its connector's own connection test.

    Args:
        type: The connection's type (a provider for OAuth connections).
        config: Its fields, secrets opened (an OAuth connection's with a fresh token).
        oauth: Whether it is an OAuth connection (see `connection_connector`).

    Raises:
        ConfigError: No connector serves it, or the connector has no connection test
            (field `type`).
    """
    cls = connection_connector(type, oauth=oauth)
    if not issubclass(cls, ConnectionTester):
        raise ConfigError(f"type: {type!r} connections cannot be tested on their own", field="type")
    return cls.test_connection(config)


def source_config_with(
    type: str,
    config: Mapping[str, Any],
    connection_config: Mapping[str, Any],
    *,
    oauth: bool = False,
) -> dict[str, Any]:
    """Check a source config that takes its connection fields from a connection.

    Args:
        type: The source's connector type.
        config: The source's own config.
        connection_config: The connection's config, secrets opened.
        oauth: The connection is an OAuth one: it supplies the token at run time.

    Returns:
        The source's own config (without the connection's fields).

    Raises:
        ConfigError: The config repeats a connection field, or with the connection's
            fields it is not a valid config of the type.
    """
    for name in connector_class(type).spec.connection_fields:
        if name in config:
            raise ConfigError(
                f"config.{name}: comes from the connection; leave it out",
                field=f"config.{name}",
            )
    token = {OAUTH_TOKEN_FIELD: OAUTH_TOKEN_STAND_IN} if oauth else {}
    validate_config(type, {**connection_config, **token, **config})
    return copy.deepcopy(dict(config))


def open_connector(type: str, config: Mapping[str, Any], *, workdir: Path) -> Connector:
    """Validate `config` and build the connector; nothing is opened yet.

    Args:
        type: The connector type, e.g. `local`.
        config: The source config.
        workdir: A per-source private cache folder (created by the connector if needed).

    Raises:
        ConfigError: Unknown type or invalid config.
    """
    cls = connector_class(type)
    return cls(validate_config(type, config), workdir=workdir)


def _problem(error: ValidationError, *, secrets: frozenset[str], root: str) -> tuple[str, str]:
    """`(field path, message)` for one schema error, naming the exact field."""
    path = list(error.absolute_path)
    message = error.message
    if path and path[0] in secrets:
        # jsonschema quotes the offending value, and a secret must never be echoed.
        return _field(root, path), f"is invalid (fails {error.validator!r}; value not shown)"
    if error.validator == "required":
        missing = _quoted_name(message, error.validator_value)
        if missing is not None:
            return _field(root, [*path, missing]), "is required"
    elif error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = error.schema.get("properties", {})
        extra = sorted(str(key) for key in error.instance if key not in allowed)
        if extra:
            return _field(root, [*path, extra[0]]), (
                f"unknown field (allowed: {', '.join(sorted(allowed))})"
            )
    elif error.validator == "pattern" and isinstance(error.schema, Mapping):
        # The schema's own wording beats echoing a regular expression back at the user.
        custom = error.schema.get("errorMessage")
        if isinstance(custom, str):
            message = f"{error.instance!r} {custom}"
    return _field(root, path), message


def _quoted_name(message: str, names: Iterable[Any]) -> str | None:
    """Which of `names` the `required` message is about (jsonschema quotes it first)."""
    for name in names:
        if message.startswith(repr(name)):
            return str(name)
    return None


def _field(root: str, path: Sequence[str | int]) -> str:
    """`config.includePaths[1]` for the root `config` and the path `["includePaths", 1]`."""
    text = root
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif IDENTIFIER_RE.match(part):
            text += f".{part}"
        else:
            text += f"[{part!r}]"
    return text
