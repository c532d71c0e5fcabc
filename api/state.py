"""What the app opens once at start-up and shares between requests."""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field

from dagster import DagsterInstance

from api.auth import signing_secret
from api.ratelimit import RateLimiter, make_storage, rules_from
from resources.dagster_home import dagster_instance
from resources.files import FileLister
from resources.lake import Lake
from resources.settings import Settings
from resources.store.engine import session_factory
from resources.vault import Vault

# What the reads load on first use (the code location defers them), loaded at start-up rather
# than in the time of the first requests, which would all queue behind the import.
READ_LIBRARIES = ("duckdb", "pyarrow.dataset", "pyarrow.fs", "pyarrow.parquet")


@dataclass
class AppState:
    """Settings, the lake and its file pages, keys, the rate limiter and the Dagster instance."""

    settings: Settings
    lake: Lake
    files: FileLister
    jwt_secret: str
    vault: Vault
    limiter: RateLimiter
    _instance: DagsterInstance | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, settings: Settings) -> AppState:
        """Migrate the store, load the reads' libraries and open what every request shares."""
        for library in READ_LIBRARIES:
            importlib.import_module(library)
        sessions = session_factory(settings.resolved_database_url)
        lake = Lake(url=settings.resolved_data_url)
        return cls(
            settings=settings,
            lake=lake,
            files=FileLister(lake, cached_pages=settings.files_page_cache),
            jwt_secret=signing_secret(settings),
            vault=Vault.from_settings(settings),
            limiter=RateLimiter(
                make_storage(redis_url=settings.redis_url, sessions=sessions),
                rules=rules_from(settings),
            ),
        )

    def instance(self) -> DagsterInstance:
        """The Dagster instance, opened on first use (only deletes, cancels and health need it)."""
        with self._lock:
            if self._instance is None:
                self._instance = dagster_instance(self.settings)
            return self._instance

    def close(self) -> None:
        """Release the Dagster instance."""
        with self._lock:
            if self._instance is not None:
                self._instance.dispose()
                self._instance = None
