"""The reconcile schedule: freshness never depends on webhooks alone.

GitHub never redelivers a failed delivery by itself, and any host can drop one. Every
`HEADWATER_RECONCILE_INTERVAL_MINUTES`, each source whose connector can tell its branch head
in one cheap call (`BranchHead`) is compared with the commit of its last good sync (the
cursor of its `raw_files` version); when they differ and the source has no job queued or
running, an incremental job (trigger `reconcile`) is queued. Like every sync request it is
only a `sync_jobs` row: the sync-request sensor turns it into a run, so the schedule itself
requests no runs and each tick ends as a skip that says what it queued.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from sqlalchemy.orm import Session, sessionmaker

from connector_assets.jobs import sync_source
from connector_assets.resources import PipelineSettings
from resources.connectors import ConnectorError, open_connector
from resources.connectors.base import BranchHead
from resources.connectors.registry import CONNECTORS
from resources.dagster_resources import LakeResource, VaultResource
from resources.lake import Lake
from resources.metadata import MetadataStore
from resources.source_credentials import connector_config
from resources.store import jobs, sources
from resources.store.engine import session_factory
from resources.store.models import SyncType
from resources.vault import Vault, VaultError

logger = logging.getLogger(__name__)

TRIGGER = "reconcile"
SCHEDULE_NAME = "reconcile_code_hosts"
# Branch heads asked for at once, and how long one tick waits for them: a provider that
# makes the connector wait (rate limits) leaves its source to the next tick.
WORKERS = 8
BUDGET_S = 40.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """A source to compare, and the commit of its last good sync."""

    source_id: str
    synced: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What reconciling one source found.

    Attributes:
        source_id: The source.
        synced: The commit of its last good sync.
        head: Its branch head now; None if it could not be read (see `error`).
        job_id: The job queued because they differ, else None.
        error: Why the head could not be read, else None.
    """

    source_id: str
    synced: str | None
    head: str | None
    job_id: str | None = None
    error: str | None = None


def branch_head_types() -> list[str]:
    """Connector types that can tell their branch head cheaply."""
    return sorted(name for name, cls in CONNECTORS.items() if issubclass(cls, BranchHead))


def reconcile_heads(
    *, store: MetadataStore, lake: Lake, vault: Vault, workdir: Callable[[str], Path]
) -> list[Outcome]:
    """Queue an incremental job for each idle source whose branch moved past its last sync.

    Sources never synced wait for their first sync; sources with a job queued or running
    are left to it.
    """
    with store.session() as session:
        idle = [
            source.id
            for source in sources.sources_of_types(session, branch_head_types())
            if jobs.pending_job(session, source_id=source.id) is None
        ]
    candidates = []
    for source_id in idle:
        version = lake.current("raw_files", source_id)
        if version is not None:
            candidates.append(Candidate(source_id=source_id, synced=version.meta.get("cursor")))
    sessions = session_factory(store.database_url)
    outcomes = _read_heads(candidates, sessions=sessions, vault=vault, workdir=workdir)
    return [_queue_if_behind(store, outcome) for outcome in outcomes]


def _read_heads(
    candidates: list[Candidate],
    *,
    sessions: sessionmaker[Session],
    vault: Vault,
    workdir: Callable[[str], Path],
) -> list[Outcome]:
    """Each candidate's branch head, asked in parallel within the tick's budget."""
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="reconcile")
    futures: dict[Future[str | None], Candidate] = {
        pool.submit(
            _head, sessions, vault, candidate.source_id, workdir(candidate.source_id)
        ): candidate
        for candidate in candidates
    }
    _, late = wait(futures, timeout=BUDGET_S)
    pool.shutdown(wait=False, cancel_futures=True)
    outcomes = []
    for future, candidate in futures.items():
        error: str | None = None
        head: str | None = None
        if future in late:
            error = f"no answer within {BUDGET_S:g} s; tried again next tick"
        elif (failure := future.exception()) is not None:
            if not isinstance(failure, ConnectorError | VaultError):
                raise failure
            error = str(failure)
        else:
            head = future.result()
        if error is not None:
            logger.warning("reconcile: head of source %s unknown: %s", candidate.source_id, error)
        outcomes.append(
            Outcome(source_id=candidate.source_id, synced=candidate.synced, head=head, error=error)
        )
    return outcomes


def _head(
    sessions: sessionmaker[Session], vault: Vault, source_id: str, workdir: Path
) -> str | None:
    """The source's branch head; None when it was deleted meanwhile."""
    found = connector_config(sessions, vault, source_id)
    if found is None:
        return None
    with open_connector(found.type, found.config, workdir=workdir) as connector:
        assert isinstance(connector, BranchHead)
        return connector.head_sha()


def _queue_if_behind(store: MetadataStore, outcome: Outcome) -> Outcome:
    if outcome.head is None or outcome.head == outcome.synced:
        return outcome
    with store.session() as session:
        source = sources.get_source(session, outcome.source_id)
        # A job queued since the check will fetch the new head anyway.
        if source is None or jobs.pending_job(session, source_id=source.id) is not None:
            return outcome
        job = jobs.enqueue_sync(session, source=source, type=SyncType.INCREMENTAL, trigger=TRIGGER)
    logger.info(
        "reconcile: source %s at %s, branch at %s: queued job %s",
        outcome.source_id,
        (outcome.synced or "-")[:12],
        outcome.head[:12],
        job.id,
    )
    return Outcome(
        source_id=outcome.source_id, synced=outcome.synced, head=outcome.head, job_id=job.id
    )


def reconcile_schedule(cron: str) -> dg.ScheduleDefinition:
    """The reconcile schedule, firing on `cron` (from HEADWATER_RECONCILE_INTERVAL_MINUTES)."""

    @dg.schedule(
        name=SCHEDULE_NAME,
        cron_schedule=cron,
        job=sync_source,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            "Compares each code-host source's synced commit with its branch head and queues an "
            "incremental sync when a webhook was missed (the sync_requests sensor runs it)."
        ),
    )
    def _schedule(
        context: dg.ScheduleEvaluationContext,
        store: MetadataStore,
        lake: LakeResource,
        vault: VaultResource,
        pipeline: PipelineSettings,
    ) -> dg.SkipReason:
        outcomes = reconcile_heads(
            store=store, lake=lake.get_lake(), vault=vault.get_vault(), workdir=pipeline.workdir
        )
        queued = [o for o in outcomes if o.job_id is not None]
        failed = [o for o in outcomes if o.error is not None]
        message = (
            f"{len(outcomes)} sources compared with their branch heads; "
            f"{len(queued)} behind, incremental jobs queued "
            f"({', '.join(o.job_id for o in queued if o.job_id) or 'none'}); "
            f"{len(failed)} heads unknown"
        )
        context.log.info(message)
        return dg.SkipReason(message)

    return _schedule
