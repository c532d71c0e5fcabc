"""A push becomes one incremental run of the changed files: API, daemon, a fake code host.

One scenario for GitHub, GitLab and Bitbucket, each against its fake (REST as its docs say, a
real repository over `git http-backend`): the source is created through the API (which
registers the push hook), synced, a commit is pushed, and the provider's push delivery,
signed (or tokened) with the hook's secret, must run exactly one incremental sync that
reprocesses only the changed files.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from dagster import RunsFilter
from sqlalchemy import select

from resources.run_tags import JOB_TAG, SOURCE_TAG, TRIGGER_TAG
from resources.store import webhooks
from resources.store.models import SyncJob
from tests.api.conftest import JOB_DEADLINE_S, JOB_POLL_S, ApiServer, run_stack, watch_job
from tests.fakes.bitbucket_server import bitbucket_server_fixture  # noqa: F401  (fixture)
from tests.fakes.codehost import FakeCodeHost
from tests.fakes.github_server import github_server_fixture  # noqa: F401  (fixture)
from tests.fakes.gitlab_server import gitlab_server_fixture  # noqa: F401  (fixture)
from tests.fakes.webhooks import Commit, SignedDelivery, push_delivery
from tests.gitrepo import commit_all, git, head, write

pytestmark = pytest.mark.slow

# Where each fake serves the repository (GitLab: a project in a subgroup).
REPOSITORIES = {
    "github": ("confuse", "api-backend"),
    "gitlab": ("confuse/platform", "api-backend"),
    "bitbucket": ("confuse", "api-backend"),
}
WAVE = 16


@dataclass(frozen=True, slots=True)
class Connected:
    """A code-host source created through the API, its hook registered and its first sync
    done."""

    provider: str
    host: FakeCodeHost
    full_name: str
    work: Path
    source_id: str
    hook_id: str
    secret: str

    def push(self, *, before: str, commits: list[Commit] | None = None) -> SignedDelivery:
        """The delivery of what was pushed since `before`, as the provider sends it."""
        after = head(self.work)
        return push_delivery(
            self.provider,
            self.full_name,
            secret=self.secret,
            branch="main",
            before=before,
            after=after,
            commits=commits or [Commit(after)],
        )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[ApiServer]:
    """The API and a `dagster-daemon run` on a fresh home."""
    with run_stack(tmp_path / "home", HEADWATER_RATE_LIMIT_DEFAULT="10000/minute") as server:
        yield server


def _work_repository(root: Path) -> Path:
    """Eight Python modules and eight guides, committed on `main`."""
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch=main")
    for n in range(8):
        write(
            root,
            {
                f"src/mod{n}.py": f"def f{n}() -> int:\n    return {n}\n",
                f"docs/guide{n}.md": f"# Guide {n}\n\nStep {n}.\n",
            },
        )
    commit_all(root, "first")
    return root


def _connect(stack: ApiServer, provider: str, host: FakeCodeHost, root: Path) -> Connected:
    """Serve a repository on `host`, create its source through the API and sync it."""
    owner, name = REPOSITORIES[provider]
    work = _work_repository(root / "work")
    bare = host.add_repository(owner, name, source=work)
    git(work, "remote", "add", "origin", str(bare))
    config = {
        "owner": owner,
        "repo": name,
        "branch": "main",
        "token": host.token,
        "apiUrl": host.api_url,
    }
    client = stack.client("alice")
    created = client.post("/sources", json={"type": provider, "config": config})
    assert created.status_code == 201, created.text
    # The token may manage hooks: Headwater registered the push hook itself.
    webhook = created.json()["webhook"]
    assert webhook["registered"] is True and webhook["secret"] is None
    full_name = f"{owner}/{name}"
    ((hook_id, hook),) = host.hooks(full_name).items()
    subscription = host.subscription(hook)
    assert subscription.url == webhook["url"] == f"{stack.url}/webhooks/{provider}"
    assert watch_job(client, created.json()["syncJob"]["id"])[-1]["status"] == "completed"
    return Connected(
        provider=provider,
        host=host,
        full_name=full_name,
        work=work,
        source_id=created.json()["source"]["id"],
        hook_id=hook_id,
        secret=subscription.secret,
    )


def _deliver(stack: ApiServer, provider: str, delivery: SignedDelivery) -> httpx.Response:
    return stack.anonymous().post(
        f"/webhooks/{provider}", content=delivery.body, headers=delivery.headers
    )


def _indexed(client: httpx.Client, source_id: str) -> dict[str, str]:
    page = client.get(f"/sources/{source_id}/files", params={"limit": 100}).json()
    return {file["path"]: file["indexedAt"] for file in page["files"]}


@pytest.mark.parametrize("provider", sorted(REPOSITORIES))
def test_a_push_delivery_runs_one_incremental_sync_of_the_changed_files(
    stack: ApiServer, provider: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    host: FakeCodeHost = request.getfixturevalue(f"{provider}_server")
    source = _connect(stack, provider, host, tmp_path)
    client = stack.client("alice")
    before = _indexed(client, source.source_id)
    assert len(before) == 16

    synced = head(source.work)
    write(source.work, {"src/mod0.py": "def f0() -> int:\n    return 100\n"})
    write(source.work, {"src/new.py": "NEW = True\n"})
    (source.work / "docs/guide7.md").unlink()
    commit_all(source.work, "change one, add one, remove one")
    git(source.work, "push", "--quiet", "origin", "main")
    changed = Commit(
        head(source.work),
        added=["src/new.py"],
        modified=["src/mod0.py"],
        removed=["docs/guide7.md"],
    )
    delivery = source.push(before=synced, commits=[changed])
    answer = _deliver(stack, provider, delivery)
    assert answer.status_code == 200, answer.text
    job_id = answer.json()["jobId"]
    again = _deliver(stack, provider, delivery)  # the provider's retry of the same delivery
    assert again.status_code == 200 and again.json()["jobId"] == job_id

    job = watch_job(client, job_id)[-1]
    assert (job["status"], job["type"]) == ("completed", "incremental"), job
    stats = job["stats"]
    assert (stats["filesAdded"], stats["filesChanged"], stats["filesDeleted"]) == (1, 1, 1)
    assert stats["filesTotal"] == 2  # only the two changed files were listed and fetched

    after = _indexed(client, source.source_id)
    assert set(after) == set(before) - {"docs/guide7.md"} | {"src/new.py"}
    reprocessed = {path for path in after if after[path] != before.get(path)}
    assert reprocessed == {"src/mod0.py", "src/new.py"}

    listed = client.get("/jobs", params={"sourceId": source.source_id}).json()
    assert listed["total"] == 2 and listed["jobs"][0]["id"] == job_id
    assert [job["trigger"] for job in listed["jobs"]] == ["webhook", "api"]
    runs = stack.dagster_instance().get_runs(RunsFilter(tags={SOURCE_TAG: source.source_id}))
    assert sorted(run.tags[TRIGGER_TAG] for run in runs) == ["api", "webhook"]

    # Deleting the source removes the hook it registered.
    assert client.delete(f"/sources/{source.source_id}").status_code == 200
    assert source.hook_id not in host.hooks(source.full_name)


def _wave(stack: ApiServer, deliveries: list[SignedDelivery]) -> list[str]:
    """Deliver all at once; the job each answer names."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(deliveries)) as pool:
        answers = list(pool.map(lambda d: _deliver(stack, "github", d), deliveries))
    assert [r.status_code for r in answers] == [200] * len(answers), answers[0].text
    return [r.json()["jobId"] for r in answers]


