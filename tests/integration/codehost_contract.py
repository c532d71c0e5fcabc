"""What every code-host connector must do, against its fake: mixed into each provider's tests.

A provider's test module subclasses these with its `type`, repository names and a `host`
fixture (its running fake). `HookContract` covers webhooks, `PipelineContract` a full and an
incremental sync through the real Dagster pipeline, `CodeHostContract` everything.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from resources.connectors import (
    CodeHostConnector,
    ConnectorError,
    RetryPolicy,
    SourceUnavailable,
    connector_class,
    connector_types,
    validate_config,
)
from resources.connectors import git as git_module
from resources.connectors.base import BranchHead, ConnectionTester, HookManager, HookNotPermitted
from resources.lake import Lake
from resources.metadata import MetadataStore
from resources.settings import get_settings
from resources.source_configs import sealed_config
from resources.store import sources
from resources.store.models import JobStatus, SyncType
from resources.vault import Vault
from tests.fakes.codehost import USER_NAME, FakeCodeHost, HookSubscription
from tests.gitrepo import commit_all, git, head, seeded_repository, write
from tests.runs import sync_source, table

TEST_RETRY = RetryPolicy(attempts=3, backoff_s=0.01, rate_limit_wait_s=0.02, max_wait_s=30.0)
SEED_FILTERS = {
    "includePaths": ["src/**", "docs/**"],
    "excludePaths": ["node_modules/**", "*.lock"],
}
SEED_SYNCED = ["docs/guide.md", "docs/old.md", "src/app.py", "src/util.py"]
HOOK_URL = "https://headwater.example.com/webhooks/provider"
HOOK_SECRET = "whsec_generated_0123456789abcdef"
WRONG_TOKEN = "wrong_token_9876543210"
CHUNK_PATHS = "SELECT chunk_id, path FROM t"

Connect = Callable[..., CodeHostConnector]


def push_changes(work: Path) -> None:
    """Modify, add, delete and rename a synced file, touch an excluded one, and push."""
    write(work, {"src/app.py": "print('app v2')\n", "src/new.py": "NEW = 1\n"})
    (work / "src/util.py").unlink()
    git(work, "mv", "docs/old.md", "docs/renamed.md")
    write(work, {"README.md": "# Readme v2\n"})  # outside includePaths: no change to see
    commit_all(work, "modify, add, delete, rename")
    git(work, "push", "--quiet", "origin", "main")


class CodeHostCase:
    """Fixtures: the provider's fake serves `owner/name`; `connect` opens connectors to it.

    Subclasses set `type`, `owner` and `name`, and define the fixture `host`.
    """

    type: ClassVar[str]
    owner: ClassVar[str]
    name: ClassVar[str]

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def config(self, host: FakeCodeHost, **overrides: Any) -> dict[str, Any]:
        """A source config for the served repository, with the right token.

        An override of None leaves the field out.
        """
        config = {
            "owner": self.owner,
            "repo": self.name,
            "token": host.token,
            "apiUrl": host.api_url,
            **overrides,
        }
        return {key: value for key, value in config.items() if value is not None}

    @pytest.fixture
    def work(self, tmp_path: Path) -> Path:
        """A working repository whose commits are pushed to the served one."""
        return seeded_repository(tmp_path / "work")

    @pytest.fixture
    def served(self, host: FakeCodeHost, work: Path) -> Path:
        """The bare repository the fake serves as `owner/name`."""
        bare = host.add_repository(self.owner, self.name, source=work)
        git(work, "remote", "add", "origin", str(bare))
        return bare

    @pytest.fixture
    def waits(self) -> list[float]:
        """Every wait the connector asked for (recorded instead of slept)."""
        return []

    @pytest.fixture
    def connect(
        self, host: FakeCodeHost, served: Path, tmp_path: Path, waits: list[float]
    ) -> Iterator[Connect]:
        opened: list[CodeHostConnector] = []
        cls = connector_class(self.type)
        assert issubclass(cls, CodeHostConnector)

        def make(**overrides: Any) -> CodeHostConnector:
            config = validate_config(self.type, self.config(host, **overrides))
            connector = cls(
                config, workdir=tmp_path / "cache", retry=TEST_RETRY, sleep=waits.append
            )
            opened.append(connector)
            return connector

        yield make
        for connector in opened:
            connector.close()


class HookContract(CodeHostCase):
    """Push webhooks: created with the secret for push events only, deleted, refused.

    Subclasses set `push_events`, the provider's names of the events a hook subscribes to.
    """

    push_events: ClassVar[list[str]]

    def test_is_a_hook_manager_and_a_branch_head(self, connect: Connect) -> None:
        connector = connect()
        assert isinstance(connector, HookManager) and isinstance(connector, BranchHead)

    def test_create_list_and_delete_a_push_hook(self, connect: Connect, host: FakeCodeHost) -> None:
        connector = connect()
        hook_id = connector.create_hook(url=HOOK_URL, secret=HOOK_SECRET)
        hooks = host.hooks(self.full_name)
        assert list(hooks) == [hook_id]
        assert host.subscription(hooks[hook_id]) == HookSubscription(
            HOOK_URL, self.push_events, HOOK_SECRET
        )
        listed = list(connector.api.paginate(f"{connector.repo_path}{connector.hooks_path}"))
        assert [str(item[connector.hook_id_field]) for item in listed] == [hook_id]
        assert HOOK_SECRET not in repr(listed)  # the provider never shows the secret again

        connector.delete_hook(hook_id)
        assert host.hooks(self.full_name) == {}
        connector.delete_hook(hook_id)  # already gone: fine
        deletes = [r for r in host.api_requests() if r.method == "DELETE"]
        assert len(deletes) == 2

    def test_a_token_that_may_not_manage_hooks(
        self, connect: Connect, host: FakeCodeHost, waits: list[float]
    ) -> None:
        connector = connect()
        hook_id = connector.create_hook(url=HOOK_URL, secret=HOOK_SECRET)
        host.hooks_permitted = False
        with pytest.raises(HookNotPermitted, match="may not manage webhooks") as caught:
            connector.create_hook(url=HOOK_URL, secret=HOOK_SECRET)
        assert caught.value.details["status"] in (403, 404) and not caught.value.transient
        with pytest.raises(HookNotPermitted):
            connector.delete_hook(hook_id)
        assert list(host.hooks(self.full_name)) == [hook_id] and waits == []

    def test_a_bad_token_is_not_a_hook_refusal(self, connect: Connect) -> None:
        with pytest.raises(ConnectorError, match="bad credentials") as caught:
            connect(token=WRONG_TOKEN).create_hook(url=HOOK_URL, secret=HOOK_SECRET)
        assert not isinstance(caught.value, HookNotPermitted)

    def test_hook_creation_is_not_retried_after_a_server_error(
        self, connect: Connect, host: FakeCodeHost, waits: list[float]
    ) -> None:
        host.script(502, "Server Error")
        with pytest.raises(ConnectorError) as caught:
            connect().create_hook(url=HOOK_URL, secret=HOOK_SECRET)
        # The provider may have made the hook before failing: a retry could make two.
        assert caught.value.transient and waits == []
        assert [r.method for r in host.api_requests()] == ["POST"]


class PipelineContract(CodeHostCase):
    """A full sync, then a pushed commit synced incrementally, by real Dagster runs."""

    def test_full_then_incremental_sync_through_the_pipeline(
        self, host: FakeCodeHost, served: Path, work: Path, headwater_home: Path
    ) -> None:
        settings = get_settings()
        store = MetadataStore(database_url=settings.resolved_database_url)
        lake = Lake(url=settings.resolved_data_url)
        config = {**self.config(host), **SEED_FILTERS}
        with store.session() as session:
            source_id = sources.create_source(
                session,
                owner_id="alice",
                tenant_id=None,
                type=self.type,
                name=self.full_name,
                config=sealed_config(Vault.from_settings(settings), self.type, config),
            ).id

        first = sync_source(settings, store, source_id, SyncType.FULL)
        assert first.status is JobStatus.COMPLETED, first.error
        assert first.stats["filesAdded"] == len(SEED_SYNCED)
        documents = table(lake, "documents", source_id, "SELECT path FROM t ORDER BY path")
        assert [path for (path,) in documents] == SEED_SYNCED
        chunks_before = dict(table(lake, "chunks", source_id, CHUNK_PATHS))

        push_changes(work)
        second = sync_source(settings, store, source_id, SyncType.INCREMENTAL)
        assert second.status is JobStatus.COMPLETED, second.error
        stats = second.stats
        assert (stats["filesAdded"], stats["filesChanged"], stats["filesDeleted"]) == (2, 1, 2)
        assert stats["filesTotal"] == 3  # only the changed, added and renamed files were fetched
        chunks_after = dict(table(lake, "chunks", source_id, CHUNK_PATHS))
        new = chunks_after.keys() - chunks_before.keys()
        changed = {"src/app.py", "src/new.py", "docs/renamed.md"}
        assert new and {chunks_after[chunk] for chunk in new} <= changed
        unchanged = {chunk for chunk, path in chunks_before.items() if path == "docs/guide.md"}
        assert unchanged <= chunks_after.keys()
        assert not {"src/util.py", "docs/old.md"} & set(chunks_after.values())

        cache_config = settings.cache_dir / source_id / "repo.git" / "config"
        assert host.token not in cache_config.read_text()
        with store.session() as session:
            stored = sources.get_source(session, source_id)
            assert stored is not None and host.token not in repr(stored.config)


class CodeHostContract(HookContract, PipelineContract):
    """Everything a code-host connector does, besides its provider's own limits and shapes."""

    def test_registered_with_the_token_secret(self) -> None:
        spec = {spec.type: spec for spec in connector_types()}[self.type]
        assert spec.category == "code"
        assert spec.secret_fields == ("token",)
        assert {"owner", "repo", "branch", "includePaths", "excludePaths", "apiUrl"} <= set(
            spec.config_schema["properties"]
        )

    def test_a_connection_test_names_the_user_lists_repositories_and_reads_one(
        self, host: FakeCodeHost, served: Path
    ) -> None:
        cls = connector_class(self.type)
        assert issubclass(cls, ConnectionTester)
        assert {"token", "apiUrl", "gitUrl"} <= set(cls.spec.connection_fields)

        result = cls.test_connection({"token": host.token, "apiUrl": host.api_url})

        assert result.ok, result.message
        assert [step.ok for step in result.steps] == [True, True, True]
        assert all(step.duration_ms >= 0 for step in result.steps)
        whoami, listed, read = (step.detail for step in result.steps)
        assert USER_NAME in whoami and USER_NAME in result.message
        assert self.full_name in listed
        assert read == f"{self.full_name}: default branch main"
        refused = cls.test_connection({"token": WRONG_TOKEN, "apiUrl": host.api_url})
        assert not refused.ok and refused.details["status"] == 401
        assert len(refused.steps) == 1 and WRONG_TOKEN not in repr(refused)

    def test_check_reports_both_steps_with_timings(self, connect: Connect) -> None:
        connector = connect()
        result = connector.check()
        assert result.ok, result.message
        assert [step.name for step in result.steps] == [
            f"GET {connector.repo_path}",
            "git ls-remote",
        ]
        assert all(step.ok and step.duration_ms > 0 for step in result.steps)
        assert result.details["defaultBranch"] == "main"
        assert result.details["visibility"] == "private"
        assert len(result.details["head"]) == 40
        assert result.message.startswith(f"Reached {self.full_name}: branch main at ")

    def test_check_stops_at_the_api_failure(self, connect: Connect) -> None:
        connector = connect(repo="missing")
        result = connector.check()
        assert not result.ok and not result.transient
        assert "not found or no access" in result.message
        assert [(step.name, step.ok) for step in result.steps] == [
            (f"GET {connector.repo_path}", False)
        ]

    def test_full_listing_then_a_pushed_commit_gives_exactly_its_changes(
        self, connect: Connect, work: Path
    ) -> None:
        connector = connect(**SEED_FILTERS)
        first = connector.changes(cursor=None, known={})
        first_upserts = list(first.upserts)
        assert [entry.path for entry in first_upserts] == SEED_SYNCED
        assert first.deletes == [] and first.cursor == head(work)
        known = {entry.path: entry.version for entry in first_upserts}
        contents = {item.entry.path: item.data for item in connector.fetch(first_upserts)}
        assert contents["src/app.py"] == b"print('app')\n"
        push_changes(work)
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

    def test_repository_metadata_and_head(self, connect: Connect, work: Path) -> None:
        git(work, "checkout", "--quiet", "-b", "feature/x")
        write(work, {"src/feature.py": "F = 1\n"})
        commit_all(work, "feature")
        git(work, "push", "--quiet", "origin", "feature/x")
        feature_head = head(work)

        default = connect().repository()
        assert default.full_name == self.full_name
        assert (default.default_branch, default.branch) == ("main", "main")
        assert default.private and default.visibility == "private"
        assert next(iter(default.languages)).lower() == "python"
        assert default.head_sha != feature_head

        feature = connect(branch="feature/x")
        assert feature.repository().head_sha == feature_head == feature.head_sha()
        paths = [entry.path for entry in feature.changes(cursor=None, known={}).upserts]
        assert "src/feature.py" in paths

    def test_branches_follow_pagination(
        self, connect: Connect, work: Path, host: FakeCodeHost
    ) -> None:
        names = [f"b{i}" for i in range(5)]
        for name in names:
            git(work, "branch", name)
        git(work, "push", "--quiet", "origin", *names)
        connector = connect()
        assert sorted(connector.branches()) == sorted([*names, "main"])
        size_param = next(iter(connector.api.page_params))
        path = f"{connector.repo_path}{connector.branches_path}"
        paged = list(connector.api.paginate(path, params={size_param: 2}))
        assert sorted(item["name"] for item in paged) == sorted([*names, "main"])
        pages = [r for r in host.api_requests() if r.path.endswith(connector.branches_path)]
        assert len(pages) == 1 + 3  # one page of 100, then three pages of 2

    def test_server_errors_are_retried_with_backoff(
        self, connect: Connect, host: FakeCodeHost, waits: list[float]
    ) -> None:
        host.script(502, "Server Error", times=2)
        assert connect().head_sha()
        assert waits == [TEST_RETRY.backoff_s, TEST_RETRY.backoff_s * 2]

    def test_forbidden_is_not_retried(
        self, connect: Connect, host: FakeCodeHost, waits: list[float]
    ) -> None:
        host.script(403, "Forbidden by policy")
        with pytest.raises(ConnectorError, match="Forbidden by policy") as caught:
            connect().repository()
        assert not caught.value.transient and waits == []
        assert caught.value.details["status"] == 403

    def test_bad_credentials(self, connect: Connect, host: FakeCodeHost) -> None:
        connector = connect(token=WRONG_TOKEN)
        with pytest.raises(ConnectorError, match="bad credentials") as caught:
            connector.repository()
        assert not caught.value.transient
        assert caught.value.details["status"] == 401
        assert host.unauthorized_message in caught.value.message
        with pytest.raises(SourceUnavailable, match="bad credentials, or repository not found"):
            connector.changes(cursor=None, known={})

    def test_missing_repository_and_branch(self, connect: Connect) -> None:
        with pytest.raises(SourceUnavailable, match="not found or no access") as caught:
            connect(repo="missing").repository()
        assert not caught.value.transient
        assert caught.value.details["repository"] == f"{self.owner}/missing"
        with pytest.raises(SourceUnavailable, match="repository not found"):
            connect(repo="missing").changes(cursor=None, known={})
        with pytest.raises(SourceUnavailable, match="branch 'nope'"):
            connect(branch="nope").head_sha()
        with pytest.raises(SourceUnavailable, match="branch 'nope' not found"):
            connect(branch="nope").changes(cursor=None, known={})

    def test_token_stays_out_of_argv_logs_errors_and_the_cache(
        self,
        connect: Connect,
        host: FakeCodeHost,
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
        connector = connect()
        assert connector.check().ok
        changes = connector.changes(cursor=None, known={})
        list(connector.fetch(changes.upserts))
        connector.repository()
        connector.delete_hook(connector.create_hook(url=HOOK_URL, secret=HOOK_SECRET))
        assert connector.batch_process is not None

        texts: list[str] = []
        for bad in (connect(token=WRONG_TOKEN), connect(repo="missing")):
            for action in (bad.repository, lambda bad=bad: bad.changes(cursor=None, known={})):
                with pytest.raises(ConnectorError) as caught:
                    action()
                texts += [str(caught.value), repr(caught.value.details)]
            texts.append(repr(bad.check()))

        assert any("fetch" in command for command in argv if command[0] == "git")
        texts += [" ".join(command) for command in argv]
        texts += [record.getMessage() for record in caplog.records]
        texts.append((tmp_path / "cache" / "repo.git" / "config").read_text())
        secrets = (host.token, WRONG_TOKEN, HOOK_SECRET)
        assert not [text for text in texts if any(secret in text for secret in secrets)]
        # Git did authenticate: the fake refuses git requests without the token.
        git_requests = [r for r in host.requests if ".git/" in r.path]
        assert git_requests and all(r.headers.get("authorization") for r in git_requests)
