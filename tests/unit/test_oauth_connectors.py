"""Which connectors OAuth connections serve, and what such a connection and its sources hold."""

from __future__ import annotations

import pytest

from resources.connectors import ConfigError
from resources.connectors.gdrive import GdriveConnector
from resources.connectors.registry import (
    OAUTH_CONNECTORS,
    connection_connector,
    source_config_with,
    validate_connection_config,
)
from resources.oauth.providers import PROVIDERS
from resources.webhooks.drive import Notification


def test_each_oauth_provider_serves_the_connector_whose_spec_names_it() -> None:
    assert {p: cls.spec.type for p, cls in OAUTH_CONNECTORS.items()} == {
        "github": "github",
        "gitlab": "gitlab",
        "google": "gdrive",
    }
    assert set(OAUTH_CONNECTORS) <= set(PROVIDERS)
    assert all("oauth2" in cls.spec.auth_methods for cls in OAUTH_CONNECTORS.values())
    assert connection_connector("google", oauth=True) is GdriveConnector
    with pytest.raises(ConfigError) as caught:
        connection_connector("dropbox", oauth=True)
    assert caught.value.field == "type"


def test_an_oauth_connection_holds_endpoints_never_a_token() -> None:
    assert validate_connection_config("google", {}, oauth=True) == {}
    endpoints = {"apiUrl": "https://proxy.example.com/drive/v3"}
    assert validate_connection_config("google", endpoints, oauth=True) == endpoints
    with pytest.raises(ConfigError) as caught:
        validate_connection_config("google", {"token": "ya29.x"}, oauth=True)
    assert caught.value.field == "config.token"
    with pytest.raises(ConfigError) as needed:
        validate_connection_config("gdrive", {})  # a token connection needs its token
    assert needed.value.field == "config.token"


def test_a_source_on_an_oauth_connection_is_valid_without_its_token() -> None:
    own = {"folderId": "1abc"}
    assert source_config_with("gdrive", own, {}, oauth=True) == own
    with pytest.raises(ConfigError) as caught:
        source_config_with("gdrive", own, {})
    assert caught.value.field == "config.token"


@pytest.mark.parametrize(
    ("number", "read"),
    [("7", 7), ("", None), ("x1", None), ("٣", None), ("9" * 19, None), ("9" * 5000, None)],
)
def test_a_notification_keeps_only_a_plain_message_number(number: str, read: int | None) -> None:
    headers = {"x-goog-channel-id": "c", "X-Goog-Message-Number": number}
    notification = Notification.read(headers, body=b"", remote_addr=None)
    assert notification.message_number == read and notification.channel_id == "c"
