"""Job progress written to the metadata store while a run works, at most once a second."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from resources.metadata import MetadataStore
from resources.store import jobs

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# Share of the whole job each stage covers: embedding dominates a full sync.
STAGE_SPANS: dict[str, tuple[int, int]] = {
    "raw_files": (0, 25),
    "documents": (25, 40),
    "chunks": (40, 55),
    "embeddings": (55, 100),
}
MIN_INTERVAL_S = 1.0


@dataclass
class JobProgress:
    """Reports one stage's progress for the job a run belongs to (a no-op without a job)."""

    store: MetadataStore
    job_id: str | None
    run_id: str
    stage: str
    _last_write: float = field(default=0.0, init=False)

    def start(self) -> None:
        """Mark the job running (the run-status sensor does the same, whichever comes first)."""
        if self.job_id is None:
            return
        # One transaction: on SQLite each commit is a disk sync.
        with self.store.session() as session:
            jobs.mark_running(
                session, self.job_id, run_id=self.run_id, started_at=datetime.now(UTC)
            )
            self._report(session, self.job_id, done=0, total=1, stats={})

    def update(self, *, done: int, total: int, stats: dict[str, Any], force: bool = False) -> None:
        """Record `done` of `total` items in this stage, and the stats so far."""
        now = time.monotonic()
        if self.job_id is None or (not force and now - self._last_write < MIN_INTERVAL_S):
            return
        with self.store.session() as session:
            self._report(session, self.job_id, done=done, total=total, stats=stats)

    def finish(self, stats: dict[str, Any]) -> None:
        """Record the stage's final stats, whatever the throttle says."""
        self.update(done=1, total=1, stats=stats, force=True)

    def _report(
        self, session: Session, job_id: str, *, done: int, total: int, stats: dict[str, Any]
    ) -> None:
        self._last_write = time.monotonic()
        low, high = STAGE_SPANS[self.stage]
        percent = low + (high - low) * (done / total if total else 1.0)
        jobs.report_progress(session, job_id, stage=self.stage, progress=int(percent), stats=stats)
