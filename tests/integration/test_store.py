"""The metadata store against SQLite and the machine's PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from resources.metadata import MetadataStore
from resources.store import jobs, sources, webhooks
from resources.store.engine import MIGRATIONS_DIR, session_factory
from resources.store.models import JobStatus, SourceStatus, SyncType


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    """A migrated store on each backend, emptied after the test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = MetadataStore(database_url=url)
    yield store
    with store.session() as session:
        for table in ("webhook_rejections", "webhook_deliveries", "sync_jobs", "sources"):
            session.execute(text(f"DELETE FROM {table}"))


def _source(store: MetadataStore, owner: str = "alice") -> str:
    with store.session() as session:
        return sources.create_source(
            session,
            owner_id=owner,
            tenant_id=None,
            type="local",
            name="docs",
            config={"path": "/tmp/docs"},
        ).id


def test_migrations_create_the_schema(store: MetadataStore) -> None:
    engine = session_factory(store.database_url).kw["bind"]
    tables = set(inspect(engine).get_table_names())
    assert {
        "sources",
        "sync_jobs",
        "webhook_deliveries",
        "webhook_delivery_sources",
        "webhook_rejections",
        "alembic_version",
    } <= tables
    with store.session() as session:
        version = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert version == ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def test_sources_are_scoped_to_their_owner(store: MetadataStore) -> None:
    mine, theirs = _source(store, "alice"), _source(store, "bob")
    with store.session() as session:
        assert sources.get_source(session, mine, owner_id="alice") is not None
        assert sources.get_source(session, theirs, owner_id="alice") is None
        rows, total = sources.list_sources(session, owner_id="alice")
        assert total == 1 and [s.id for s in rows] == [mine]
        assert sources.all_source_ids(session) == {mine, theirs}


def test_job_lifecycle_and_progress(store: MetadataStore) -> None:
    source_id = _source(store)
    with store.session() as session:
        source = sources.get_source(session, source_id)
        assert source is not None
        job_id = jobs.create_job(session, source=source, type=SyncType.FULL, trigger="api").id
    with store.session() as session:
        assert [j.id for j in jobs.queued_jobs(session)] == [job_id]
        started = datetime.now(UTC) - timedelta(seconds=30)
        jobs.mark_running(session, job_id, run_id="run-1", started_at=started)
    with store.session() as session:
        jobs.report_progress(
            session, job_id, stage="raw_files", progress=20, stats={"filesTotal": 9}
        )
        jobs.report_progress(
            session, job_id, stage="chunks", progress=150, stats={"chunksCreated": 4}
        )
        jobs.report_progress(session, job_id, stage="chunks", progress=10, stats={})
    with store.session() as session:
        job = jobs.get_job(session, job_id)
        assert job is not None and job.source.status is SourceStatus.SYNCING
        assert job.status is JobStatus.RUNNING and job.progress == 99
        assert job.stats == {"filesTotal": 9, "chunksCreated": 4}
        assert job.started_at is not None and job.started_at.tzinfo is not None
        assert abs((job.started_at - started).total_seconds()) < 1
        assert jobs.queued_jobs(session) == []
    with store.session() as session:
        closed = jobs.close_job(session, job_id, status=JobStatus.COMPLETED)
        assert closed is not None and closed.progress == 100
        assert jobs.close_job(session, job_id, status=JobStatus.FAILED, error="late") is None
    with store.session() as session:
        job = jobs.get_job(session, job_id)
        assert job is not None and job.status is JobStatus.COMPLETED and job.error is None
        durations = jobs.finished_durations(session, source_id=source_id)
        assert len(durations) == 1 and 29 < durations[0] < 120


def test_list_jobs_filters_and_counts(store: MetadataStore) -> None:
    a, b = _source(store), _source(store)
    with store.session() as session:
        for source_id, count in ((a, 3), (b, 2)):
            source = sources.get_source(session, source_id)
            assert source is not None
            for _ in range(count):
                jobs.create_job(session, source=source, type=SyncType.INCREMENTAL, trigger="api")
    with store.session() as session:
        rows, total = jobs.list_jobs(session, source_id=a, limit=2)
        assert total == 3 and len(rows) == 2 and all(j.source_id == a for j in rows)
        _, queued = jobs.list_jobs(session, owner_id="alice", status=JobStatus.QUEUED)
        assert queued == 5
        _, none = jobs.list_jobs(session, owner_id="bob")
        assert none == 0


