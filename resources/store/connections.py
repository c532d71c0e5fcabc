"""Queries and changes of connections: keyword-only functions over a session."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from resources.store.models import Connection, Source
from resources.store.owners import Owner


class DuplicateName(Exception):
    """The owner already has a connection of that name."""


def create_connection(
    session: Session,
    *,
    owner: Owner,
    type: str,
    name: str,
    description: str | None,
    config: dict[str, Any],
    options: dict[str, Any],
) -> Connection:
    """Add a connection (config already validated and sealed) and return it, flushed.

    Raises:
        DuplicateName: The owner has a connection of that name (the session is unchanged).
    """
    connection = Connection(
        owner_id=owner.user_id,
        tenant_id=owner.tenant_id,
        type=type,
        name=name,
        description=description,
        config=config,
        options=options,
    )
    _flush_unique(session, connection, name)
    return connection


def get_connection(session: Session, connection_id: str, *, owner: Owner) -> Connection | None:
    """The owner's connection with this id, or None."""
    connection = session.get(Connection, connection_id)
    return connection if connection is not None and owner.owns(connection) else None


def list_connections(
    session: Session, *, owner: Owner, type: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[Sequence[Connection], int]:
    """A page of the owner's connections (by name) and how many there are in all."""
    query = select(Connection).where(owner.clause(Connection))
    if type is not None:
        query = query.where(Connection.type == type)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Connection.name, Connection.id).limit(limit).offset(offset)
    ).all()
    return rows, total


def rename_connection(session: Session, connection: Connection, name: str) -> None:
    """Give the connection another name.

    Raises:
        DuplicateName: Another of the owner's connections has that name.
    """
    if name != connection.name:
        connection.name = name
        _flush_unique(session, connection, name)


def sources_using(session: Session, connection_id: str) -> Sequence[Source]:
    """The sources that take their credentials (and options) from the connection."""
    return session.scalars(select(Source).where(Source.connection_id == connection_id)).all()


def delete_connection(session: Session, connection: Connection) -> None:
    """Remove a connection no source uses."""
    session.delete(connection)
    session.flush()


def _flush_unique(session: Session, connection: Connection, name: str) -> None:
    """Flush inside a savepoint, so a name clash leaves the transaction usable."""
    try:
        with session.begin_nested():
            session.add(connection)
            session.flush()
    except IntegrityError as error:
        raise DuplicateName(name) from error
