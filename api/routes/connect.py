"""API-key onboarding (seed 001): what a type's key needs, then the key tested and stored."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Body

from api.connection_input import (
    KEY,
    SECRET,
    api_key_config,
    checked_options,
    invalid_config,
    unique_name,
)
from api.connection_tests import test_report
from api.deps import CurrentUser, RateLimited, SessionDep, StateDep
from api.errors import ERROR_RESPONSES, ApiError, ErrorCode, error_doc, validation_error
from api.openapi import standard_schema
from api.routes.connectors import CONNECTOR_MISSING, spec_of
from api.schemas import (
    ApiKeyConnect,
    ApiKeyConnectOut,
    ApiKeyConnectStart,
    ConnectedOut,
    CredentialFieldOut,
)
from resources.connectors import ConfigError
from resources.connectors.base import API_KEY_METHOD, ApiKeyAuth, ConnectorSpec
from resources.connectors.options import PipelineOptions
from resources.connectors.registry import (
    connection_schema,
    options_schema,
    run_connection_test,
    validate_connection_config,
)
from resources.store import connections
from resources.store.models import utcnow

REFUSED: dict[int | str, dict[str, Any]] = {
    400: error_doc(
        "VALIDATION_ERROR: the type takes no API key, or a field is misplaced; INVALID_CONFIG: "
        "the config or options are invalid. `details.field` names the field."
    )
}
TEST_FAILED: dict[int | str, dict[str, Any]] = {
    409: error_doc("DUPLICATE_CONNECTION: you have a connection of that name."),
    422: error_doc(
        "CONNECTION_TEST_FAILED: the provider refused the key or could not be reached; "
        "`details` is the connection test's report (seed 002). Nothing was stored."
    ),
}

router = APIRouter(
    prefix="/connectors",
    tags=["connections"],
    dependencies=[RateLimited],
    responses=ERROR_RESPONSES,
)


@router.post("/{connector_type}/connect", responses={**CONNECTOR_MISSING, **REFUSED})
def start_api_key(
    connector_type: str,
    _user: CurrentUser,
    state: StateDep,
    _body: Annotated[ApiKeyConnectStart | None, Body()] = None,
) -> ApiKeyConnectOut:
    """What an API-key connection of this type needs: the header the key goes in, the
    credentials, the rest of the connection's config, and where to send them."""
    spec, method = _api_key_method(connector_type)
    properties = spec.config_schema["properties"]
    fields = [
        CredentialFieldOut(
            name=KEY, description=properties[method.key_field]["description"], required=True
        )
    ]
    if method.secret_field is not None:
        fields.append(
            CredentialFieldOut(
                name=SECRET,
                description=properties[method.secret_field]["description"],
                required=True,
            )
        )
    return ApiKeyConnectOut(
        type=spec.type,
        method=API_KEY_METHOD,
        header=method.header,
        fields=fields,
        config_schema=_other_fields_schema(spec, method),
        options_schema=options_schema(spec, PipelineOptions.from_settings(state.settings)),
        callback_url=f"{router.prefix}/{spec.type}/connect/callback",
    )


@router.post(
    "/{connector_type}/connect/callback",
    status_code=201,
    responses={**CONNECTOR_MISSING, **REFUSED, **TEST_FAILED},
)
def complete_api_key(
    connector_type: str,
    body: ApiKeyConnect,
    session: SessionDep,
    user: CurrentUser,
    state: StateDep,
) -> ConnectedOut:
    """Test the key with the provider for real, then store it sealed as a connection that
    sources can use (`connectionId`); a key the provider refuses stores nothing."""
    spec, method = _api_key_method(connector_type)
    options = checked_options(state.settings, spec.type, body.options)
    try:
        config = validate_connection_config(
            spec.type,
            api_key_config(
                method, api_key=body.api_key, api_secret=body.api_secret, config=body.config
            ),
        )
        result = run_connection_test(spec.type, config)
    except ConfigError as error:
        raise invalid_config(error) from error
    if not result.ok:
        raise ApiError(
            422,
            ErrorCode.CONNECTION_TEST_FAILED,
            f"The connection test failed: {result.message}",
            details=test_report(result).dump(),
        )
    name = body.name or f"{spec.type} API key {secrets.token_hex(4)}"
    with unique_name(name):
        connection = connections.create_connection(
            session,
            owner=user.owner,
            type=spec.type,
            name=name,
            description=body.description,
            config=state.vault.seal(config, spec.secret_fields),
            options=options,
        )
    connection.last_tested_at = utcnow()
    return ConnectedOut(connection_id=connection.id)


def _api_key_method(connector_type: str) -> tuple[ConnectorSpec, ApiKeyAuth]:
    """The type's spec and API-key method; 404 for no such type, 400 if it takes no key."""
    spec = spec_of(connector_type)
    if spec.api_key is None:
        raise validation_error(
            f"method: {spec.type!r} connectors take no API key "
            f"(auth methods: {', '.join(spec.auth_methods)})",
            details={"field": "method", "authMethods": list(spec.auth_methods)},
        )
    if connection_schema(spec) is None:
        raise invalid_config(
            ConfigError(f"type: {spec.type!r} connectors take no connection yet", field="type")
        )
    return spec, spec.api_key


def _other_fields_schema(spec: ConnectorSpec, method: ApiKeyAuth) -> dict[str, Any]:
    """The connection's schema without the key and secret: what goes in `config`."""
    schema = connection_schema(spec)
    assert schema is not None  # checked by `_api_key_method`
    credentials = {method.key_field, method.secret_field}
    schema["properties"] = {
        name: field for name, field in schema["properties"].items() if name not in credentials
    }
    schema["required"] = [name for name in schema["required"] if name not in credentials]
    return dict(standard_schema(schema))
