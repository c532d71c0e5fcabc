"""The connector catalog: every registered connector type, from its own spec."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import CurrentUser, RateLimited, SettingsDep
from api.errors import ERROR_RESPONSES, ApiError, ErrorCode, error_doc
from api.openapi import standard_schema
from api.schemas import ConnectorListOut, ConnectorOut
from resources.connectors.base import ConnectorSpec, HookManager
from resources.connectors.options import PipelineOptions
from resources.connectors.registry import CONNECTORS, connector_types, options_schema

# Capabilities every catalog entry states, true or false (plus any a connector adds).
CAPABILITIES = ("read", "incremental", "deletions", "renames", "check", "metadata", "webhooks")
CONNECTOR_MISSING: dict[int | str, dict[str, Any]] = {
    404: error_doc("CONNECTOR_NOT_FOUND: no such type.")
}

router = APIRouter(
    prefix="/connectors",
    tags=["connectors"],
    dependencies=[RateLimited],
    responses=ERROR_RESPONSES,
)


@router.get("")
def list_connectors(_user: CurrentUser, settings: SettingsDep) -> ConnectorListOut:
    """List every connector type with its config and options schemas, capabilities and auth
    methods."""
    defaults = PipelineOptions.from_settings(settings)
    entries = [_entry(spec, defaults) for spec in connector_types()]
    return ConnectorListOut(connectors=entries, total=len(entries))


@router.get("/{connector_type}", responses=CONNECTOR_MISSING)
def get_connector(connector_type: str, _user: CurrentUser, settings: SettingsDep) -> ConnectorOut:
    """Show one connector type."""
    return _entry(spec_of(connector_type), PipelineOptions.from_settings(settings))


def spec_of(connector_type: str) -> ConnectorSpec:
    """The spec of a connector type (a copy); 404 CONNECTOR_NOT_FOUND if there is none."""
    for spec in connector_types():
        if spec.type == connector_type:
            return spec
    raise ApiError(
        404,
        ErrorCode.CONNECTOR_NOT_FOUND,
        f"Connector type {connector_type!r} not found",
        details={"known": sorted(CONNECTORS)},
    )


def _entry(spec: ConnectorSpec, defaults: PipelineOptions) -> ConnectorOut:
    """The catalog entry of a spec; `webhooks` comes from the class, not a declaration."""
    has = set(spec.capabilities)
    if issubclass(CONNECTORS[spec.type], HookManager):
        has.add("webhooks")
    return ConnectorOut(
        type=spec.type,
        display_name=spec.display_name,
        description=spec.description,
        category=spec.category,
        config_schema=standard_schema(spec.config_schema),
        secret_fields=list(spec.secret_fields),
        options_schema=standard_schema(options_schema(spec, defaults)),
        capabilities={name: name in has for name in sorted(has | set(CAPABILITIES))},
        auth_methods=list(spec.auth_methods),
    )
