"""Health: the seed's `/health`, plus `/healthz` (liveness) and `/readyz` (readiness)."""

from __future__ import annotations

import logging
from importlib.metadata import version

from fastapi import APIRouter, Response

from api.deps import StateDep
from api.schemas import HealthOut, ProbeOut
from api.state import AppState
from resources import dagster_runs
from resources.store.engine import ping, session_factory

logger = logging.getLogger(__name__)

VERSION = version("headwater")
CONNECTED = "connected"
HEALTHY = "healthy"

router = APIRouter(tags=["health"])


def _database(state: AppState) -> str:
    try:
        ping(session_factory(state.settings.resolved_database_url))
    except Exception:
        logger.warning("metadata store health check failed", exc_info=True)
        return "disconnected"
    return CONNECTED


def _redis(state: AppState) -> str | None:
    if not state.settings.redis_url:
        return None
    return CONNECTED if state.limiter.storage.check() else "disconnected"


def _daemon(state: AppState) -> str:
    try:
        alive = dagster_runs.daemon_alive(state.instance())
    except Exception:
        logger.warning("Dagster instance health check failed", exc_info=True)
        return "unavailable"
    return HEALTHY if alive else "unavailable"


@router.get("/health")
def health(state: StateDep) -> HealthOut:
    """Service health: the metadata store, Redis (when configured) and the Dagster daemon."""
    database, redis = _database(state), _redis(state)
    services = {"dagster-daemon": _daemon(state)}
    if database != CONNECTED or redis not in (None, CONNECTED):
        status = "unhealthy"
    elif any(value != HEALTHY for value in services.values()):
        status = "degraded"
    else:
        status = HEALTHY
    return HealthOut(
        status=status, version=VERSION, database=database, redis=redis, services=services
    )


@router.get("/healthz")
def healthz() -> ProbeOut:
    """Liveness: the process answers."""
    return ProbeOut(status="ok")


@router.get("/readyz", responses={503: {"model": ProbeOut, "description": "Not ready."}})
def readyz(state: StateDep, response: Response) -> ProbeOut:
    """Readiness: the metadata store (and Redis, when configured) answer."""
    checks = {"database": _database(state)}
    redis = _redis(state)
    if redis is not None:
        checks["redis"] = redis
    ready = all(value == CONNECTED for value in checks.values())
    if not ready:
        response.status_code = 503
    return ProbeOut(status="ready" if ready else "not ready", checks=checks)
