"""The `headwater` command, run as a process over a real git repository, without a daemon."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.gitrepo import commit_all, git
from tests.profile import home_env, lake_objects, lake_url, process_env

pytestmark = pytest.mark.slow


def _headwater(home: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "headwater"), *args],
        env=process_env(home),
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode == 0) == ok, result.stderr[-3000:]
    return result


def _json(home: Path, *args: str, ok: bool = True) -> Any:
    return json.loads(_headwater(home, *args, "--json", ok=ok).stdout)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "app.py").write_text("def main() -> None:\n    print('hello')\n")
    (repo / "README.md").write_text("# Demo\n\nA demo repository.\n")
    (repo / "notes.txt").write_text("Some notes.\n")
    commit_all(repo, "first")
    return repo


def test_add_sync_resync_show_and_delete_a_git_source(tmp_path: Path, repo: Path) -> None:
    home = tmp_path / "home"
    created = _json(home, "sources", "add", "git", "--config", json.dumps({"url": str(repo)}))
    source_id = created["source"]["id"]
    assert created["source"]["status"] == "pending" and created["syncJob"]["status"] == "queued"

    first = _json(home, "sync", source_id)
    assert first["id"] == created["syncJob"]["id"]  # the queued first sync was joined, not doubled
    assert first["status"] == "completed" and first["type"] == "full" and first["progress"] == 100
    assert first["trigger"] == "cli"
    assert first["stats"]["filesAdded"] == 3

    (repo / "app.py").write_text("def main() -> None:\n    print('hello, world')\n")
    (repo / "docs").mkdir()
    git(repo, "mv", "README.md", "docs/README.md")
    git(repo, "rm", "-q", "notes.txt")
    (repo / "extra.py").write_text("VALUE = 1\n")
    commit_all(repo, "second")
    second = _json(home, "sync", source_id)
    stats = second["stats"]
    assert second["type"] == "incremental" and second["status"] == "completed"
    assert (stats["filesAdded"], stats["filesChanged"], stats["filesDeleted"]) == (2, 1, 2)
    assert stats["chunksReused"] >= 1  # the moved README's text keeps its vector

    shown = _json(home, "jobs", "show", second["id"])
    assert shown == second
    assert f"source {source_id} (cli)" in _headwater(home, "jobs", "show", second["id"]).stdout
    source = _json(home, "sources", "show", source_id)
    assert source["status"] == "synced" and source["stats"]["filesIndexed"] == 3
    assert source["stats"]["languages"] == {"python": 2, "markdown": 1}
    listed = _json(home, "sources", "list")
    assert listed["total"] == 1 and listed["sources"][0]["id"] == source_id

    deleted = _json(home, "sources", "delete", source_id)
    assert deleted == {
        "message": "Source deleted",
        "filesRemoved": 3,
        "chunksRemoved": source["stats"]["chunksCreated"],
    }
    assert _json(home, "sources", "list")["total"] == 0
    assert lake_objects(lake_url(home_env(home), home), source_id) == []


def test_bad_input_is_refused_with_a_clear_message(tmp_path: Path, repo: Path) -> None:
    home = tmp_path / "home"
    refused = _headwater(home, "sources", "add", "git", "--config", '{"url": 5}', ok=False)
    assert "config.url" in refused.stderr
    config = json.dumps({"url": str(repo)})
    options = ("--options", '{"chunkMaxTokens": 16}')
    too_small = _headwater(home, "sources", "add", "git", "--config", config, *options, ok=False)
    assert "options.chunkMaxTokens" in too_small.stderr
    assert _json(home, "sources", "list")["total"] == 0

    created = _json(
        home,
        "sources",
        "add",
        "git",
        "--config",
        json.dumps({"url": str(repo), "branch": "no-such-branch"}),
    )
    failed = _json(home, "sync", created["source"]["id"], ok=False)
    assert failed["status"] == "failed" and "no-such-branch" in failed["error"]
    shown = _json(home, "sources", "show", created["source"]["id"])
    assert shown["status"] == "error" and shown["lastError"] == failed["error"]

    tuned = _json(
        home, "sources", "add", "git", "--config", config, "--options", '{"maxFileBytes": 9}'
    )
    shown = _json(home, "sources", "show", tuned["source"]["id"])
    assert shown["options"] == {
        "maxFileBytes": 9,
        "chunkMaxTokens": 512,
        "chunkOverlapTokens": 64,
        "syncIntervalMinutes": 0,
    }

    source_id = tuned["source"]["id"]
    bad = ("--options", '{"syncIntervalMinutes": -5}')
    refused_update = _headwater(home, "sources", "update", source_id, *bad, ok=False)
    assert "options.syncIntervalMinutes" in refused_update.stderr
    assert _json(home, "sources", "show", source_id) == shown
    updated = _json(
        home,
        "sources",
        "update",
        source_id,
        "--name",
        "nightly",
        "--options",
        '{"syncIntervalMinutes": 1440}',
    )
    assert updated["name"] == "nightly"
    assert updated["options"] == {
        **shown["options"],
        "maxFileBytes": 5_000_000,
        "syncIntervalMinutes": 1440,
    }
    assert _json(home, "sources", "show", source_id) == updated
