"""The `gitlab` connector against a fake GitLab: REST v4 on uvicorn, git by `git http-backend`."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.connectors import (
    ConfigError,
    ConnectorError,
    GitlabConnector,
    open_connector,
    validate_config,
)
from tests.fakes.gitlab_server import (
    THROTTLED_BODY,
    FakeGitlabServer,
    gitlab_server_fixture,  # noqa: F401  (provides the `gitlab_server` fixture)
)
from tests.integration.codehost_contract import (
    HOOK_SECRET,
    HOOK_URL,
    TEST_RETRY,
    CodeHostContract,
    Connect,
)

OWNER = "acme/backend"  # a group with a subgroup
NAME = "api"
ENCODED = "acme%2Fbackend%2Fapi"

pytestmark = pytest.mark.slow


class TestGitlab(CodeHostContract):
    type = "gitlab"
    owner = OWNER
    name = NAME
    push_events = ["push_events"]

    @pytest.fixture
    def host(self, gitlab_server: FakeGitlabServer) -> FakeGitlabServer:
        return gitlab_server

    def test_project_and_branch_are_addressed_url_encoded(
        self, connect: Connect, host: FakeGitlabServer
    ) -> None:
        connect(branch="main").repository()
        paths = [r.path for r in host.api_requests()]
        assert paths == [
            f"/api/v4/projects/{ENCODED}",
            f"/api/v4/projects/{ENCODED}/languages",
            f"/api/v4/projects/{ENCODED}/repository/branches/main",
        ]
        assert all(
            r.headers["authorization"] == f"Bearer {host.token}" for r in host.api_requests()
        )

    def test_languages_are_percentages_largest_first(self, connect: Connect) -> None:
        assert dict(connect().repository().languages) == {"Python": 80.0, "Markdown": 20.0}

    def test_hook_subscribes_to_push_events_only_with_tls_verified(
        self, connect: Connect, host: FakeGitlabServer
    ) -> None:
        hook_id = connect().create_hook(url=HOOK_URL, secret=HOOK_SECRET)
        body = host.hooks(f"{OWNER}/{NAME}")[hook_id]
        assert body["url"] == HOOK_URL and body["enable_ssl_verification"] is True

    def test_throttle_waits_retry_after(
        self, connect: Connect, host: FakeGitlabServer, waits: list[float]
    ) -> None:
        host.rate_limit(retry_after=2, reset_in_s=30)
        assert connect().repository().default_branch == "main"
        assert waits == [2.0]

    def test_throttle_without_retry_after_waits_until_the_reset(
        self, connect: Connect, host: FakeGitlabServer, waits: list[float]
    ) -> None:
        host.rate_limit(retry_after=None, reset_in_s=3)
        assert connect().head_sha()
        assert len(waits) == 1 and 2.0 <= waits[0] <= 4.0

    def test_throttle_that_outlasts_the_retries_is_transient(
        self, connect: Connect, host: FakeGitlabServer, waits: list[float]
    ) -> None:
        host.rate_limit(retry_after=1, reset_in_s=1, times=TEST_RETRY.attempts)
        with pytest.raises(ConnectorError) as caught:
            connect().repository()
        assert caught.value.transient and caught.value.details["status"] == 429
        assert THROTTLED_BODY.strip() in caught.value.message
        assert waits == [1.0] * (TEST_RETRY.attempts - 1)

    def test_reset_beyond_the_longest_wait_fails_at_once(
        self, connect: Connect, host: FakeGitlabServer, waits: list[float]
    ) -> None:
        host.rate_limit(retry_after=None, reset_in_s=3600)
        with pytest.raises(ConnectorError) as caught:
            connect().repository()
        assert caught.value.transient
        assert caught.value.details["retryAfterSeconds"] > TEST_RETRY.max_wait_s
        assert waits == []

    def test_field_errors_are_worded(self, connect: Connect, host: FakeGitlabServer) -> None:
        blocked = "is blocked: Requests to the local network are not allowed"
        host.script_response(422, {"message": {"url": [blocked]}})
        with pytest.raises(ConnectorError, match=f"url: {blocked}") as caught:
            connect().create_hook(url=HOOK_URL, secret=HOOK_SECRET)
        assert caught.value.details["status"] == 422


def test_open_connector_derives_the_git_url(tmp_path: Path) -> None:
    config = {"owner": OWNER, "repo": NAME}
    with open_connector("gitlab", config, workdir=tmp_path) as connector:
        assert isinstance(connector, GitlabConnector)
        assert connector.api_url == "https://gitlab.com/api/v4"
        assert connector.url == f"https://gitlab.com/{OWNER}/{NAME}.git"
    override = {**config, "gitUrl": "https://git.example.com/mirror"}
    with open_connector("gitlab", override, workdir=tmp_path) as connector:
        assert isinstance(connector, GitlabConnector)
        assert connector.url == f"https://git.example.com/mirror/{OWNER}/{NAME}.git"


@pytest.mark.parametrize(
    ("api_url", "expected"),
    [
        ("https://gitlab.com/api/v4", "https://gitlab.com"),
        ("https://git.example.com/api/v4/", "https://git.example.com"),
        ("https://example.com/gitlab/api/v4", "https://example.com/gitlab"),
        ("https://api.example.com/api/v4", "https://api.example.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_git_base_url(api_url: str, expected: str) -> None:
    assert GitlabConnector.git_base_url(api_url) == expected


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"repo": NAME}, "config.owner"),
        ({"owner": OWNER}, "config.repo"),
        ({"owner": "-bad", "repo": NAME}, "config.owner"),
        ({"owner": "acme//sub", "repo": NAME}, "config.owner"),
        ({"owner": "acme/", "repo": NAME}, "config.owner"),
        ({"owner": OWNER, "repo": "a/b"}, "config.repo"),
        ({"owner": OWNER, "repo": "api.git"}, "config.repo"),
        ({"owner": OWNER, "repo": NAME, "branch": "a..b"}, "config.branch"),
        ({"owner": OWNER, "repo": NAME, "token": ""}, "config.token"),
        ({"owner": OWNER, "repo": NAME, "apiUrl": "ftp://x"}, "config.apiUrl"),
        ({"owner": OWNER, "repo": NAME, "gitUrl": "gitlab.com"}, "config.gitUrl"),
        ({"owner": OWNER, "repo": NAME, "url": "x"}, "config.url"),
    ],
)
def test_invalid_config_names_the_field(config: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config("gitlab", config)
    assert caught.value.field == field


def test_subgroups_and_dots_are_valid() -> None:
    config = {"owner": "acme/platform.team/backend_1", "repo": "api.v2", "branch": "feature/x"}
    assert validate_config("gitlab", config) == config
