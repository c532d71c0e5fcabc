"""The `github` connector against a fake GitHub: REST on uvicorn, git by `git http-backend`.

What every code host does is in `codehost_contract`; here are GitHub's own headers, primary
and secondary rate limits, error details and hook shape, and its config.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.connectors import (
    ConfigError,
    ConnectorError,
    GithubConnector,
    open_connector,
    validate_config,
)
from tests.fakes.github_server import (
    PRIMARY_LIMIT_MESSAGE,
    SECONDARY_LIMIT_MESSAGE,
    FakeGithubServer,
    github_server_fixture,  # noqa: F401  (provides the `github_server` fixture)
)
from tests.integration.codehost_contract import (
    HOOK_SECRET,
    HOOK_URL,
    TEST_RETRY,
    WRONG_TOKEN,
    CodeHostContract,
    Connect,
)

OWNER = "confuse"
NAME = "api-backend"

pytestmark = pytest.mark.slow


class TestGithub(CodeHostContract):
    type = "github"
    owner = OWNER
    name = NAME
    push_events = ["push"]

    @pytest.fixture
    def host(self, github_server: FakeGithubServer) -> FakeGithubServer:
        return github_server

    def test_api_requests_carry_githubs_headers(
        self, connect: Connect, host: FakeGithubServer
    ) -> None:
        connect().repository()
        api_requests = [r for r in host.requests if r.path.startswith("/api/")]
        assert [r.path.rsplit(NAME, 1)[1] for r in api_requests] == [
            "",
            "/languages",
            "/branches/main",
        ]
        for request in api_requests:
            assert request.headers["authorization"] == f"Bearer {host.token}"
            assert request.headers["accept"] == "application/vnd.github+json"
            assert request.headers["x-github-api-version"] == "2022-11-28"

    @pytest.mark.parametrize("status", [403, 429])
    def test_secondary_rate_limit_waits_retry_after_then_succeeds(
        self, connect: Connect, host: FakeGithubServer, waits: list[float], status: int
    ) -> None:
        host.secondary_rate_limit(retry_after=2, status=status)
        assert connect().repository().default_branch == "main"
        assert waits == [2.0]

    def test_primary_rate_limit_waits_until_the_reset(
        self, connect: Connect, host: FakeGithubServer, waits: list[float]
    ) -> None:
        host.primary_rate_limit(reset_in_s=3)
        assert connect().head_sha()
        assert len(waits) == 1 and 2.0 <= waits[0] <= 4.0

    def test_secondary_rate_limit_without_headers_backs_off(
        self, connect: Connect, host: FakeGithubServer, waits: list[float]
    ) -> None:
        host.secondary_rate_limit(retry_after=None, times=2)
        assert connect().branches() == ["main"]
        assert waits == [TEST_RETRY.rate_limit_wait_s, TEST_RETRY.rate_limit_wait_s * 2]

    def test_rate_limit_that_outlasts_the_retries_is_transient_with_githubs_message(
        self, connect: Connect, host: FakeGithubServer, waits: list[float]
    ) -> None:
        host.secondary_rate_limit(retry_after=1, times=TEST_RETRY.attempts)
        with pytest.raises(ConnectorError) as caught:
            connect().repository()
        assert caught.value.transient
        assert SECONDARY_LIMIT_MESSAGE in caught.value.message
        assert caught.value.details["attempts"] == TEST_RETRY.attempts
        assert waits == [1.0] * (TEST_RETRY.attempts - 1)

    def test_reset_beyond_the_longest_wait_fails_at_once(
        self, connect: Connect, host: FakeGithubServer, waits: list[float]
    ) -> None:
        host.primary_rate_limit(reset_in_s=3600, status=429)
        with pytest.raises(ConnectorError) as caught:
            connect().repository()
        assert caught.value.transient and PRIMARY_LIMIT_MESSAGE in caught.value.message
        assert caught.value.details["retryAfterSeconds"] > TEST_RETRY.max_wait_s
        assert waits == []

    def test_bad_credentials_carry_the_documentation_url(self, connect: Connect) -> None:
        with pytest.raises(ConnectorError, match="bad credentials") as caught:
            connect(token=WRONG_TOKEN).repository()
        assert caught.value.details["documentationUrl"].startswith("https://docs.github.com/")

    def test_hook_is_a_web_hook_with_json_payloads(
        self, connect: Connect, host: FakeGithubServer
    ) -> None:
        hook_id = connect().create_hook(url=HOOK_URL, secret=HOOK_SECRET)
        body = host.hooks(f"{OWNER}/{NAME}")[hook_id]
        assert (body["name"], body["active"]) == ("web", True)
        assert body["config"] == {
            "url": HOOK_URL,
            "content_type": "json",
            "secret": HOOK_SECRET,
            "insecure_ssl": "0",
        }


def test_open_connector_derives_the_git_url(tmp_path: Path) -> None:
    config = {"owner": OWNER, "repo": NAME, "apiUrl": "https://ghe.example.com/api/v3/"}
    with open_connector("github", config, workdir=tmp_path) as connector:
        assert isinstance(connector, GithubConnector)
        assert connector.url == f"https://ghe.example.com/{OWNER}/{NAME}.git"
    override = {**config, "gitUrl": "https://git.example.com/mirror"}
    with open_connector("github", override, workdir=tmp_path) as connector:
        assert isinstance(connector, GithubConnector)
        assert connector.url == f"https://git.example.com/mirror/{OWNER}/{NAME}.git"


@pytest.mark.parametrize(
    ("api_url", "expected"),
    [
        ("https://api.github.com", "https://github.com"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com"),
        ("https://api.acme.ghe.com", "https://acme.ghe.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_git_base_url(api_url: str, expected: str) -> None:
    assert GithubConnector.git_base_url(api_url) == expected


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"repo": NAME}, "config.owner"),
        ({"owner": OWNER}, "config.repo"),
        ({"owner": "-bad", "repo": NAME}, "config.owner"),
        ({"owner": OWNER, "repo": "a/b"}, "config.repo"),
        ({"owner": OWNER, "repo": NAME, "branch": "a..b"}, "config.branch"),
        ({"owner": OWNER, "repo": NAME, "token": ""}, "config.token"),
        ({"owner": OWNER, "repo": NAME, "apiUrl": "ftp://x"}, "config.apiUrl"),
        ({"owner": OWNER, "repo": NAME, "gitUrl": "github.com"}, "config.gitUrl"),
        ({"owner": OWNER, "repo": NAME, "includePaths": "src"}, "config.includePaths"),
        ({"owner": OWNER, "repo": NAME, "url": "x"}, "config.url"),
    ],
)
def test_invalid_config_names_the_field(config: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config("github", config)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_token_is_not_echoed_by_validation() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config("github", {"owner": OWNER, "repo": NAME, "token": 12345678901})
    assert caught.value.field == "config.token"
    assert "12345678901" not in str(caught.value) + repr(caught.value.details)
