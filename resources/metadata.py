"""The metadata store as a Dagster resource."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import ConfigurableResource
from pydantic import Field
from sqlalchemy.orm import Session

from resources.store.engine import session_factory, transaction


class MetadataStore(ConfigurableResource):
    """Sources, jobs and the rest of Headwater's state, in SQLite or PostgreSQL."""

    database_url: str = Field(description="SQLAlchemy URL of the metadata store.")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: commits when the block ends, rolls back if it raises."""
        with transaction(session_factory(self.database_url)) as session:
            yield session
