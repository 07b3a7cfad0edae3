"""Throwaway PostgreSQL databases for tests: one fresh database per test, dropped after.

The server is found at ``VCOUNTER_TEST_PG`` (default
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``); that URL's database is only used
to create and drop the test databases.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url

if TYPE_CHECKING:
    from storage.db import Database

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def _base_url() -> URL:
    return make_url(os.environ.get("VCOUNTER_TEST_PG", DEFAULT_PG))


def _asyncpg_dsn(url: URL) -> str:
    # asyncpg wants plain postgresql:// without the SQLAlchemy driver suffix
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@cache
def postgres_available() -> bool:
    """Whether the test PostgreSQL server accepts TCP connections (checked once per run)."""
    url = _base_url()
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=0.5):
            return True
    except OSError:
        return False


async def create_pg_database() -> str:
    """Create a uniquely named empty database and return its SQLAlchemy URL."""
    base = _base_url()
    name = f"vcounter_test_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(_asyncpg_dsn(base))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return base.set(database=name).render_as_string(hide_password=False)


# where Debian's PostgreSQL puts its Unix socket
PG_SOCKET_DIR = Path("/var/run/postgresql")


def local_pg_socket() -> Path | None:
    """The test PostgreSQL's Unix socket directory when it runs on this machine, else None."""
    base = _base_url()
    if base.host not in (None, "127.0.0.1", "localhost"):
        return None
    found = PG_SOCKET_DIR / f".s.PGSQL.{base.port or 5432}"
    return PG_SOCKET_DIR if found.exists() else None


def through_socket(url: str, directory: Path) -> str:
    """``url`` reaching the same server and database through its Unix socket in ``directory``."""
    # URL.set(host=None) keeps the host: None there means "unchanged"
    parsed = make_url(url)._replace(host=None, port=None)
    parsed = parsed.update_query_dict({"host": str(directory)})
    return parsed.render_as_string(hide_password=False)


async def drop_pg_database(url: str) -> None:
    """Drop a database made by :func:`create_pg_database`, cutting off any open connections."""
    name = make_url(url).database
    if not name or not name.startswith("vcounter_test_"):
        raise ValueError(f"refusing to drop {name!r}: not a test database")
    conn = await asyncpg.connect(_asyncpg_dsn(_base_url()))
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await conn.close()


def require_postgres() -> None:
    """Skip the calling test when PostgreSQL is down; fail instead under ``CI=true``."""
    if postgres_available():
        return
    where = _base_url().render_as_string(hide_password=True)
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is not reachable at {where} under CI=true; start it")
    pytest.skip(reason=f"PostgreSQL is not reachable at {where}; set VCOUNTER_TEST_PG or start it")


# ---------------------------------------------------------------- Redis

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    """The test Redis (``VCOUNTER_TEST_REDIS``); tests keep apart by channel, not database."""
    return os.environ.get("VCOUNTER_TEST_REDIS", DEFAULT_REDIS)


@cache
def redis_available() -> bool:
    """Whether the test Redis accepts TCP connections (checked once per run)."""
    url = urlsplit(redis_url())
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 6379), timeout=0.5):
            return True
    except OSError:
        return False


def require_redis() -> None:
    """Skip the calling test when Redis is down; fail instead under ``CI=true``."""
    if redis_available():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"Redis is not reachable at {redis_url()} under CI=true; start it")
    why = f"Redis is not reachable at {redis_url()}; set VCOUNTER_TEST_REDIS or start it"
    pytest.skip(reason=why)


def unique_channel() -> str:
    """A socket.io Redis channel of its own, so tests sharing one Redis never hear each other."""
    return f"vcounter_test_{uuid.uuid4().hex[:16]}"


@contextmanager
def counted(db: Database) -> Iterator[list[str]]:
    """The SQL statements ``db`` sends while the block runs (each one's first word), through
    SQLAlchemy or past it (``storage.rows`` on asyncpg, where a write of several rows is one
    ``WITH`` statement)."""
    sent: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement.split(None, 1)[0].upper())

    def direct(statement: str, _seconds: float) -> None:
        sent.append(statement.split(None, 1)[0].upper())

    event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    db.direct_statements.append(direct)
    try:
        yield sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", note)
        db.direct_statements.remove(direct)
