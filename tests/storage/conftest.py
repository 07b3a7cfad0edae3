"""Every storage test runs on SQLite and on PostgreSQL, each time on a fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.db import Database, default_sqlite_url
from tests import dbutil


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def db_url(tmp_path: Path, backend: str) -> AsyncIterator[str]:
    """A URL to an empty database of ``backend``; a PostgreSQL one is dropped afterwards."""
    if backend == "sqlite":
        yield default_sqlite_url(tmp_path)
        return
    dbutil.require_postgres()
    url = await dbutil.create_pg_database()
    try:
        yield url
    finally:
        await dbutil.drop_pg_database(url)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """An open, migrated database."""
    async with Database(db_url) as database:
        await database.upgrade()
        yield database
