"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from resources.metadata import MetadataStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    """A migrated store on each backend, emptied after the test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = MetadataStore(database_url=url)
    yield store
    with store.session() as session:
        for table in (
            "webhook_rejections",
            "webhook_deliveries",
            "sync_jobs",
            "sources",
            "connections",
        ):
            session.execute(text(f"DELETE FROM {table}"))
