"""The database handle: engine, session factory and migrations for SQLite or PostgreSQL.

Embedded mode uses SQLite under the data directory; production points ``database_url`` at
PostgreSQL. Both go through the same :class:`Database`, which is an async context manager::

    async with Database(url) as db:
        await db.upgrade()
        async with db.sessions() as session: ...
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.errors import BadDatabaseUrl

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"

# Plain driver names people type are mapped to the async driver vcounter runs on.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}

# How long a SQLite writer waits for another connection's write lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 5000


def default_sqlite_url(data_dir: Path) -> str:
    """The embedded database under ``data_dir``; used when no ``database_url`` is configured."""
    return f"sqlite+aiosqlite:///{data_dir.as_posix()}/vcounter.db"


def parse_database_url(url: str) -> URL:
    """Check ``url`` names a supported database and return it with its async driver.

    Raises :class:`BadDatabaseUrl` naming the URL (password hidden) when it is not usable.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise BadDatabaseUrl(
            f"cannot parse database URL {url!r}; use sqlite+aiosqlite:///path/vcounter.db"
            " or postgresql+asyncpg://user:password@host:5432/dbname"
        ) from exc
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        shown = parsed.render_as_string(hide_password=True)
        raise BadDatabaseUrl(
            f"unsupported database URL {shown!r} (driver {parsed.drivername!r}); vcounter runs"
            " on sqlite+aiosqlite:// or postgresql+asyncpg://"
        )
    parsed = parsed.set(drivername=driver)
    if driver == "postgresql+asyncpg" and not parsed.database:
        raise BadDatabaseUrl(
            f"database URL {parsed.render_as_string(hide_password=True)!r} names no database;"
            " add /dbname at the end"
        )
    return parsed


def _pool_options(dialect: str) -> dict[str, int]:
    # PostgreSQL: SQLAlchemy's default 5 (+10 overflow) connections a process queued a
    # burst of 2,000 reconnecting clients for longer than the pool's 30 s wait; each
    # process may hold up to 40 (two processes stay well inside PostgreSQL's default 100).
    # No overflow: an overflow connection is closed when it is given back, and under load
    # that was a new server process forked, signed in and its statements prepared again
    # many times a second; opened when first needed, a pool connection is kept.
    if dialect == "postgresql":
        return {"pool_size": 40, "max_overflow": 0}
    return {}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the console read while the router writes; foreign keys are off by default in
    # SQLite and the busy timeout makes a second writer wait instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def alembic_config() -> Config:
    """The Alembic configuration for the installed package, built without reading an ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _run_upgrade(connection: Connection) -> None:
    config = alembic_config()
    # env.py migrates on this connection instead of opening its own.
    config.attributes["connection"] = connection
    # "heads": independent features add their own branches off 0001; all of them apply.
    command.upgrade(config, "heads")


class Transaction:
    """An open write transaction and the per-session chain locks it holds until it ends."""

    def __init__(self, db: Database, session: AsyncSession, stack: AsyncExitStack) -> None:
        self.db = db
        self.session = session
        self._stack = stack
        self._held: set[str] = set()

    async def hold(self, key: str) -> None:
        """Take the process lock ``key`` until the transaction has committed or rolled back."""
        if key not in self._held:
            self._held.add(key)
            await self._stack.enter_async_context(self.db.lock(key))


class Database:
    """One database: the engine, a session factory and per-resource locks; close it on exit."""

    def __init__(self, url: str) -> None:
        parsed = parse_database_url(url)
        self.url = parsed.render_as_string(hide_password=False)
        self.dialect = parsed.get_backend_name()
        self._sqlite_file = parsed.database if self.dialect == "sqlite" else None
        self.engine: AsyncEngine = create_async_engine(parsed, **_pool_options(self.dialect))
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )
        # The process lease gets a connection of its own: a process whose pool is busy with
        # a burst of clients is alive, and must not be declared dead (and its sockets dropped
        # by the others) because its heartbeat queued behind them. SQLite is one process.
        self._lease_engine: AsyncEngine | None = None
        if self.dialect == "postgresql":
            self._lease_engine = create_async_engine(parsed, pool_size=1, max_overflow=0)
        self._lease_sessions = async_sessionmaker(
            self._lease_engine or self.engine, expire_on_commit=False
        )
        # Reads of one statement need no transaction around them; on PostgreSQL one costs a
        # BEGIN and a ROLLBACK round trip besides the query, and under load the round trips
        # (each an event-loop turn) are most of a handler's time. Same pool: no isolation
        # level is sent to the server for this (asyncpg's autocommit is client-side).
        reader = self.engine
        if self.dialect == "postgresql":
            reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.reads: async_sessionmaker[AsyncSession] = async_sessionmaker(
            reader, expire_on_commit=False
        )
        # Weak values: a lock lives only while someone holds or waits for it, so one per
        # session id does not pile up over months of calls.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        # told of each statement sent past SQLAlchemy (storage.rows on asyncpg) and how long
        # it took: what the engine's events are for the rest (metrics, statement counts)
        self.direct_statements: list[Callable[[str, float], None]] = []

    def __repr__(self) -> str:
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"

    async def __aenter__(self) -> Self:
        if self._sqlite_file and self._sqlite_file != ":memory:":
            # A fresh data directory is normal on first start; SQLite will not create it.
            Path(self._sqlite_file).parent.mkdir(parents=True, exist_ok=True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.engine.dispose()
        if self._lease_engine is not None:
            await self._lease_engine.dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One write transaction that may change routing state and append chain events.

        On SQLite, routing writers of this process take turns (SQLite has one writer anyway,
        and a deferred transaction that read first would fail rather than wait); on
        PostgreSQL, row locks and conditional updates order writers of every process.
        """
        # Locks live on the outer stack: they are released only after the commit (or the
        # rollback) of the inner block, so nobody appends to a chain between our read of its
        # head and our commit.
        async with AsyncExitStack() as locks:
            if self.dialect == "sqlite":
                await locks.enter_async_context(self.lock("sqlite:routing"))
            async with self.sessions() as db_session, db_session.begin():
                yield Transaction(self, db_session, locks)

    @asynccontextmanager
    async def lease_transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction for this process's lease: on PostgreSQL on a connection of its
        own, never queued behind clients; on SQLite it takes its turn like every writer."""
        if self._lease_engine is None:
            async with self.transaction() as tx:
                yield tx.session
            return
        async with self._lease_sessions() as db_session, db_session.begin():
            yield db_session

    def lock(self, key: str) -> asyncio.Lock:
        """The process-wide lock for ``key`` on this database; use it to serialise writers."""
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    async def upgrade(self) -> None:
        """Apply every pending migration (Alembic ``upgrade heads``); safe to run at each start."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_run_upgrade)
        log.info("database schema is up to date (%s)", self.dialect)


def upgrade_database(url: str) -> None:
    """Apply all migrations to ``url`` from synchronous code, e.g. ``vcounter db upgrade``."""

    async def run() -> None:
        async with Database(url) as db:
            await db.upgrade()

    asyncio.run(run())
