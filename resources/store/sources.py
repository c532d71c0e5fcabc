"""Queries and changes of sources: keyword-only functions over a session."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from resources.store.models import Source
from resources.store.owners import Owner
from resources.webhooks.providers import source_repository_key


def create_source(
    session: Session,
    *,
    owner_id: str,
    tenant_id: str | None,
    type: str,
    name: str,
    config: dict[str, Any],
    options: dict[str, Any] | None = None,
    connection_id: str | None = None,
) -> Source:
    """Add a source in `pending` status and return it (flushed, so it has its id).

    A code-host source gets its repository key, by which webhook deliveries find it.
    """
    source = Source(
        owner_id=owner_id,
        tenant_id=tenant_id,
        type=type,
        name=name,
        config=config,
        options=options or {},
        connection_id=connection_id,
        repository_key=source_repository_key(type, config),
    )
    session.add(source)
    session.flush()
    return source


def get_source(session: Session, source_id: str, *, owner: Owner | None = None) -> Source | None:
    """The source with this id, or None; with `owner`, only if it belongs to them."""
    source = session.get(Source, source_id)
    if source is None or (owner is not None and not owner.owns(source)):
        return None
    return source


def list_sources(
    session: Session, *, owner: Owner | None = None, limit: int = 100, offset: int = 0
) -> tuple[Sequence[Source], int]:
    """A page of sources (newest first) and the total count, optionally for one owner."""
    query = select(Source)
    if owner is not None:
        query = query.where(owner.clause(Source))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Source.created_at.desc(), Source.id).limit(limit).offset(offset)
    ).all()
    return rows, total


def sources_for_repository(session: Session, repository_key: str) -> Sequence[Source]:
    """The sources of one repository (an indexed lookup), oldest first."""
    return session.scalars(
        select(Source)
        .where(Source.repository_key == repository_key)
        .order_by(Source.created_at, Source.id)
    ).all()


def sources_of_types(session: Session, types: Iterable[str]) -> Sequence[Source]:
    """Every source of the given connector types, oldest first."""
    return session.scalars(
        select(Source).where(Source.type.in_(list(types))).order_by(Source.created_at, Source.id)
    ).all()


def all_sources(session: Session) -> Sequence[Source]:
    """Every source with its connection loaded (their options make the ones in force)."""
    return session.scalars(
        select(Source).options(selectinload(Source.connection)).order_by(Source.created_at)
    ).all()


def all_source_ids(session: Session) -> set[str]:
    """Every source id: the partition keys Dagster should know."""
    return set(session.scalars(select(Source.id)))


def update_source(session: Session, source: Source, *, name: str, options: dict[str, Any]) -> None:
    """Rename a source and set its own options (validated by the caller)."""
    source.name = name
    source.options = options
    session.flush()


def delete_source(session: Session, source: Source) -> None:
    """Remove a source and, by cascade, its jobs."""
    session.delete(source)
    session.flush()


def default_name(type: str, config: dict[str, Any]) -> str:
    """A display name from the config (last part of its url or path), else the type."""
    for key in ("url", "path", "repo", "folderId"):
        if key in config:
            return str(config[key]).rstrip("/").rsplit("/", 1)[-1] or str(config[key])
    return type
