"""The HTTP facade: builds the app, its middleware, error handlers and routers.

Served with `uvicorn --factory api.main:create_app`: settings are read when the app is
built, never at import.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.errors import install_error_handlers
from api.logs import configure_logging
from api.middleware import REQUEST_ID_HEADER, RequestContextMiddleware
from api.openapi import openapi_schema
from api.routes import (
    connect,
    connections,
    connectors,
    files,
    health,
    jobs,
    oauth,
    sources,
    webhooks,
)
from api.state import AppState
from resources.settings import Settings, get_settings

RATE_LIMIT_HEADERS = ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API for `settings` (the environment's by default)."""
    settings = settings or get_settings()
    # JSON from the first line on (opening the state may warn), then with the key to mask.
    configure_logging()
    state = AppState.open(settings)
    configure_logging(secrets=[state.jwt_secret])

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    app = FastAPI(
        title="Headwater",
        version=health.VERSION,
        description="Connect data sources and keep an AI-ready copy of them fresh.",
        lifespan=lifespan,
        # Headwater exports no OpenTelemetry; FastAPI's look for a configured provider on
        # every request cost ~4% of a read.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.headwater = state
    install_error_handlers(app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
        expose_headers=[REQUEST_ID_HEADER, "Retry-After", *RATE_LIMIT_HEADERS],
    )
    # Added last, so it wraps everything: CORS answers and errors get a request id too.
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_request_bytes,
        body_caps={webhooks.router.prefix + "/": webhooks.MAX_BODY_BYTES},
    )
    for module in (health, sources, files, jobs, connectors, connect, connections, oauth, webhooks):
        app.include_router(module.router)
    app.openapi = lambda: openapi_schema(app)  # type: ignore[method-assign]
    return app
