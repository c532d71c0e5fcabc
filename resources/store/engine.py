"""Engines and sessions of the metadata store, and migrations applied at start-up."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000


class StoreBusy(Exception):
    """This process's writers kept a SQLite store busy for longer than the busy timeout."""


# The store cannot answer now (down, unreachable, locked, no free connection): worth trying
# again later, and never the caller's fault.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    StoreBusy,
)


POOL_TIMEOUT_S = 5
# A server that cannot be reached fails a connection (or a checkout) within seconds instead
# of hanging the caller: libpq's connect timeout bounds connecting, keepalives and the TCP
# user timeout find a connection whose peer vanished (a partition, a failover) while idle or
# mid-request.
POSTGRES_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # The API, the Dagster daemon and run workers share one file: WAL lets readers run
    # beside the writer, and the busy timeout turns lock contention into waiting.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get WAL, a busy timeout and foreign keys."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    return create_engine(
        url,
        connect_args=POSTGRES_CONNECT_ARGS,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        pool_timeout=POOL_TIMEOUT_S,
    )


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest alembic revision (idempotent).

    On SQLite, foreign keys are off while migrating: alembic's batch mode rebuilds a table
    by copying it and dropping the old one, and with them on, dropping `sources` would
    cascade to every job. The keys are checked once the migration is done.
    """
    # Imported here: alembic (with mako and pygments) is a tenth of a run worker's imports,
    # and a run worker's start is part of the delay from a webhook to its run.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # Outside any transaction, or SQLite ignores it.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        with connection.begin():
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
            if broken:
                raise RuntimeError(f"migration left rows with dangling foreign keys: {broken[:5]}")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error."""
    with factory() as session, session.begin():
        yield session


@contextmanager
def write_transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """As `transaction`, for work that writes, on SQLite one writer of this process at a time.

    SQLite has one write lock per file, and its busy handler polls for it with growing sleeps:
    many threads polling at once waste the lock's free moments and the unlucky ones time out
    ("database is locked"). Here they queue on a lock of this process instead, and the one
    whose turn it is takes SQLite's write lock first thing (`BEGIN IMMEDIATE`), waiting up to
    the busy timeout only for other processes (API workers, the daemon, run workers).

    Raises:
        StoreBusy: The turn did not come within the busy timeout.
    """
    engine = factory.kw["bind"]
    if engine.dialect.name != "sqlite":
        with transaction(factory) as session:
            yield session
        return
    lock = _sqlite_writer_lock(str(engine.url))
    if not lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
        raise StoreBusy(f"no turn to write within {SQLITE_BUSY_TIMEOUT_MS} ms")
    try:
        with transaction(factory) as session:
            # pysqlite begins a transaction only before a write, so this is the first statement.
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            yield session
    finally:
        lock.release()


@lru_cache(maxsize=8)
def _sqlite_writer_lock(url: str) -> threading.Lock:
    """The lock this process's writers to the SQLite database `url` take turns on."""
    return threading.Lock()


_FIRST_USE = threading.Lock()


def session_factory(url: str) -> sessionmaker[Session]:
    """The process's session factory for `url`, migrated to the newest schema on first use.

    Threads (the code server's sensor threads, the API's) take turns: alembic keeps its
    migration context in module globals, so two migrations at once in one process break.
    """
    with _FIRST_USE:
        return _session_factory(url)


@lru_cache(maxsize=8)
def _session_factory(url: str) -> sessionmaker[Session]:
    engine = make_engine(url)
    migrate(engine)
    return make_session_factory(engine)


def ping(factory: sessionmaker[Session]) -> None:
    """Run a trivial query; raises if the store cannot answer."""
    with factory() as session:
        session.execute(text("SELECT 1"))