def test_deleting_a_source_removes_its_jobs(store: MetadataStore) -> None:
    source_id = _source(store)
    with store.session() as session:
        source = sources.get_source(session, source_id)
        assert source is not None
        job_id = jobs.create_job(session, source=source, type=SyncType.FULL, trigger="api").id
    with store.session() as session:
        source = sources.get_source(session, source_id)
        assert source is not None
        sources.delete_source(session, source)
    with store.session() as session:
        assert sources.get_source(session, source_id) is None
        assert jobs.get_job(session, job_id) is None


def test_a_failed_transaction_changes_nothing(store: MetadataStore) -> None:
    with pytest.raises(RuntimeError), store.session() as session:
        sources.create_source(
            session, owner_id="alice", tenant_id=None, type="local", name="x", config={}
        )
        raise RuntimeError("boom")
    with store.session() as session:
        assert sources.list_sources(session)[1] == 0


def test_enqueue_joins_a_waiting_job_and_upgrades_it_to_full(store: MetadataStore) -> None:
    source_id = _source(store)
    with store.session() as session:
        source = sources.get_source(session, source_id)
        assert source is not None
        first = jobs.enqueue_sync(session, source=source, type=SyncType.INCREMENTAL, trigger="a")
        again = jobs.enqueue_sync(session, source=source, type=SyncType.FULL, trigger="b")
        assert again.id == first.id and again.type is SyncType.FULL
        jobs.mark_running(session, first.id, run_id="r", started_at=datetime.now(UTC))
        after = jobs.enqueue_sync(session, source=source, type=SyncType.INCREMENTAL, trigger="c")
        assert after.id != first.id and after.type is SyncType.INCREMENTAL


def _delivery(store: MetadataStore, delivery_id: str, *, attempt: int | None) -> tuple[str, bool]:
    with store.session() as session:
        return webhooks.record_delivery(
            session,
            provider="bitbucket",
            delivery_id=delivery_id,
            event="repo:push",
            body_sha256="0" * 64,
            changes={"added": ["a.py"]},
            attempt_number=attempt,
            now=datetime.now(UTC),
        )


def test_a_delivery_is_stored_once_and_its_attempts_counted(store: MetadataStore) -> None:
    with store.session() as session:
        source = sources.create_source(
            session,
            owner_id="alice",
            tenant_id=None,
            type="bitbucket",
            name="service",
            config={"owner": "Team", "repo": "Service"},
        )
        source_id = source.id
        assert source.repository_key == "bitbucket:team/service"
        assert [
            s.id for s in sources.sources_for_repository(session, "bitbucket:team/service")
        ] == [source_id]
    row_id, new = _delivery(store, "req-1", attempt=1)
    assert new
    with store.session() as session:
        source = sources.get_source(session, source_id)
        assert source is not None
        job = jobs.enqueue_sync(
            session, source=source, type=SyncType.INCREMENTAL, trigger="webhook"
        )
        webhooks.add_target(
            session, delivery_row_id=row_id, source_id=source_id, job_id=job.id, reason=None
        )
    assert _delivery(store, "req-1", attempt=2) == (row_id, False)
    assert _delivery(store, "req-1", attempt=None) == (row_id, False)
    with store.session() as session:
        row = webhooks.get_delivery(session, provider="bitbucket", delivery_id="req-1")
        assert row is not None and (row.attempts, row.last_attempt_number) == (3, 2)
        assert row.changes == {"added": ["a.py"]} and row.last_received_at >= row.received_at
        assert webhooks.delivery_jobs(session, delivery_row_id=row_id) == [job.id]
        webhooks.add_rejection(
            session,
            provider="github",
            reason="missing X-Hub-Signature-256",
            delivery_id="x",
            event="push",
            remote_addr="10.0.0.1",
        )
        assert [r.reason for r in webhooks.recent_rejections(session)] == [
            "missing X-Hub-Signature-256"
        ]
    with store.session() as session:
        source = sources.get_source(session, source_id)
        assert source is not None
        sources.delete_source(session, source)
    with store.session() as session:
        # The delivery stays (a late redelivery is still recognized); its targets go.
        assert webhooks.delivery_jobs(session, delivery_row_id=row_id) == []
        assert webhooks.count_deliveries(session, provider="bitbucket") == 1