def _left_the_queue(client: httpx.Client, job_id: str) -> None:
    deadline = time.monotonic() + JOB_DEADLINE_S
    while client.get(f"/jobs/{job_id}").json()["status"] == "queued":
        assert time.monotonic() < deadline, f"job {job_id} never started"
        time.sleep(JOB_POLL_S)


def test_concurrent_pushes_join_the_queued_job_and_runs_never_overlap(
    stack: ApiServer, github_server: FakeCodeHost, tmp_path: Path
) -> None:
    source = _connect(stack, "github", github_server, tmp_path)
    client = stack.client("alice")
    pushed: list[SignedDelivery] = []
    answered: list[list[str]] = []
    for wave in range(2):
        before = head(source.work)
        write(source.work, {f"src/wave{wave}.py": f"WAVE = {wave}\n"})
        commit_all(source.work, f"wave {wave}")
        git(source.work, "push", "--quiet", "origin", "main")
        deliveries = [source.push(before=before) for _ in range(WAVE)]
        answered.append(_wave(stack, deliveries))
        pushed += deliveries
        # The next wave comes once this one's job has left the queue, so it cannot join it.
        _left_the_queue(client, answered[-1][0])
    assert not set(answered[0]) & set(answered[1])
    finished = {job_id: watch_job(client, job_id)[-1] for job_id in {*answered[0], *answered[1]}}
    assert {job["status"] for job in finished.values()} == {"completed"}
    assert {"src/wave0.py", "src/wave1.py"} <= set(_indexed(client, source.source_id))

    store = stack.store()
    with store.session() as session:
        for delivery, job_id in zip(pushed, answered[0] + answered[1], strict=True):
            row = webhooks.get_delivery(
                session, provider="github", delivery_id=delivery.headers["X-GitHub-Delivery"]
            )
            assert row is not None and [t.job_id for t in row.targets] == [job_id]
        jobs = session.scalars(
            select(SyncJob)
            .where(SyncJob.source_id == source.source_id)
            .order_by(SyncJob.created_at)
        ).all()
        # Never two jobs queued at once: each was created after the one before had started.
        for earlier, later in itertools.pairwise(jobs):
            assert earlier.started_at is not None and later.created_at >= earlier.started_at

    records = stack.dagster_instance().get_run_records(
        RunsFilter(tags={SOURCE_TAG: source.source_id})
    )
    assert sorted(record.dagster_run.tags[JOB_TAG] for record in records) == sorted(
        job.id for job in jobs
    )
    spans = sorted((record.start_time or 0.0, record.end_time or 0.0) for record in records)
    assert all(start and end for start, end in spans)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end  # one run at a time
