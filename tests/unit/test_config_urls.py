"""URL fields of connector configs: what matches the schema's pattern but no parser reads is
refused as bad input, naming the field (it used to pass and fail later as a 500)."""

from __future__ import annotations

import pytest

from resources.connectors import validate_config
from resources.connectors.base import ConfigError

CONFIGS = {
    "github": {"owner": "org", "repo": "api"},
    "gitlab": {"owner": "group/sub", "repo": "api"},
    "bitbucket": {"owner": "workspace", "repo": "api"},
    "gdrive": {"folderId": "1abcDEF", "token": "ya29.token"},
}
UNREADABLE = [
    "https://[zz]/api/v3",  # brackets that hold no IP address
    "https://a]b/api",  # a stray bracket
    "https://host:99999/api",  # a port out of range
    "https://\u00c6\u00e6]+\u00c4/x",  # what schemathesis found: no IDNA host
]


@pytest.mark.parametrize("type_", sorted(CONFIGS))
def test_a_readable_api_url_passes(type_: str) -> None:
    config = {**CONFIGS[type_], "apiUrl": "https://[::1]:8443/api"}
    assert validate_config(type_, config)["apiUrl"] == "https://[::1]:8443/api"


@pytest.mark.parametrize("url", UNREADABLE)
@pytest.mark.parametrize("type_", sorted(CONFIGS))
def test_an_api_url_no_parser_reads_is_refused_with_its_field(type_: str, url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        validate_config(type_, {**CONFIGS[type_], "apiUrl": url})
    assert refused.value.field == "config.apiUrl"
    assert str(refused.value).startswith("config.apiUrl: must be an http(s) URL")
