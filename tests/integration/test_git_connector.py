"""The `git` connector against real repositories made with `git init` under tmp_path."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from resources.connectors import (
    Changes,
    ConfigError,
    Entry,
    GitConnector,
    SourceUnavailable,
    open_connector,
    validate_config,
)
from resources.connectors.git import redact

SEED_FILTERS = {
    "includePaths": ["src/**", "docs/**"],
    "excludePaths": ["node_modules/**", "*.lock"],
}
AUTHOR_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


class Repo:
    """A working repository driven through the git CLI."""

    def __init__(self, path: Path, *, branch: str = "main") -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "--quiet", f"--initial-branch={branch}")

    def git(self, *args: str) -> str:
        env = {**os.environ, **AUTHOR_ENV}
        done = subprocess.run(
            ["git", "-C", str(self.path), *args], env=env, check=True, capture_output=True
        )
        return done.stdout.decode().strip()

    def write(self, files: dict[str, str]) -> None:
        for relative, text in files.items():
            target = self.path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

    def commit(self, message: str, files: dict[str, str] | None = None) -> str:
        self.write(files or {})
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def blob(self, path: str, rev: str = "HEAD") -> str:
        return self.git("rev-parse", f"{rev}:{path}")


@pytest.fixture
def origin(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "origin")
    repo.write(
        {
            "src/app.py": "print('app')\n",
            "src/util.py": "def helper():\n    return 1\n",
            "src/poetry.lock": "locked\n",
            "docs/guide.md": "# Guide\n",
            "README.md": "# Readme\n",
            "yarn.lock": "lock\n",
            "node_modules/left-pad/index.js": "module.exports = 1\n",
        }
    )
    (repo.path / "src/alias.py").symlink_to("app.py")
    repo.git("add", "--all")
    # A gitlink (what a submodule records) without needing a second repository.
    repo.git("update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},src/vendored")
    repo.git("commit", "--quiet", "-m", "initial")
    return repo


Connect = Callable[..., GitConnector]


@pytest.fixture
def connect(tmp_path: Path) -> Iterator[Connect]:
    opened: list[GitConnector] = []

    def _open(config: dict[str, object], *, workdir: Path | None = None) -> GitConnector:
        connector = open_connector("git", config, workdir=workdir or tmp_path / "work")
        assert isinstance(connector, GitConnector)
        opened.append(connector)
        return connector

    yield _open
    for connector in opened:
        connector.close()


def listed(changes: Changes) -> list[Entry]:
    return list(changes.upserts)


def versions(entries: list[Entry]) -> dict[str, str]:
    return {entry.path: entry.version for entry in entries}


def test_full_listing_filters_and_skips_symlinks_and_submodules(
    origin: Repo, connect: Connect
) -> None:
    connector = connect({"url": str(origin.path), **SEED_FILTERS})
    changes = connector.changes(cursor=None, known={})
    entries = listed(changes)
    assert [e.path for e in entries] == ["docs/guide.md", "src/app.py", "src/util.py"]
    assert versions(entries) == {e.path: origin.blob(e.path) for e in entries}
    assert [e.size for e in entries] == [(origin.path / e.path).stat().st_size for e in entries]
    assert all(e.modified_at is None for e in entries)
    assert changes.cursor == origin.git("rev-parse", "HEAD")
    assert changes.deletes == []
    assert changes.description.startswith(f"full listing of {origin.path} HEAD at ")
    assert "skipped 1 submodules, 1 symlinks" in changes.description
    contents = {item.entry.path: item.data for item in connector.fetch(entries)}
    assert contents["src/util.py"] == b"def helper():\n    return 1\n"
    # The cache is a shallow bare repository, not a checkout.
    assert (connector.repo / "shallow").is_file()
    assert not (connector.repo / "src").exists()


def test_incremental_diff_modify_add_delete_rename_and_type_change(
    origin: Repo, connect: Connect
) -> None:
    connector = connect({"url": str(origin.path), **SEED_FILTERS})
    first = connector.changes(cursor=None, known={})
    known = versions(listed(first))
    assert first.cursor is not None

    origin.git("mv", "src/util.py", "src/helpers.py")
    origin.git("rm", "--quiet", "docs/guide.md")
    (origin.path / "docs").mkdir(exist_ok=True)
    (origin.path / "docs/guide.md").symlink_to("../README.md")  # file -> symlink: gone
    head = origin.commit(
        "second",
        {"src/app.py": "print('app v2')\n", "src/new.py": "NEW = True\n", "yarn.lock": "x\n"},
    )

    changes = connector.changes(cursor=first.cursor, known=known)
    upserts = listed(changes)
    assert changes.description.startswith(f"git diff {first.cursor[:12]}..{head[:12]}")
    assert [e.path for e in upserts] == ["src/app.py", "src/helpers.py", "src/new.py"]
    assert versions(upserts) == {e.path: origin.blob(e.path) for e in upserts}
    assert [e.size for e in upserts] == [(origin.path / e.path).stat().st_size for e in upserts]
    assert changes.deletes == ["docs/guide.md", "src/util.py"]
    assert changes.renames == [("src/util.py", "src/helpers.py")]
    assert changes.cursor == head
    assert [item.data for item in connector.fetch(upserts)] == [
        b"print('app v2')\n",
        b"def helper():\n    return 1\n",
        b"NEW = True\n",
    ]

    settled = {k: v for k, v in known.items() if k not in changes.deletes} | versions(upserts)
    quiet = connector.changes(cursor=head, known=settled)
    assert listed(quiet) == [] and quiet.deletes == [] and quiet.cursor == head
    assert quiet.description.startswith(f"git diff {head[:12]}..{head[:12]}")


def test_diff_drops_known_paths_a_narrower_filter_excludes(origin: Repo, connect: Connect) -> None:
    first = connect({"url": str(origin.path), **SEED_FILTERS}).changes(cursor=None, known={})
    known = versions(listed(first))
    origin.commit("touch", {"src/app.py": "changed\n"})
    narrower = connect({"url": str(origin.path), "includePaths": ["src/**"]})
    changes = narrower.changes(cursor=first.cursor, known=known)
    assert changes.description.startswith("git diff ")
    assert [e.path for e in listed(changes)] == ["src/app.py"]
    assert changes.deletes == ["docs/guide.md"]


def test_lost_cache_falls_back_to_listing_compared_by_blob(
    origin: Repo, connect: Connect, tmp_path: Path
) -> None:
    first = connect({"url": str(origin.path), **SEED_FILTERS}).changes(cursor=None, known={})
    known = versions(listed(first)) | {"docs/removed-long-ago.md": "f" * 40}
    assert first.cursor is not None
    head = origin.commit("more", {"docs/guide.md": "# Guide v2\n"})

    fresh = connect({"url": str(origin.path), **SEED_FILTERS}, workdir=tmp_path / "new-cache")
    changes = fresh.changes(cursor=first.cursor, known=known)
    assert changes.description.startswith(f"full listing of {origin.path} HEAD at {head[:12]}")
    assert f"cursor {first.cursor[:12]} is not in the local cache" in changes.description
    assert [e.path for e in listed(changes)] == ["docs/guide.md"]
    assert changes.deletes == ["docs/removed-long-ago.md"]
    assert changes.renames == []
    assert changes.cursor == head


def test_rewritten_history_still_diffs_against_the_cached_cursor(
    origin: Repo, connect: Connect
) -> None:
    connector = connect({"url": str(origin.path), **SEED_FILTERS})
    first = connector.changes(cursor=None, known={})
    assert first.cursor is not None
    origin.git("commit", "--quiet", "--amend", "-m", "rewritten")
    head = origin.commit("after force-push", {"src/app.py": "rewritten\n"})
    changes = connector.changes(cursor=first.cursor, known=versions(listed(first)))
    assert changes.description.startswith(f"git diff {first.cursor[:12]}..{head[:12]}")
    assert [e.path for e in listed(changes)] == ["src/app.py"]


@pytest.mark.parametrize(
    ("cursor", "reason"),
    [("not-a-sha", "is not a commit id"), ("0" * 40, "is not in the local cache")],
)
def test_bad_cursor_falls_back(origin: Repo, connect: Connect, cursor: str, reason: str) -> None:
    changes = connect({"url": str(origin.path), **SEED_FILTERS}).changes(cursor=cursor, known={})
    assert changes.description.startswith("full listing of ")
    assert reason in changes.description
    assert len(listed(changes)) == 3


def test_files_skipped_last_time_are_looked_up_again(origin: Repo, connect: Connect) -> None:
    connector = connect({"url": str(origin.path), **SEED_FILTERS})
    first = connector.changes(cursor=None, known={})
    # How the pipeline records a file it could not read or skipped as too large.
    known = versions(listed(first)) | {"src/app.py": "", "docs/gone.md": ""}
    changes = connector.changes(cursor=first.cursor, known=known)
    assert changes.description.startswith("git diff ")
    assert "(2 skipped last time, looked up again)" in changes.description
    [entry] = listed(changes)
    assert (entry.path, entry.version) == ("src/app.py", origin.blob("src/app.py"))
    assert entry.size == len("print('app')\n")
    assert changes.deletes == ["docs/gone.md"]


@pytest.mark.parametrize("kind", ["bare path", "file URL"])
def test_bare_repository_by_path_and_file_url(
    origin: Repo, connect: Connect, tmp_path: Path, kind: str
) -> None:
    bare = tmp_path / "bare.git"
    subprocess.run(
        ["git", "clone", "--quiet", "--bare", str(origin.path), str(bare)],
        check=True,
        env={**os.environ, **AUTHOR_ENV},
    )
    url = str(bare) if kind == "bare path" else bare.as_uri()
    connector = connect({"url": url, **SEED_FILTERS})
    result = connector.check()
    assert result.ok, result.message
    assert result.details["branch"] == "main"
    entries = listed(connector.changes(cursor=None, known={}))
    assert [e.path for e in entries] == ["docs/guide.md", "src/app.py", "src/util.py"]
    assert [item.data for item in connector.fetch(entries[:1])] == [b"# Guide\n"]


def test_default_branch_is_the_remotes_head_and_branch_selects(
    tmp_path: Path, connect: Connect
) -> None:
    repo = Repo(tmp_path / "trunky", branch="trunk")
    repo.commit("on trunk", {"trunk.txt": "trunk\n"})
    repo.git("switch", "--quiet", "-c", "feature")
    repo.commit("on feature", {"feature.txt": "feature\n"})
    repo.git("switch", "--quiet", "trunk")

    default = connect({"url": str(repo.path)}, workdir=tmp_path / "w1")
    assert default.check().details["branch"] == "trunk"
    assert [e.path for e in listed(default.changes(cursor=None, known={}))] == ["trunk.txt"]

    feature = connect({"url": str(repo.path), "branch": "feature"}, workdir=tmp_path / "w2")
    check = feature.check()
    assert check.ok and check.details["branch"] == "feature"
    assert check.details["defaultBranch"] == "trunk"
    assert check.details["head"] == repo.git("rev-parse", "feature")
    changes = feature.changes(cursor=None, known={})
    assert [e.path for e in listed(changes)] == ["feature.txt", "trunk.txt"]
    assert " feature at " in changes.description


def test_unknown_branch_is_source_unavailable_with_gits_message(
    origin: Repo, connect: Connect
) -> None:
    connector = connect({"url": str(origin.path), "branch": "nope"})
    with pytest.raises(SourceUnavailable) as caught:
        connector.changes(cursor=None, known={})
    message = str(caught.value)
    assert message.startswith(f"branch 'nope' not found at {origin.path}")
    assert "fatal: couldn't find remote ref refs/heads/nope" in message
    assert caught.value.transient is False
    assert caught.value.details["branch"] == "nope"

    result = connector.check()
    assert not result.ok
    assert result.message == f"branch 'nope' not found at {origin.path}"
    assert [(step.name, step.ok) for step in result.steps] == [("git ls-remote", False)]


def test_missing_repository_is_source_unavailable(tmp_path: Path, connect: Connect) -> None:
    connector = connect({"url": str(tmp_path / "no-such-repo")})
    with pytest.raises(SourceUnavailable) as caught:
        connector.changes(cursor=None, known={})
    assert "does not appear to be a git repository" in str(caught.value)
    assert caught.value.details["stderr"].startswith("fatal: ")
    assert not connector.check().ok


def test_forbidden_transport_is_refused(connect: Connect) -> None:
    connector = connect({"url": "ext::sh -c touch% /tmp/headwater-pwned"})
    with pytest.raises(SourceUnavailable, match="transport 'ext' not allowed"):
        connector.changes(cursor=None, known={})
    assert not Path("/tmp/headwater-pwned").exists()


def test_credentials_never_appear_in_errors_or_logs(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="resources.connectors")
    # Port 1 on loopback refuses at once: a real network failure without a network.
    connector = connect({"url": "https://alice:s3cr3t-token@127.0.0.1:1/team/repo.git"})
    with pytest.raises(SourceUnavailable) as caught:
        connector.changes(cursor=None, known={})
    result = connector.check()
    assert caught.value.transient is True
    assert "https://127.0.0.1:1/team/repo.git" in str(caught.value)
    texts = [str(caught.value), repr(caught.value.details), result.message, repr(result)]
    texts += [record.getMessage() for record in caplog.records]
    assert not [text for text in texts if "s3cr3t" in text or "alice" in text]
    assert not result.ok and result.transient


def test_fetch_streams_many_files_through_one_cat_file_process(
    tmp_path: Path, connect: Connect
) -> None:
    repo = Repo(tmp_path / "many")
    files = {f"pkg/module_{i:03d}.py": f"VALUE = {i}\n" * (i + 1) for i in range(150)}
    repo.commit("many files", files)
    connector = connect({"url": str(repo.path)})
    entries = listed(connector.changes(cursor=None, known={}))
    assert len(entries) == 150
    assert connector.batch_process is None  # nothing started before the first read

    stream = connector.fetch(entries)
    first = next(stream)
    process = connector.batch_process
    assert process is not None and process.poll() is None
    pids = {process.pid}
    results = [first]
    for item in stream:
        assert connector.batch_process is not None
        pids.add(connector.batch_process.pid)
        results.append(item)
    assert {item.entry.path: item.data.decode() for item in results if item.data} == files
    assert pids == {process.pid}
    assert connector.batch_starts == 1
    [again] = connector.fetch(entries[:1])
    assert again.data == b"VALUE = 0\n"
    assert connector.batch_starts == 1

    connector.close()
    assert connector.batch_process is None
    assert process.poll() == 0  # exited cleanly on closed stdin


def test_unknown_blobs_come_back_as_errors_and_the_stream_goes_on(
    origin: Repo, connect: Connect
) -> None:
    connector = connect({"url": str(origin.path), **SEED_FILTERS})
    entries = listed(connector.changes(cursor=None, known={}))
    ghost = Entry(path="ghost.txt", version="e" * 40, size=1, modified_at=None)
    foreign = Entry(path="local.txt", version="12:1700000000", size=12, modified_at=None)
    results = list(connector.fetch([ghost, foreign, entries[0]]))
    assert (
        results[0].data is None and results[0].error == f"blob {'e' * 40} is not in the local cache"
    )
    assert results[1].data is None and "is not a git blob id" in (results[1].error or "")
    assert results[2].data == b"# Guide\n"
    assert connector.batch_starts == 1


def test_broken_cache_is_rebuilt(origin: Repo, connect: Connect, tmp_path: Path) -> None:
    workdir = tmp_path / "broken"
    (workdir / "repo.git").mkdir(parents=True)
    (workdir / "repo.git" / "junk").write_text("not a repository")
    connector = connect({"url": str(origin.path), **SEED_FILTERS}, workdir=workdir)
    assert len(listed(connector.changes(cursor=None, known={}))) == 3
    assert not (workdir / "repo.git" / "junk").exists()


def test_check_reaches_the_branch_with_timings(origin: Repo, connect: Connect) -> None:
    result = connect({"url": origin.path.as_uri()}).check()
    assert result.ok
    head = origin.git("rev-parse", "HEAD")
    assert result.message == f"Reached {origin.path.as_uri()}: branch main at {head[:12]}"
    assert result.details == {
        "url": origin.path.as_uri(),
        "branch": "main",
        "head": head,
        "defaultBranch": "main",
    }
    [step] = result.steps
    assert step.name == "git ls-remote" and step.ok and step.duration_ms > 0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"url": "x", "branch": 123}, "config.branch: 123 is not of type 'string'"),
        ({"url": "x", "branch": "a..b"}, "config.branch: 'a..b' must be a valid git branch name"),
        ({"url": "x", "branch": ""}, "config.branch: '' should be non-empty"),
        ({"branch": "main"}, "config.url: is required"),
        ({"url": "--upload-pack=evil"}, "config.url: '--upload-pack=evil' must be a git URL"),
        ({"url": "x", "brnach": "main"}, "config.brnach: unknown field (allowed: branch, "),
        ({"url": "x", "includePaths": ["#c"]}, "config.includePaths[0]: pattern '#c' is blank"),
    ],
)
def test_invalid_config_names_the_field(config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config("git", config)
    assert str(caught.value).startswith(message)
    assert caught.value.details["field"] == message.split(":")[0]


def test_several_problems_are_all_in_details() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config("git", {"branch": 1, "excludePaths": [2]})
    fields = [problem["field"] for problem in caught.value.details["errors"]]
    assert fields == ["config.branch", "config.excludePaths[0]", "config.url"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:tok@host/r.git", "https://host/r.git"),
        ("fatal: 'ssh://me:p@ss@host:22/r' failed", "fatal: 'ssh://host:22/r' failed"),
        (
            "https://host/r.git and git@github.com:o/r.git",
            "https://host/r.git and git@github.com:o/r.git",
        ),
        ("http://a@h1/x https://b:c@h2/y", "http://h1/x https://h2/y"),
    ],
)
def test_redact_strips_userinfo_only(text: str, expected: str) -> None:
    assert redact(text) == expected
