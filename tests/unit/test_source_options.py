"""Source options, the specs' auth methods, and API-key configs: pure rules, no servers."""

from __future__ import annotations

from typing import Any

import pytest

from api.connection_input import api_key_config
from api.errors import ApiError
from resources.connectors import ConfigError
from resources.connectors.base import ApiKeyAuth, ConnectorSpec
from resources.connectors.options import PipelineOptions
from resources.connectors.registry import connector_types, options_schema, validate_options
from resources.settings import Settings

DEFAULTS = PipelineOptions(
    max_file_bytes=5_000_000, chunk_max_tokens=512, chunk_overlap_tokens=64, sync_interval_minutes=0
)
WITH_SECRET = ApiKeyAuth(key_field="user", secret_field="password", header="Authorization: Basic")


def _refused(options: Any, **kwargs: Any) -> ConfigError:
    with pytest.raises(ConfigError) as raised:
        validate_options("git", options, defaults=DEFAULTS, **kwargs)
    return raised.value


def test_valid_options_come_back_as_given_and_resolve_over_defaults() -> None:
    given = {"maxFileBytes": 1_000, "chunkMaxTokens": 64, "chunkOverlapTokens": 0}
    valid = validate_options("git", given, defaults=DEFAULTS)
    assert valid == given and valid is not given
    assert DEFAULTS.overridden({"chunkMaxTokens": 128}).shown() == {
        "maxFileBytes": 5_000_000,
        "chunkMaxTokens": 128,
        "chunkOverlapTokens": 64,
        "syncIntervalMinutes": 0,
    }
    assert validate_options("git", {}, defaults=DEFAULTS) == {}


def test_each_refusal_names_the_option() -> None:
    assert _refused({"maxFileBytes": 0}).field == "options.maxFileBytes"
    assert _refused({"chunkMaxTokens": 8193}).field == "options.chunkMaxTokens"
    assert _refused({"chunkOverlapTokens": 1.5}).field == "options.chunkOverlapTokens"
    unknown = _refused({"includePaths": ["src/**"]})
    assert unknown.field == "options.includePaths" and "maxFileBytes" in unknown.message
    assert _refused(["not", "an", "object"]).field == "options"
    with pytest.raises(ConfigError) as unknown_type:
        validate_options("nope", {}, defaults=DEFAULTS)
    assert unknown_type.value.field == "type"


def test_overlap_is_checked_against_the_budget_in_force() -> None:
    own = _refused({"chunkMaxTokens": 64, "chunkOverlapTokens": 64})
    assert own.field == "options.chunkOverlapTokens" and "(64)" in own.message
    # The default overlap (64) does not fit a budget of 48.
    assert _refused({"chunkMaxTokens": 48}).field == "options.chunkOverlapTokens"
    inherited = _refused({"chunkOverlapTokens": 100}, inherited={"chunkMaxTokens": 100})
    assert inherited.field == "options.chunkOverlapTokens"
    assert validate_options(
        "git", {"chunkOverlapTokens": 8}, defaults=DEFAULTS, inherited={"chunkMaxTokens": 48}
    ) == {"chunkOverlapTokens": 8}


def test_the_catalog_schema_carries_the_deployments_defaults() -> None:
    settings = Settings(
        chunk_max_tokens=300,
        chunk_overlap_tokens=30,
        max_file_bytes=1_000,
        sync_interval_minutes=60,
    )
    for spec in connector_types():
        schema = options_schema(spec, PipelineOptions.from_settings(settings))
        defaults = {name: field["default"] for name, field in schema["properties"].items()}
        assert defaults == {
            "maxFileBytes": 1_000,
            "chunkMaxTokens": 300,
            "chunkOverlapTokens": 30,
            "syncIntervalMinutes": 60,
        }
        assert "default" not in spec.options_schema["properties"]["maxFileBytes"]  # a copy


def test_a_spec_states_its_api_key_method_exactly_when_it_has_one() -> None:
    base: dict[str, Any] = {
        "type": "t",
        "display_name": "T",
        "description": "d",
        "category": "code",
        "config_schema": {},
        "secret_fields": ("token",),
        "capabilities": ("read",),
    }
    key = ApiKeyAuth(key_field="token", header="Authorization: Bearer {apiKey}")
    with pytest.raises(ValueError, match="apiKey"):
        ConnectorSpec(**base, auth_methods=("apiKey",))
    with pytest.raises(ValueError, match="apiKey"):
        ConnectorSpec(**base, auth_methods=("none",), api_key=key)
    unsealed = ApiKeyAuth(key_field="login", header="X-Key: {apiKey}")
    with pytest.raises(ValueError, match="secret"):
        ConnectorSpec(**base, auth_methods=("apiKey",), api_key=unsealed)
    assert ConnectorSpec(**base, auth_methods=("apiKey",), api_key=key).api_key == key


def test_an_api_key_config_puts_key_and_secret_in_their_fields() -> None:
    assert api_key_config(
        WITH_SECRET, api_key="alice", api_secret="s3cret", config={"apiUrl": "https://x"}
    ) == {"apiUrl": "https://x", "user": "alice", "password": "s3cret"}
    for kwargs, field in (
        ({"api_secret": None, "config": {}}, "apiSecret"),
        ({"api_secret": "s", "config": {"password": "p"}}, "config.password"),
        ({"api_secret": "s", "config": {"user": "u"}}, "config.user"),
    ):
        with pytest.raises(ApiError) as refused:
            api_key_config(WITH_SECRET, api_key="k", **kwargs)
        assert refused.value.status == 400 and refused.value.details["field"] == field
        assert "s3cret" not in refused.value.message
