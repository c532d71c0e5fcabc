"""The metadata store against SQLite and the machine's PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from resources.metadata import MetadataStore
from resources.store import jobs, sources, webhooks
from resources.store.engine import (
    MIGRATIONS_DIR,
    make_engine,
    make_session_factory,
    migrate,
    session_factory,
)
from resources.store.models import JobStatus, SourceStatus, SyncType
from resources.store.owners import Owner


def _source(store: MetadataStore, owner: str = "alice", tenant: str | None = None) -> str:
    with store.session() as session:
        return sources.create_source(
            session,
            owner_id=owner,
            tenant_id=tenant,
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
        assert sources.get_source(session, mine, owner=Owner("alice")) is not None
        assert sources.get_source(session, theirs, owner=Owner("alice")) is None
        rows, total = sources.list_sources(session, owner=Owner("alice"))
        assert total == 1 and [s.id for s in rows] == [mine]
        assert sources.all_source_ids(session) == {mine, theirs}


def test_the_same_user_name_in_another_tenant_is_somebody_else(store: MetadataStore) -> None:
    plain, acme, globex = (_source(store, "alice", tenant) for tenant in (None, "acme", "globex"))
    with store.session() as session:
        for source_id in (plain, acme):
            source = sources.get_source(session, source_id)
            assert source is not None
            jobs.create_job(session, source=source, type=SyncType.FULL, trigger="api")
    with store.session() as session:
        for tenant, own in ((None, plain), ("acme", acme), ("globex", globex)):
            owner = Owner("alice", tenant)
            rows, total = sources.list_sources(session, owner=owner)
            assert total == 1 and [s.id for s in rows] == [own]
            others = {plain, acme, globex} - {own}
            assert all(sources.get_source(session, o, owner=owner) is None for o in others)
            listed, _ = jobs.list_jobs(session, owner=owner)
            assert {j.source_id for j in listed} <= {own}
            assert all(jobs.get_job(session, j.id, owner=owner) is not None for j in listed)
        acme_jobs, _ = jobs.list_jobs(session, owner=Owner("alice", "acme"))
        assert [j.tenant_id for j in acme_jobs] == ["acme"]
        assert jobs.get_job(session, acme_jobs[0].id, owner=Owner("alice")) is None


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
        _, queued = jobs.list_jobs(session, owner=Owner("alice"), status=JobStatus.QUEUED)
        assert queued == 5
        _, none = jobs.list_jobs(session, owner=Owner("bob"))
        assert none == 0


def test_last_requested_is_each_sources_latest_job_in_batches(
    store: MetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "IN_BATCH", 2)  # five sources: three batches
    ids = [_source(store) for _ in range(5)]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with store.session() as session:
        for n, source_id in enumerate(ids[:4]):  # the fifth has no job
            source = sources.get_source(session, source_id)
            assert source is not None
            for hours in range(n + 1):
                job = jobs.create_job(session, source=source, type=SyncType.FULL, trigger="api")
                job.created_at = start + timedelta(hours=hours)
    with store.session() as session:
        latest = jobs.last_requested(session, ids)
    assert latest == {source_id: start + timedelta(hours=n) for n, source_id in enumerate(ids[:4])}


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


def _sqlite_store_at(tmp_path: Path, revision: str) -> Engine:
    """A SQLite store migrated up to `revision` only."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return engine


def test_migrating_a_filled_sqlite_store_keeps_every_row(tmp_path: Path) -> None:
    """Batch migrations rebuild `sources`; the jobs that reference it must survive."""
    engine = _sqlite_store_at(tmp_path, "0003")
    sessions = make_session_factory(engine)
    with sessions() as session, session.begin():
        session.execute(
            text(
                "INSERT INTO sources (id, owner_id, type, name, config, status, created_at,"
                " updated_at) VALUES ('s1', 'alice', 'local', 'd', '{}', 'synced', :now, :now)"
            ),
            {"now": datetime.now(UTC)},
        )
        session.execute(
            text(
                "INSERT INTO sync_jobs (id, source_id, owner_id, type, status, trigger, progress,"
                " stats, created_at, updated_at) VALUES ('j1', 's1', 'alice', 'full',"
                " 'completed', 'api', 100, '{}', :now, :now)"
            ),
            {"now": datetime.now(UTC)},
        )
    migrate(engine)
    with sessions() as session:
        assert session.execute(text("SELECT id FROM sync_jobs")).scalars().all() == ["j1"]
        assert session.execute(text("SELECT connection_id FROM sources")).scalar() is None
        assert session.execute(text("SELECT options FROM sources")).scalar() == "{}"


def test_free_form_connection_options_are_dropped_for_checked_ones(tmp_path: Path) -> None:
    engine = _sqlite_store_at(tmp_path, "0007")
    sessions = make_session_factory(engine)
    with sessions() as session, session.begin():
        session.execute(
            text(
                "INSERT INTO connections (id, owner_id, type, name, config, options, status,"
                " created_at, updated_at) VALUES ('c1', 'alice', 'github', 'gh', '{}',"
                " '{\"note\": \"free text\"}', 'active', :now, :now)"
            ),
            {"now": datetime.now(UTC)},
        )
    migrate(engine)
    with sessions() as session:
        assert session.execute(text("SELECT options FROM connections")).scalar() == "{}"


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
