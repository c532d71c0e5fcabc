"""Connector types by name: the catalog, config validation, and opening a connector."""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from resources.connectors.base import (
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
    errors = list(Draft202012Validator(schema).iter_errors(config))
    if errors:
        problems = sorted(_problem(error, secrets=secrets, root=root) for error in errors)
        field, message = _problem(best_match(errors), secrets=secrets, root=root)
        raise ConfigError(
            f"{field}: {message}",
            field=field,
            details={"errors": [{"field": f, "message": m} for f, m in problems]},
        )
    return copy.deepcopy(dict(config))


def connection_schema(spec: ConnectorSpec) -> dict[str, Any] | None:
    """JSON Schema of a connection's config for this type; None if it takes no connection."""
    if not spec.connection_fields:
        return None
    properties = spec.config_schema["properties"]
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": f"{spec.display_name} connection",
        "type": "object",
        "properties": {name: properties[name] for name in spec.connection_fields},
        "required": [name for name in spec.secret_fields if name in spec.connection_fields],
        "additionalProperties": False,
    }


def validate_connection_config(type: str, config: Any) -> dict[str, Any]:
    """Check a connection's config: the type's connection fields, its secrets required.

    Raises:
        ConfigError: The type takes no connection, or the config is invalid (as
            `validate_config` words it).
    """
    spec = connector_class(type).spec
    schema = connection_schema(spec)
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


def run_connection_test(type: str, config: Mapping[str, Any]) -> CheckResult:
    """Test a connection's fields (secrets opened) with the type's own connection test.

    Raises:
        ConfigError: The type has no connection test (field `type`).
    """
    cls = connector_class(type)
    if not issubclass(cls, ConnectionTester):
        raise ConfigError(f"type: {type!r} connections cannot be tested on their own", field="type")
    return cls.test_connection(config)


def source_config_with(
    type: str, config: Mapping[str, Any], connection_config: Mapping[str, Any]
) -> dict[str, Any]:
    """Check a source config that takes its connection fields from a connection.

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
    validate_config(type, {**connection_config, **config})
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
