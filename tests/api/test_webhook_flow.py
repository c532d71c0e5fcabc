"""A push to GitHub becomes one incremental run of the changed files: API, daemon, fake GitHub."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dagster import RunsFilter

from resources.run_tags import SOURCE_TAG, TRIGGER_TAG
from tests.api.conftest import ApiServer, run_stack, watch_job
from tests.fakes.github_server import (
    FakeGithubServer,
    github_server_fixture,  # noqa: F401  (provides the `github_server` fixture)
)
from tests.fakes.webhooks import Commit, github_delivery, github_push
from tests.gitrepo import commit_all, git

pytestmark = pytest.mark.slow

OWNER, NAME = "confuse", "api-backend"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[ApiServer]:
    """The API and a `dagster-daemon run` on a fresh home."""
    with run_stack(tmp_path / "home", HEADWATER_RATE_LIMIT_DEFAULT="10000/minute") as server:
        yield server


def _head(repo: Path) -> str:
    return subprocess.check_output(["git", "-C", str(repo), "rev-parse", "HEAD"], text=True).strip()


def _indexed(client: httpx.Client, source_id: str) -> dict[str, str]:
    page = client.get(f"/sources/{source_id}/files", params={"limit": 100}).json()
    return {file["path"]: file["indexedAt"] for file in page["files"]}


def test_a_signed_push_runs_one_incremental_sync_of_the_changed_files(
    stack: ApiServer, github_server: FakeGithubServer, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "--quiet", "--initial-branch=main")
    for n in range(8):
        (work / f"src/mod{n}.py").parent.mkdir(exist_ok=True)
        (work / f"src/mod{n}.py").write_text(f"def f{n}() -> int:\n    return {n}\n")
        (work / f"docs/guide{n}.md").parent.mkdir(exist_ok=True)
        (work / f"docs/guide{n}.md").write_text(f"# Guide {n}\n\nStep {n}.\n")
    commit_all(work, "first")
    bare = github_server.add_repository(OWNER, NAME, source=work)
    git(work, "remote", "add", "origin", str(bare))

    client = stack.client()
    config = {
        "owner": OWNER,
        "repo": NAME,
        "branch": "main",
        "token": github_server.token,
        "apiUrl": github_server.api_url,
    }
    created = client.post("/sources", json={"type": "github", "config": config})
    assert created.status_code == 201, created.text
    source_id = created.json()["source"]["id"]
    # The token may manage hooks: Headwater registered the push hook itself.
    webhook = created.json()["webhook"]
    assert webhook["registered"] is True and webhook["secret"] is None
    ((hook_id, hook),) = github_server.hooks(f"{OWNER}/{NAME}").items()
    assert hook["events"] == ["push"] and hook["config"]["url"] == webhook["url"]
    secret = hook["config"]["secret"]
    assert watch_job(client, created.json()["syncJob"]["id"])[-1]["status"] == "completed"
    before = _indexed(client, source_id)
    assert len(before) == 16

    synced = _head(work)
    (work / "src/mod0.py").write_text("def f0() -> int:\n    return 100\n")
    (work / "src/new.py").write_text("NEW = True\n")
    (work / "docs/guide7.md").unlink()
    commit_all(work, "change one, add one, remove one")
    git(work, "push", "--quiet", "origin", "main")
    pushed = _head(work)
    payload = github_push(
        f"{OWNER}/{NAME}",
        branch="main",
        before=synced,
        after=pushed,
        commits=[
            Commit(
                pushed, added=["src/new.py"], modified=["src/mod0.py"], removed=["docs/guide7.md"]
            )
        ],
    )
    delivery = github_delivery(payload, secret=secret)
    hooks = stack.anonymous()
    answer = hooks.post("/webhooks/github", content=delivery.body, headers=delivery.headers)
    assert answer.status_code == 200, answer.text
    job_id = answer.json()["jobId"]
    again = hooks.post("/webhooks/github", content=delivery.body, headers=delivery.headers)
    assert again.json()["jobId"] == job_id

    job = watch_job(client, job_id)[-1]
    assert (job["status"], job["type"]) == ("completed", "incremental"), job
    stats = job["stats"]
    assert (stats["filesAdded"], stats["filesChanged"], stats["filesDeleted"]) == (1, 1, 1)
    assert stats["filesTotal"] == 2  # only the two changed files were listed and fetched

    after = _indexed(client, source_id)
    assert set(after) == set(before) - {"docs/guide7.md"} | {"src/new.py"}
    reprocessed = {path for path in after if after[path] != before.get(path)}
    assert reprocessed == {"src/mod0.py", "src/new.py"}

    listed = client.get("/jobs", params={"sourceId": source_id}).json()
    assert listed["total"] == 2 and listed["jobs"][0]["id"] == job_id
    instance = stack.dagster_instance()
    runs = instance.get_runs(RunsFilter(tags={SOURCE_TAG: source_id}))
    assert sorted(run.tags[TRIGGER_TAG] for run in runs) == ["api", "webhook"]

    # Deleting the source removes the hook it registered.
    assert client.delete(f"/sources/{source_id}").status_code == 200
    assert hook_id not in github_server.hooks(f"{OWNER}/{NAME}")
