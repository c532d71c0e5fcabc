"""The reconcile schedule, evaluated for real against a real instance and a fake GitHub."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.runner import run_in_process
from connector_assets.definitions import build_definitions
from resources.dagster_home import dagster_instance
from resources.metadata import MetadataStore
from resources.settings import get_settings
from resources.source_configs import sealed_config
from resources.store import jobs, sources
from resources.store.models import JobStatus, SyncJob, SyncType
from resources.vault import Vault
from sensors.reconcile import SCHEDULE_NAME, reconcile_schedule
from tests.fakes.github_server import (
    FakeGithubServer,
    github_server_fixture,  # noqa: F401  (provides the `github_server` fixture)
)
from tests.gitrepo import commit_all, git
from tests.runs import tick as schedule_tick

pytestmark = pytest.mark.slow


def _repository(root: Path) -> Path:
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch=main")
    for name in ("a.md", "b.md", "c.py"):
        (root / name).write_text(f"# {name}\n")
    commit_all(root, "first")
    return root


def test_a_missed_push_is_caught_by_the_schedule(
    headwater_home: Path, github_server: FakeGithubServer, tmp_path: Path
) -> None:
    work = _repository(tmp_path / "work")
    bare = github_server.add_repository("octo", "app", source=work)
    git(work, "remote", "add", "origin", str(bare))
    settings = get_settings()
    store = MetadataStore(database_url=settings.resolved_database_url)
    config = {
        "owner": "octo",
        "repo": "app",
        "branch": "main",
        "token": github_server.token,
        "apiUrl": github_server.api_url,
    }
    with store.session() as session:
        source = sources.create_source(
            session,
            owner_id="alice",
            tenant_id=None,
            type="github",
            name="app",
            config=sealed_config(Vault.from_settings(settings), "github", config),
        )
        source_id = source.id
        first = jobs.create_job(session, source=source, type=SyncType.FULL, trigger="test").id
    instance = dagster_instance(settings)
    run_in_process(settings=settings, instance=instance, store=store, job_id=first)

    definitions = build_definitions(settings)
    schedule = reconcile_schedule(settings.reconcile_cron)
    assert schedule.name == SCHEDULE_NAME and schedule.cron_schedule == "*/15 * * * *"

    def tick() -> str:
        return schedule_tick(schedule, instance, definitions.resources)

    def reconcile_jobs() -> list[SyncJob]:
        with store.session() as session:
            rows, _ = jobs.list_jobs(session, source_id=source_id)
            return [job for job in rows if job.trigger == "reconcile"]

    assert tick().startswith("1 sources compared with their branch heads; 0 behind")

    (work / "a.md").write_text("# a, edited\n")
    commit_all(work, "edit a")
    git(work, "push", "--quiet", "origin", "main")
    assert "1 behind" in tick()
    queued = reconcile_jobs()
    assert [(job.type, job.status) for job in queued] == [(SyncType.INCREMENTAL, JobStatus.QUEUED)]
    assert tick().startswith("0 sources compared")  # its job is pending: left to it
    assert len(reconcile_jobs()) == 1

    run_in_process(settings=settings, instance=instance, store=store, job_id=queued[0].id)
    with store.session() as session:
        done = jobs.get_job(session, queued[0].id)
        assert done is not None and done.status is JobStatus.COMPLETED, done and done.error
        assert (done.stats["filesChanged"], done.stats["filesAdded"]) == (1, 0)
    assert "0 behind" in tick()

    github_server.script(401, "Bad credentials")
    assert tick().endswith("1 heads unknown")
    assert len(reconcile_jobs()) == 1
