"""The `bitbucket` connector against a fake Bitbucket Cloud: REST 2.0, git by `http-backend`."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.connectors import (
    BitbucketConnector,
    ConfigError,
    ConnectorError,
    open_connector,
    validate_config,
)
from resources.connectors.base import HookNotPermitted
from tests.fakes.bitbucket_server import (
    RATE_LIMIT_MESSAGE,
    FakeBitbucketServer,
    bitbucket_server_fixture,  # noqa: F401  (provides the `bitbucket_server` fixture)
)
from tests.integration.codehost_contract import (
    HOOK_SECRET,
    HOOK_URL,
    TEST_RETRY,
    CodeHostContract,
    Connect,
)

OWNER = "acme"
NAME = "api-backend"

pytestmark = pytest.mark.slow


class TestBitbucket(CodeHostContract):
    type = "bitbucket"
    owner = OWNER
    name = NAME
    push_events = ["repo:push"]

    @pytest.fixture
    def host(self, bitbucket_server: FakeBitbucketServer) -> FakeBitbucketServer:
        return bitbucket_server

    def test_metadata_comes_from_the_repository_and_its_branch(
        self, connect: Connect, host: FakeBitbucketServer
    ) -> None:
        repository = connect().repository()
        assert dict(repository.languages) == {"python": 100.0}
        assert repository.html_url == f"{host.url}/{OWNER}/{NAME}"
        assert [r.path for r in host.api_requests()] == [
            f"/2.0/repositories/{OWNER}/{NAME}",
            f"/2.0/repositories/{OWNER}/{NAME}/refs/branches/main",
        ]

    def test_hook_ids_are_uuids_in_braces(self, connect: Connect) -> None:
        connector = connect()
        hook_id = connector.create_hook(url=HOOK_URL, secret=HOOK_SECRET)
        assert hook_id.startswith("{") and hook_id.endswith("}")

    def test_missing_scope_is_a_hook_refusal_with_the_scopes(
        self, connect: Connect, host: FakeBitbucketServer
    ) -> None:
        host.hooks_permitted = False
        with pytest.raises(HookNotPermitted, match="lack one or more required") as caught:
            connect().create_hook(url=HOOK_URL, secret=HOOK_SECRET)
        assert caught.value.details["detail"]["required"] == ["webhook"]

    def test_rate_limit_without_retry_after_backs_off(
        self, connect: Connect, host: FakeBitbucketServer, waits: list[float]
    ) -> None:
        host.rate_limit(times=2)
        assert connect().branches() == ["main"]
        assert waits == [TEST_RETRY.rate_limit_wait_s, TEST_RETRY.rate_limit_wait_s * 2]

    def test_rate_limit_with_retry_after_waits_that_long(
        self, connect: Connect, host: FakeBitbucketServer, waits: list[float]
    ) -> None:
        host.rate_limit(retry_after=2)
        assert connect().repository().default_branch == "main"
        assert waits == [2.0]

    def test_rate_limit_that_outlasts_the_retries_is_transient(
        self, connect: Connect, host: FakeBitbucketServer, waits: list[float]
    ) -> None:
        host.rate_limit(times=TEST_RETRY.attempts)
        with pytest.raises(ConnectorError) as caught:
            connect().head_sha()
        assert caught.value.transient and caught.value.details["status"] == 429
        assert RATE_LIMIT_MESSAGE in caught.value.message
        assert len(waits) == TEST_RETRY.attempts - 1

    def test_private_repository_without_a_token_is_refused(self, connect: Connect) -> None:
        with pytest.raises(ConnectorError, match="may not have access") as caught:
            connect(token=None).repository()
        assert caught.value.details["status"] == 403 and not caught.value.transient

    def test_a_next_page_on_another_host_is_not_followed(
        self, connect: Connect, host: FakeBitbucketServer
    ) -> None:
        elsewhere = "https://elsewhere.example.com/2.0/repositories/acme/api-backend/refs/branches"
        host.script_response(200, {"values": [{"name": "main"}], "next": f"{elsewhere}?page=2"})
        with pytest.raises(ConnectorError, match="next page link leaves") as caught:
            connect().branches()
        assert caught.value.details["next"] == elsewhere
        assert not [r for r in host.requests if "elsewhere" in r.headers.get("host", "")]


def test_open_connector_derives_the_git_url(tmp_path: Path) -> None:
    config = {"owner": OWNER, "repo": NAME}
    with open_connector("bitbucket", config, workdir=tmp_path) as connector:
        assert isinstance(connector, BitbucketConnector)
        assert connector.api_url == "https://api.bitbucket.org/2.0"
        assert connector.url == f"https://bitbucket.org/{OWNER}/{NAME}.git"
    override = {**config, "gitUrl": "https://git.example.com"}
    with open_connector("bitbucket", override, workdir=tmp_path) as connector:
        assert isinstance(connector, BitbucketConnector)
        assert connector.url == f"https://git.example.com/{OWNER}/{NAME}.git"


@pytest.mark.parametrize(
    ("api_url", "expected"),
    [
        ("https://api.bitbucket.org/2.0", "https://bitbucket.org"),
        ("https://api.bitbucket.org/2.0/", "https://bitbucket.org"),
        ("http://127.0.0.1:8080/2.0", "http://127.0.0.1:8080"),
    ],
)
def test_git_base_url(api_url: str, expected: str) -> None:
    assert BitbucketConnector.git_base_url(api_url) == expected


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"repo": NAME}, "config.owner"),
        ({"owner": OWNER}, "config.repo"),
        ({"owner": "acme/sub", "repo": NAME}, "config.owner"),
        ({"owner": "-acme", "repo": NAME}, "config.owner"),
        ({"owner": OWNER, "repo": "a/b"}, "config.repo"),
        ({"owner": OWNER, "repo": ".."}, "config.repo"),
        ({"owner": OWNER, "repo": NAME, "branch": "a..b"}, "config.branch"),
        ({"owner": OWNER, "repo": NAME, "token": ""}, "config.token"),
        ({"owner": OWNER, "repo": NAME, "apiUrl": "ftp://x"}, "config.apiUrl"),
        ({"owner": OWNER, "repo": NAME, "includePaths": "src"}, "config.includePaths"),
    ],
)
def test_invalid_config_names_the_field(config: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config("bitbucket", config)
    assert caught.value.field == field
