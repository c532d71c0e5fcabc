"""INSERT ... ON CONFLICT for the store's two databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def upsert_insert(session: Session, model: Any) -> sqlite.Insert | postgresql.Insert:
    """An INSERT into `model`'s table that takes `on_conflict_do_*` on SQLite and PostgreSQL.

    Raises:
        NotImplementedError: The session is bound to another database.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return sqlite.insert(model)
    if dialect == "postgresql":
        return postgresql.insert(model)
    raise NotImplementedError(f"upserts need SQLite or PostgreSQL, not {dialect}")
