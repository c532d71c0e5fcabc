"""The `github` connector against a fake GitHub: REST on uvicorn, git by `git http-backend`."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from resources.connectors import (
    ConfigError,
    ConnectorError,
    GithubConnector,
    RetryPolicy,
    SourceUnavailable,
    connector_types,
    open_connector,
    validate_config,
)
from resources.connectors import git as git_module
from tests.fakes.github_server import (
    PRIMARY_LIMIT_MESSAGE,
    SECONDARY_LIMIT_MESSAGE,
    FakeGithubServer,
    github_server_fixture,  # noqa: F401  (provides the `github_server` fixture)
)
from tests.gitrepo import commit_all, git, head, seeded_repository, write
from tests.integration.codehost_contract import (
    HOOK_SECRET,
    HOOK_URL,
    HookContract,
    PipelineContract,
)

OWNER = "confuse"
NAME = "api-backend"
SEED_FILTERS = {
    "includePaths": ["src/**", "docs/**"],
    "excludePaths": ["node_modules/**", "*.lock"],
}
TEST_RETRY = RetryPolicy(attempts=3, backoff_s=0.01, rate_limit_wait_s=0.02, max_wait_s=30.0)

Connect = Callable[..., GithubConnector]

pytestmark = pytest.mark.slow


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A working repository whose commits are pushed to the served one."""
    return seeded_repository(tmp_path / "work")


@pytest.fixture
def served(github_server: FakeGithubServer, work: Path) -> Path:
    """The bare repository GitHub serves as confuse/api-backend."""
    bare = github_server.add_repository(OWNER, NAME, source=work)
    git(work, "remote", "add", "origin", str(bare))
    return bare


@pytest.fixture
def waits() -> list[float]:
    """Every wait the connector asked for (recorded instead of slept)."""
    return []


@pytest.fixture
def connect(
    github_server: FakeGithubServer, served: Path, tmp_path: Path, waits: list[float]
) -> Iterator[Connect]:
    opened: list[GithubConnector] = []

    def make(**overrides: Any) -> GithubConnector:
        config = {
            "owner": OWNER,
            "repo": NAME,
            "token": github_server.token,
            "apiUrl": github_server.api_url,
            **overrides,
        }
        connector = GithubConnector(
            validate_config("github", config),
            workdir=tmp_path / "cache",
            retry=TEST_RETRY,
            sleep=waits.append,
        )
        opened.append(connector)
        return connector

    yield make
    for connector in opened:
        connector.close()


def test_registered_with_the_token_secret() -> None:
    spec = {spec.type: spec for spec in connector_types()}["github"]
    assert spec.category == "code"
    assert spec.secret_fields == ("token",)
    assert {"owner", "repo", "branch", "includePaths", "excludePaths"} <= set(
        spec.config_schema["properties"]
    )


def test_full_listing_with_include_and_exclude(connect: Connect, work: Path) -> None:
    connector = connect(**SEED_FILTERS)
    changes = connector.changes(cursor=None, known={})
    upserts = list(changes.upserts)
    assert [entry.path for entry in upserts] == [
        "docs/guide.md",
        "docs/old.md",
        "src/app.py",
        "src/util.py",
    ]
    assert changes.deletes == []
    assert changes.cursor == head(work)
    contents = {item.entry.path: item.data for item in connector.fetch(upserts)}
    assert contents["src/app.py"] == b"print('app')\n"


def test_pushed_commit_gives_exactly_its_changes(connect: Connect, work: Path) -> None:
    connector = connect(**SEED_FILTERS)
    first = connector.changes(cursor=None, known={})
    known = {entry.path: entry.version for entry in first.upserts}

    write(work, {"src/app.py": "print('app v2')\n", "src/new.py": "NEW = 1\n"})
    (work / "src/util.py").unlink()
    git(work, "mv", "docs/old.md", "docs/renamed.md")
    write(work, {"README.md": "# Readme v2\n"})  # outside includePaths: no change to see
    commit_all(work, "modify, add, delete, rename")
    git(work, "push", "--quiet", "origin", "main")

    second = connector.changes(cursor=first.cursor, known=known)
    upserts = {entry.path: entry for entry in second.upserts}
    assert sorted(upserts) == ["docs/renamed.md", "src/app.py", "src/new.py"]
    assert second.deletes == ["docs/old.md", "src/util.py"]
    assert second.renames == [("docs/old.md", "docs/renamed.md")]
    assert second.description.startswith("git diff")
    fetched = {item.entry.path: item.data for item in connector.fetch(upserts.values())}
    assert fetched == {
        "docs/renamed.md": b"# Old\n",
        "src/app.py": b"print('app v2')\n",
        "src/new.py": b"NEW = 1\n",
    }


