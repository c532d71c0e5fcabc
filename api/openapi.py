"""The OpenAPI document as this API really behaves.

FastAPI documents a 422 on every route; this API answers validation errors with 400
VALIDATION_ERROR (documented on every route), so those 422s go (a route's own 422, such as
CONNECTION_TEST_FAILED, stays). The bodies of `POST /sources`
and `POST /connections` are documented per connector type, with that type's own config and
options JSON Schemas.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from resources.connectors import connector_types
from resources.connectors.base import ConnectorSpec
from resources.connectors.registry import connection_schema

FASTAPI_VALIDATION_ERROR = "#/components/schemas/HTTPValidationError"
# JSON Schema keywords of our connector specs that OpenAPI tools do not know.
NON_STANDARD_KEYWORDS = ("$schema", "errorMessage")


def openapi_schema(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, built once."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for path in schema["paths"].values():
            for operation in path.values():
                responses = operation.get("responses", {})
                if FASTAPI_VALIDATION_ERROR in str(responses.get("422")):
                    del responses["422"]
        components = schema.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        if "SourceCreate" in components:
            components["SourceCreate"] = _per_type(
                components["SourceCreate"], lambda spec: spec.config_schema
            )
        if "ConnectionCreate" in components:
            components["ConnectionCreate"] = _per_type(
                components["ConnectionCreate"], connection_schema
            )
        app.openapi_schema = schema
    return app.openapi_schema


def _per_type(
    generic: Mapping[str, Any],
    config_schema: Callable[[ConnectorSpec], Mapping[str, Any] | None],
) -> dict[str, Any]:
    """One variant per connector type: `type` that type, `config` and `options` its schemas
    (types without a `config` schema have no variant)."""
    title = str(generic.get("title", ""))
    variants = []
    for spec in connector_types():
        schema = config_schema(spec)
        if schema is None:
            continue
        variant = copy.deepcopy(dict(generic))
        variant["title"] = f"{title} ({spec.type})"
        variant["properties"]["type"] = {"const": spec.type, "description": spec.display_name}
        variant["properties"]["config"] = standard_schema(schema)
        variant["properties"]["options"] = standard_schema(spec.options_schema)
        variants.append(variant)
    return {"title": title, "description": generic.get("description", ""), "oneOf": variants}


def standard_schema(schema: Any) -> Any:
    """`schema` without our non-standard keywords (NON_STANDARD_KEYWORDS), at any depth."""
    if isinstance(schema, Mapping):
        return {k: standard_schema(v) for k, v in schema.items() if k not in NON_STANDARD_KEYWORDS}
    if isinstance(schema, list):
        return [standard_schema(item) for item in schema]
    return schema
