"""The database handle: URLs, migrations, SQLite settings, aware datetimes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from storage import store
from storage.db import Database, alembic_config, default_sqlite_url, upgrade_database
from storage.errors import BadDatabaseUrl, StorageError
from storage.models import Base


def test_default_sqlite_url_lives_in_data_dir(tmp_path: Path) -> None:
    assert default_sqlite_url(tmp_path) == f"sqlite+aiosqlite:///{tmp_path}/vcounter.db"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "cannot parse database URL 'not a url'"),
        ("mysql://u:secret@host/db", "unsupported database URL 'mysql://u:***@host/db'"),
        ("postgresql+asyncpg://u@host", "names no database"),
    ],
)
def test_bad_url_is_refused_by_name(url: str, message: str) -> None:
    with pytest.raises(BadDatabaseUrl, match=re.escape(message)) as caught:
        Database(url)
    assert isinstance(caught.value, StorageError)
    assert "secret" not in caught.value.message


def test_plain_driver_names_get_the_async_driver(tmp_path: Path) -> None:
    assert Database(f"sqlite:///{tmp_path}/x.db").url.startswith("sqlite+aiosqlite:///")
    assert Database("postgresql://u@h/d").url == "postgresql+asyncpg://u@h/d"


async def test_upgrade_is_idempotent(db: Database) -> None:
    await db.upgrade()
    await db.upgrade()
    async with db.engine.connect() as conn:
        versions = set(
            (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars()
        )
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert versions == set(ScriptDirectory.from_config(alembic_config()).get_heads())
    assert {"clerks", "terminals", "sessions", "session_events", "services"} <= tables


async def test_migration_matches_the_models(db: Database) -> None:
    def diff(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


def test_upgrade_database_from_sync_code_creates_the_data_dir(tmp_path: Path) -> None:
    url = default_sqlite_url(tmp_path / "fresh" / "data")
    upgrade_database(url)
    upgrade_database(url)
    assert (tmp_path / "fresh" / "data" / "vcounter.db").exists()


async def test_sqlite_pragmas_are_set(tmp_path: Path) -> None:
    async with Database(default_sqlite_url(tmp_path)) as db, db.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 5000


async def test_datetimes_come_back_aware_utc(db: Database) -> None:
    terminal, _ = await store.register_terminal(db, "k1")
    await store.sync_catalogue(db, [("d", {"en": "D"})], [("s", "d", {"en": "S"}, [], False)])
    row = await store.create_session(db, terminal.id, "s", "en")
    hong_kong = timezone(timedelta(hours=8))
    offered = datetime(2025, 3, 1, 20, 0, 0, 123456, tzinfo=hong_kong)
    await store.update_session(db, row.id, offered_at=offered)
    loaded = await store.get_session(db, row.id)
    assert loaded.created_at.tzinfo is UTC
    assert loaded.offered_at == offered
    assert loaded.offered_at is not None and loaded.offered_at.tzinfo is UTC
    assert loaded.offered_at.hour == 12


async def test_lock_is_shared_per_key(tmp_path: Path) -> None:
    async with Database(default_sqlite_url(tmp_path)) as db:
        assert db.lock("a") is db.lock("a")
        assert db.lock("a") is not db.lock("b")


async def test_the_chain_head_migration_fills_the_sessions_already_stored(db: Database) -> None:
    """Sessions from before revision 0120 get the head of the events they already have."""
    from importlib import import_module

    from storage.audit import GENESIS_HASH, AuditLog

    backfill = import_module("storage.migrations.versions.0120_chain_head").BACKFILL
    await store.sync_catalogue(db, [("d", {"en": "D"})], [("s", "d", {"en": "S"}, [], False)])
    audit = AuditLog(db)
    sessions = []
    for n in range(3):
        terminal, _ = await store.register_terminal(db, f"kiosk-head-{n}")
        sessions.append((await store.create_session(db, terminal.id, "s", "en")).id)
        for k in range(n):
            await audit.append(sessions[-1], f"step.{k}", "server", {})
    async with db.engine.begin() as conn:
        await conn.execute(
            text(f"UPDATE sessions SET chain_seq = 0, chain_hash = '{GENESIS_HASH}'")
        )
    assert [await audit.row_disagrees(s) is None for s in sessions] == [
        not (await audit.events(s)) for s in sessions
    ]
    async with db.engine.begin() as conn:
        await conn.execute(text(backfill))
    for s in sessions:
        assert await audit.row_disagrees(s) is None, s
