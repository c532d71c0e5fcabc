"""End to end over HTTP with a real `dagster-daemon`: create, sync, list files, resync, delete."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dagster import DagsterRunStatus, RunsFilter

from tests.api.conftest import JOB_DEADLINE_S, JOB_POLL_S, ApiServer, run_stack, watch_job
from tests.fakes.github_server import FAKE_TOKEN, FakeGithubServer
from tests.gitrepo import commit_all, git
from tests.profile import lake_objects

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """The API and one `dagster-daemon run` on one fresh home, for the whole module."""
    # Polling a job several times a second would soon pass 100 requests a minute.
    home = tmp_path_factory.mktemp("flow") / "home"
    with run_stack(home, HEADWATER_RATE_LIMIT_DEFAULT="10000/minute") as server:
        yield server


def _assert_progressed(seen: list[dict[str, Any]]) -> None:
    statuses = [job["status"] for job in seen]
    assert statuses[-1] == "completed", seen[-1]
    assert "running" in statuses, statuses
    order = {"queued": 0, "running": 1, "completed": 2}
    assert [order[s] for s in statuses] == sorted(order[s] for s in statuses)
    progress = [job["progress"] for job in seen]
    assert progress == sorted(progress) and progress[-1] == 100
    assert any(0 < p < 100 for p in progress), progress


def _all_files(client: httpx.Client, source_id: str, **params: Any) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"/sources/{source_id}/files", params=query).json()
        files += page["files"]
        cursor = page["nextCursor"]
        if cursor is None:
            assert len(files) == page["total"]
            return files


def _project(root: Path) -> Path:
    for n in range(12):
        (root / "docs").mkdir(parents=True, exist_ok=True)
        (root / "docs" / f"guide{n:02d}.md").write_text(f"# Guide {n}\n\nHow to do thing {n}.\n")
        (root / "src").mkdir(exist_ok=True)
        (root / "src" / f"mod{n:02d}.py").write_text(f"def f{n}() -> int:\n    return {n}\n")
    return root


def test_local_source_end_to_end(stack: ApiServer, tmp_path: Path) -> None:
    client = stack.client()
    folder = _project(tmp_path / "project")
    created = client.post("/sources", json={"type": "local", "config": {"path": str(folder)}})
    assert created.status_code == 201, created.text
    source_id = created.json()["source"]["id"]
    job_id = created.json()["syncJob"]["id"]
    assert created.json()["syncJob"]["status"] == "queued"

    seen = watch_job(client, job_id)
    _assert_progressed(seen)
    assert seen[-1]["stats"]["filesAdded"] == 24 and seen[-1]["stats"]["chunksCreated"] > 0
    assert seen[-1]["trigger"] == "api"

    source = client.get(f"/sources/{source_id}").json()
    assert source["status"] == "synced" and source["lastSyncAt"]
    assert source["stats"]["filesIndexed"] == 24 and source["stats"]["chunksCreated"] > 0
    assert source["stats"]["languages"] == {"markdown": 12, "python": 12}
    assert source["stats"]["lastSyncDuration"] > 0

    files = _all_files(client, source_id, limit=5)
    paths = [f["path"] for f in files]
    assert paths == sorted(paths) and len(set(paths)) == 24
    assert all(f["id"] and f["size"] > 0 and f["indexedAt"] for f in files)
    python = _all_files(client, source_id, language="python", limit=7)
    assert {f["path"] for f in python} == {p for p in paths if p.endswith(".py")}
    docs = _all_files(client, source_id, path="docs/guide0")
    assert [f["path"] for f in docs] == [f"docs/guide{n:02d}.md" for n in range(10)]
    assert client.get(f"/sources/{source_id}/files", params={"path": "nope/"}).json() == {
        "files": [],
        "total": 0,
        "nextCursor": None,
    }

    first_page = client.get(f"/sources/{source_id}/files", params={"path": "src/"})
    etag = first_page.headers["etag"]
    unchanged = client.get(
        f"/sources/{source_id}/files", params={"path": "src/"}, headers={"If-None-Match": etag}
    )
    assert unchanged.status_code == 304 and unchanged.headers["etag"] == etag

    (folder / "src" / "mod00.py").write_text("def f0() -> int:\n    return 100\n")
    (folder / "docs" / "guide11.md").unlink()
    (folder / "src" / "new.py").write_text("NEW = True\n")
    resync = client.post(f"/sources/{source_id}/sync", json={"type": "incremental"})
    assert resync.status_code == 202
    queued = resync.json()["job"]
    assert queued["type"] == "incremental" and queued["status"] == "queued"
    assert isinstance(queued["estimatedDuration"], int) and queued["estimatedDuration"] >= 1
    seen = watch_job(client, queued["id"])
    _assert_progressed(seen)
    stats = seen[-1]["stats"]
    assert (stats["filesAdded"], stats["filesChanged"], stats["filesDeleted"]) == (1, 1, 1)
    running = [job for job in seen if job["status"] == "running"]
    assert all(job["estimatedCompletion"] for job in running)
    listed = client.get("/jobs", params={"sourceId": source_id}).json()
    assert [j["id"] for j in listed["jobs"]] == [queued["id"], job_id]
    # The resync committed a new version: the same page is read afresh, with a new tag.
    after = client.get(
        f"/sources/{source_id}/files", params={"path": "src/"}, headers={"If-None-Match": etag}
    )
    assert after.status_code == 200 and after.headers["etag"] != etag
    assert "src/new.py" in {f["path"] for f in after.json()["files"]}
    assert after.json()["total"] == first_page.json()["total"] + 1

    before = client.get(f"/sources/{source_id}").json()["stats"]
    deleted = client.delete(f"/sources/{source_id}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {
        "message": "Source deleted",
        "filesRemoved": 24,
        "chunksRemoved": before["chunksCreated"],
    }
    assert client.get(f"/sources/{source_id}").status_code == 404
    assert client.get(f"/jobs/{job_id}").status_code == 404
    assert lake_objects(stack.data_url, source_id) == []
    instance = stack.dagster_instance()
    assert source_id not in instance.get_dynamic_partitions("sources")


def test_git_source_syncs_and_a_delete_stops_its_running_sync(
    stack: ApiServer, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for n in range(400):
        (repo / f"file{n:03d}.md").write_text(f"# File {n}\n\n" + "Words and more words. " * 200)
    commit_all(repo, "first")
    client = stack.client()
    created = client.post("/sources", json={"type": "git", "config": {"url": str(repo)}})
    assert created.status_code == 201, created.text
    source_id, job_id = created.json()["source"]["id"], created.json()["syncJob"]["id"]
    deadline = time.monotonic() + JOB_DEADLINE_S
    while client.get(f"/jobs/{job_id}").json()["status"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(JOB_POLL_S)
    assert client.get(f"/jobs/{job_id}").json()["status"] == "running"

    deleted = client.delete(f"/sources/{source_id}")
    assert deleted.status_code == 200, deleted.text
    instance = stack.dagster_instance()
    runs = instance.get_runs(RunsFilter(tags={"headwater/source": source_id}))
    assert len(runs) == 1
    assert runs[0].status in (DagsterRunStatus.CANCELED, DagsterRunStatus.CANCELING)
    assert client.get("/sources").json()["total"] == 0


def test_a_github_source_syncs_with_its_connections_token(
    stack: ApiServer, github: FakeGithubServer
) -> None:
    """The repository is private: only the connection's token opens it to the run."""
    client = stack.client()
    connection = client.post(
        "/connections",
        json={
            "type": "github",
            "name": "acme",
            "config": {"token": FAKE_TOKEN, "apiUrl": github.api_url, "gitUrl": github.url},
        },
    ).json()
    created = client.post(
        "/sources",
        json={
            "type": "github",
            "connectionId": connection["id"],
            "config": {"owner": "acme", "repo": "web"},
        },
    )
    assert created.status_code == 201, created.text
    seen = watch_job(client, created.json()["syncJob"]["id"])
    assert seen[-1]["status"] == "completed", seen[-1]
    files = client.get(f"/sources/{created.json()['source']['id']}/files").json()
    assert [f["path"] for f in files["files"]] == ["README.md"]