def test_token_stays_out_of_argv_logs_errors_and_the_cache(
    connect: Connect,
    github_server: FakeGithubServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    argv: list[list[str]] = []
    real_popen = subprocess.Popen

    def recording_popen(args: Any, *rest: Any, **kwargs: Any) -> Any:
        argv.append([str(arg) for arg in args])
        return real_popen(args, *rest, **kwargs)

    monkeypatch.setattr(git_module.subprocess, "Popen", recording_popen)
    token = github_server.token
    connector = connect()
    connector.check()
    changes = connector.changes(cursor=None, known={})
    list(connector.fetch(changes.upserts))
    connector.repository()
    assert connector.batch_process is not None
    assert isinstance(connector.batch_process.args, list)
    batch_args = [str(arg) for arg in connector.batch_process.args]

    texts: list[str] = []
    for bad in (connect(token="ghp_wrong_token"), connect(repo="missing")):
        for action in (bad.repository, lambda bad=bad: bad.changes(cursor=None, known={})):
            with pytest.raises(ConnectorError) as caught:
                action()
            texts += [str(caught.value), repr(caught.value.details)]
        texts.append(repr(bad.check()))

    git_commands = [command for command in argv if command[0] == "git"]
    assert any("fetch" in command for command in git_commands)
    texts += [" ".join(command) for command in [*argv, batch_args]]
    texts += [record.getMessage() for record in caplog.records]
    texts.append((tmp_path / "cache" / "repo.git" / "config").read_text())
    assert not [text for text in texts if token in text or "ghp_wrong_token" in text]
    # Git did authenticate: the fake refuses git requests without the token.
    git_requests = [r for r in github_server.requests if not r.path.startswith("/api/")]
    assert git_requests and all(r.headers.get("authorization") for r in git_requests)


def test_api_requests_carry_githubs_headers(
    connect: Connect, github_server: FakeGithubServer
) -> None:
    connect().repository()
    api_requests = [r for r in github_server.requests if r.path.startswith("/api/")]
    assert [r.path.rsplit(NAME, 1)[1] for r in api_requests] == ["", "/languages", "/branches/main"]
    for request in api_requests:
        assert request.headers["authorization"] == f"Bearer {github_server.token}"
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == "2022-11-28"


def test_repository_metadata_and_head(connect: Connect, work: Path) -> None:
    git(work, "checkout", "--quiet", "-b", "feature")
    write(work, {"src/feature.py": "F = 1\n"})
    commit_all(work, "feature")
    git(work, "push", "--quiet", "origin", "feature")
    feature_head = head(work)

    default = connect().repository()
    assert default.full_name == f"{OWNER}/{NAME}"
    assert (default.default_branch, default.branch) == ("main", "main")
    assert default.private and default.visibility == "private"
    assert list(default.languages) == ["Python", "Markdown"]
    assert default.head_sha != feature_head

    feature = connect(branch="feature")
    assert feature.repository().head_sha == feature_head == feature.head_sha()
    assert [e.path for e in feature.changes(cursor=None, known={}).upserts].count(
        "src/feature.py"
    ) == 1


def test_branches_follow_link_pagination(
    connect: Connect, work: Path, github_server: FakeGithubServer
) -> None:
    names = [f"b{i}" for i in range(5)]
    for name in names:
        git(work, "branch", name)
    git(work, "push", "--quiet", "origin", *names)
    connector = connect()
    assert sorted(connector.branches()) == sorted([*names, "main"])
    paged = list(connector.api.paginate(f"/repos/{OWNER}/{NAME}/branches", params={"per_page": 2}))
    assert sorted(item["name"] for item in paged) == sorted([*names, "main"])
    pages = [r for r in github_server.requests if r.path.endswith("/branches")]
    assert len(pages) == 1 + 3  # one page of 100, then three pages of 2


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_rate_limit_waits_retry_after_then_succeeds(
    connect: Connect, github_server: FakeGithubServer, waits: list[float], status: int
) -> None:
    github_server.secondary_rate_limit(retry_after=2, status=status)
    assert connect().repository().default_branch == "main"
    assert waits == [2.0]


def test_primary_rate_limit_waits_until_the_reset(
    connect: Connect, github_server: FakeGithubServer, waits: list[float]
) -> None:
    github_server.primary_rate_limit(reset_in_s=3)
    assert connect().head_sha()
    assert len(waits) == 1 and 2.0 <= waits[0] <= 4.0


def test_secondary_rate_limit_without_headers_backs_off(
    connect: Connect, github_server: FakeGithubServer, waits: list[float]
) -> None:
    github_server.secondary_rate_limit(retry_after=None, times=2)
    assert connect().branches() == ["main"]
    assert waits == [TEST_RETRY.rate_limit_wait_s, TEST_RETRY.rate_limit_wait_s * 2]


def test_rate_limit_that_outlasts_the_retries_is_transient_with_githubs_message(
    connect: Connect, github_server: FakeGithubServer, waits: list[float]
) -> None:
    github_server.secondary_rate_limit(retry_after=1, times=TEST_RETRY.attempts)
    with pytest.raises(ConnectorError) as caught:
        connect().repository()
    assert caught.value.transient
    assert SECONDARY_LIMIT_MESSAGE in caught.value.message
    assert caught.value.details["attempts"] == TEST_RETRY.attempts
    assert waits == [1.0] * (TEST_RETRY.attempts - 1)


def test_reset_beyond_the_longest_wait_fails_at_once(
    connect: Connect, github_server: FakeGithubServer, waits: list[float]
) -> None:
    github_server.primary_rate_limit(reset_in_s=3600, status=429)
    with pytest.raises(ConnectorError) as caught:
        connect().repository()
    assert caught.value.transient and PRIMARY_LIMIT_MESSAGE in caught.value.message
    assert caught.value.details["retryAfterSeconds"] > TEST_RETRY.max_wait_s
    assert waits == []


def test_server_errors_are_retried_with_backoff(
    connect: Connect, github_server: FakeGithubServer, waits: list[float]
) -> None:
    github_server.script(502, "Server Error", times=2)
    assert connect().head_sha()
    assert waits == [TEST_RETRY.backoff_s, TEST_RETRY.backoff_s * 2]


def test_forbidden_without_rate_limit_is_not_retried(
    connect: Connect, github_server: FakeGithubServer, waits: list[float]
) -> None:
    github_server.script(403, "Resource not accessible by personal access token")
    with pytest.raises(ConnectorError, match="not accessible") as caught:
        connect().repository()
    assert not caught.value.transient and waits == []


def test_bad_credentials(connect: Connect) -> None:
    connector = connect(token="ghp_wrong_token")
    with pytest.raises(ConnectorError, match="bad credentials") as caught:
        connector.repository()
    assert not caught.value.transient
    assert caught.value.details["status"] == 401
    assert caught.value.details["documentationUrl"].startswith("https://docs.github.com/")
    with pytest.raises(SourceUnavailable, match="bad credentials, or repository not found"):
        connector.changes(cursor=None, known={})


def test_missing_repository_and_branch(connect: Connect) -> None:
    with pytest.raises(SourceUnavailable, match="not found or no access") as caught:
        connect(repo="missing").repository()
    assert not caught.value.transient
    assert caught.value.details["repository"] == f"{OWNER}/missing"
    with pytest.raises(SourceUnavailable, match="branch 'nope'"):
        connect(branch="nope").head_sha()
    with pytest.raises(SourceUnavailable, match="branch 'nope' not found"):
        connect(branch="nope").changes(cursor=None, known={})


def test_check_reports_both_steps_with_timings(connect: Connect) -> None:
    result = connect().check()
    assert result.ok, result.message
    assert [step.name for step in result.steps] == [f"GET /repos/{OWNER}/{NAME}", "git ls-remote"]
    assert all(step.ok and step.duration_ms > 0 for step in result.steps)
    assert result.details["defaultBranch"] == "main"
    assert result.details["visibility"] == "private"
    assert len(result.details["head"]) == 40
    assert result.message.startswith(f"Reached {OWNER}/{NAME}: branch main at ")


def test_check_stops_at_the_api_failure(connect: Connect) -> None:
    result = connect(repo="missing").check()
    assert not result.ok and not result.transient
    assert "not found or no access" in result.message
    assert [(step.name, step.ok) for step in result.steps] == [
        (f"GET /repos/{OWNER}/missing", False)
    ]


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


class TestGithubHooksAndPipeline(HookContract, PipelineContract):
    type = "github"
    owner = OWNER
    name = NAME
    push_events = ["push"]

    @staticmethod
    def subscription(body: dict[str, Any]) -> tuple[list[str], str]:
        return body["events"], body["config"]["secret"]

    @pytest.fixture
    def host(self, github_server: FakeGithubServer) -> FakeGithubServer:
        return github_server

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
