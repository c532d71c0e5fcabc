"""Dependencies of the routes, as `Annotated` aliases: settings, session, user, lake, limits.

Those that never block are `async def`: FastAPI runs a sync dependency in its thread pool,
and a hop there per dependency per request was a large share of a request's cost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Annotated, Concatenate, ParamSpec, TypeVar

from dagster import DagsterInstance
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.auth import InvalidToken, User, decode_token, service_user
from api.errors import (
    ApiError,
    ErrorCode,
    connection_not_found,
    job_not_found,
    source_not_found,
    unauthorized,
)
from api.middleware import QUOTA_STATE
from api.state import AppState
from resources.lake import Lake
from resources.settings import Settings
from resources.store import connections, jobs, sources
from resources.store.engine import session_factory, transaction
from resources.store.models import Connection, Source, SyncJob

P = ParamSpec("P")
T = TypeVar("T")

bearer = HTTPBearer(auto_error=False, description="A token from `headwater token --user NAME`.")
service_token = APIKeyHeader(
    name="X-Service-Token",
    auto_error=False,
    description=(
        "Internal callers: `HEADWATER_SERVICE_TOKEN`, acting for the user named by the "
        "`X-User-Id` header (and the tenant of `X-Tenant-Id`, if any)."
    ),
)


async def get_state(request: Request) -> AppState:
    """What the app opened at start-up."""
    state: AppState = request.app.state.headwater
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_settings(state: StateDep) -> Settings:
    """The settings the app started with."""
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_session(settings: SettingsDep) -> Iterator[Session]:
    """A transaction for the request: committed before the response goes out, else rolled back."""
    with store_transaction(settings) as session:
        yield session


def store_transaction(settings: Settings) -> AbstractContextManager[Session]:
    """A transaction on the metadata store of `settings`."""
    return transaction(session_factory(settings.resolved_database_url))


async def in_store(
    settings: Settings,
    work: Callable[Concatenate[Session, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """`work(session, ...)` in a transaction of its own, in one trip to the thread pool.

    For the read routes: `SessionDep` and the dependencies on it take a trip each (two for
    the session), which was a large share of a read's cost.
    """

    def run() -> T:
        with store_transaction(settings) as session:
            return work(session, *args, **kwargs)

    return await run_in_threadpool(run)


# scope="function": the commit happens before the response is sent, so a 201 means stored.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def get_public_url(request: Request, settings: SettingsDep) -> str:
    """The base URL code hosts reach the API at: HEADWATER_PUBLIC_URL, else this request's."""
    return (settings.public_url or str(request.base_url)).rstrip("/")


PublicUrl = Annotated[str, Depends(get_public_url)]


async def get_lake(state: StateDep) -> Lake:
    """The lake."""
    return state.lake


LakeDep = Annotated[Lake, Depends(get_lake)]


def get_instance(state: StateDep) -> DagsterInstance:
    """The Dagster instance of these settings, opened on first use."""
    return state.instance()


InstanceDep = Annotated[DagsterInstance, Depends(get_instance)]


async def get_current_user(
    request: Request,
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    service: Annotated[str | None, Depends(service_token)],
) -> User:
    """The user of the bearer token, or the one a service call acts for; else 401."""
    if service is not None:
        expected = state.settings.service_token
        try:
            return service_user(
                expected.get_secret_value() if expected else None,
                service,
                user=request.headers.get("x-user-id"),
                tenant=request.headers.get("x-tenant-id"),
            )
        except InvalidToken as error:
            raise unauthorized(str(error)) from error
    if credentials is None:
        raise unauthorized("Missing bearer token (Authorization: Bearer <token>)")
    if credentials.scheme.lower() != "bearer":
        raise unauthorized("Authorization must use the Bearer scheme")
    try:
        return decode_token(state.jwt_secret, credentials.credentials)
    except InvalidToken as error:
        raise unauthorized(str(error)) from error


CurrentUser = Annotated[User, Depends(get_current_user)]


def enforce_rate_limit(request: Request, user: CurrentUser, state: StateDep) -> None:
    """Count the request against its route's limit; 429 RATE_LIMITED past it."""
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    quota = state.limiter.hit(method=request.method, route_path=path, user=user.id)
    # The middleware adds the X-RateLimit-* headers to whatever response follows.
    request.scope["state"][QUOTA_STATE] = quota
    if not quota.allowed:
        raise ApiError(
            429,
            ErrorCode.RATE_LIMITED,
            f"Rate limit of {quota.limit} requests exceeded; retry after the window resets",
            details={"limit": quota.limit, "resetAt": int(quota.reset_at)},
            headers=quota.headers(),
        )


RateLimited = Depends(enforce_rate_limit)


def get_owned_source(source_id: str, session: SessionDep, user: CurrentUser) -> Source:
    """The path's source if it is the user's (in their tenant); else 404 SOURCE_NOT_FOUND."""
    return owned_source(session, source_id, user)


def owned_source(session: Session, source_id: str, user: User) -> Source:
    """The source if it is the user's (in their tenant); else 404 SOURCE_NOT_FOUND."""
    source = sources.get_source(session, source_id, owner=user.owner)
    if source is None:
        raise source_not_found(source_id)
    return source


OwnedSource = Annotated[Source, Depends(get_owned_source)]


async def get_read_source(source_id: str, settings: SettingsDep, user: CurrentUser) -> Source:
    """As `OwnedSource`, read in a transaction of its own, for routes that only read it."""
    return await in_store(settings, owned_source, source_id, user)


ReadSource = Annotated[Source, Depends(get_read_source)]


def get_owned_job(job_id: str, session: SessionDep, user: CurrentUser) -> SyncJob:
    """The path's job if the user owns it; 404 JOB_NOT_FOUND otherwise."""
    return owned_job(session, job_id, user)


def owned_job(session: Session, job_id: str, user: User) -> SyncJob:
    """The job if the user owns it; 404 JOB_NOT_FOUND otherwise."""
    job = jobs.get_job(session, job_id, owner=user.owner)
    if job is None:
        raise job_not_found(job_id)
    return job


OwnedJob = Annotated[SyncJob, Depends(get_owned_job)]


def get_owned_connection(connection_id: str, session: SessionDep, user: CurrentUser) -> Connection:
    """The path's connection if it is the user's; 404 CONNECTION_NOT_FOUND otherwise."""
    found = connections.get_connection(session, connection_id, owner=user.owner)
    if found is None:
        raise connection_not_found(connection_id)
    return found


OwnedConnection = Annotated[Connection, Depends(get_owned_connection)]
