"""The HTTP facade (the sources/jobs API grows here; see the HTTP facade issue)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from resources.settings import get_settings
from resources.store.engine import session_factory

VERSION = "0.1.0"

app = FastAPI(title="Headwater", version=VERSION)


@app.get("/health")
def health() -> dict[str, Any]:
    """Service health: the metadata store answers."""
    try:
        with session_factory(get_settings().resolved_database_url)() as session:
            session.execute(text("SELECT 1"))
        database = "connected"
    except Exception as error:
        database = f"error: {type(error).__name__}"
    healthy = database == "connected"
    return {
        "status": "healthy" if healthy else "unhealthy",
        "version": VERSION,
        "database": database,
    }
