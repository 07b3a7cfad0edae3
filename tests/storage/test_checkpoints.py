"""Signed checkpoints: a chain of their own, covering every chain and the staff log, on each backend."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from storage import store
from storage.audit import AuditLog
from storage.checkpoint_keys import PinnedKeys, fingerprint, load_or_create_key
from storage.checkpoints import (
    CheckpointRefused,
    all_checkpoints,
    chain_heads,
    latest_checkpoint,
    make_checkpoint,
)
from storage.db import Database
from storage.staff_audit import StaffLog
from storage.trail import ChainEvent, Policy, chain_against, check_checkpoints


async def a_session(db: Database, events: int, name: str = "kiosk") -> str:
    await store.sync_catalogue(db, [("d", {"en": "D"})], [("s1", "d", {"en": "S"}, [], False)])
    terminal, _ = await store.register_terminal(db, f"{name}-{events}")
    row = await store.create_session(db, terminal.id, "s1", "en")
    for n in range(events):
        await AuditLog(db).append(row.id, "step", "server", {"n": n})
    return row.id


async def test_checkpoints_chain_and_cover_sessions_and_staff(db: Database, tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "k.pem")
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600
    session_id = await a_session(db, 3)
    await StaffLog(db).append("supervisor:sue", "live.viewed", {})
    first = await make_checkpoint(db, key)
    assert first is not None and first.seq == 1 and first.hash_ok() and first.signature_ok()
    assert first.heads == await chain_heads(db) and first.heads[session_id][0] == 3
    assert first.staff[0] == 1 and first.key_id == fingerprint(key)
    assert await make_checkpoint(db, key, only_if_changed=True) is None, "nothing changed"
    await AuditLog(db).append(session_id, "step", "server", {"n": 3})
    second = await make_checkpoint(db, key, only_if_changed=True)
    assert second is not None and second.seq == 2 and second.prev_hash == first.hash
    assert await latest_checkpoint(db) == second
    assert await all_checkpoints(db) == [first, second]
    pinned = Policy(PinnedKeys(frozenset({fingerprint(key)})))
    assert await check_checkpoints([first, second], pinned) == []
    events = [
        ChainEvent(e.seq, e.hash, e.created_at) for e in await AuditLog(db).events(session_id)
    ]
    assert chain_against("chain", session_id, events, [first, second], pinned) == []
    (gone,) = chain_against("chain", session_id, events[:2], [first, second], pinned)
    assert gone.what == "events deleted from the end of the chain"


async def test_the_checkpoint_table_is_append_only(db: Database, tmp_path: Path) -> None:
    await a_session(db, 1)
    await make_checkpoint(db, load_or_create_key(tmp_path / "k.pem"))
    for statement in ("UPDATE chain_checkpoints SET key_id = 'x'", "DELETE FROM chain_checkpoints"):
        with pytest.raises(DBAPIError, match="chain_checkpoints is append-only"):
            async with db.engine.begin() as conn:
                await conn.execute(text(statement))
    assert len(await all_checkpoints(db)) == 1


async def test_a_chain_that_does_not_extend_the_last_checkpoint_is_never_signed(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = load_or_create_key(tmp_path / "k.pem")
    session_id = await a_session(db, 3)
    await make_checkpoint(db, key)
    # the attacker's way round the triggers: the rows go, a shorter chain is appended anew
    async with db.engine.begin() as conn:
        if db.dialect == "sqlite":
            await conn.execute(text("DROP TRIGGER session_events_no_delete"))
        else:
            await conn.execute(text("ALTER TABLE session_events DISABLE TRIGGER USER"))
        await conn.execute(
            text("DELETE FROM session_events WHERE session_id = :s AND seq = 3"), {"s": session_id}
        )
    await AuditLog(db).append(session_id, "step", "server", {"n": "forged"})
    with pytest.raises(CheckpointRefused, match=f"session {session_id}: event 3 is not the one"):
        await make_checkpoint(db, key)
    assert "checkpoint REFUSED" in caplog.text
    assert len(await all_checkpoints(db)) == 1


async def test_two_processes_never_sign_the_same_place(db_url: str, tmp_path: Path) -> None:
    # two Database objects: two processes' engines and locks on one store
    async with Database(db_url) as one, Database(db_url) as two:
        await one.upgrade()
        await a_session(one, 2)
        key = load_or_create_key(tmp_path / "k.pem")
        results = await asyncio.gather(*(make_checkpoint(d, key) for d in (one, two, one, two)))
        made = [r for r in results if r is not None]
        stored = await all_checkpoints(one)
        assert [c.seq for c in stored] == list(range(1, len(stored) + 1))
        assert {c.hash for c in made} == {c.hash for c in stored}
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(stored))


async def test_a_first_checkpoint_over_old_events_is_refused_unless_adopted(
    db: Database, tmp_path: Path
) -> None:
    key = load_or_create_key(tmp_path / "k.pem")
    await a_session(db, 2)
    await StaffLog(db).append("supervisor:sue", "live.viewed", {})
    with pytest.raises(CheckpointRefused, match="no checkpoint exists, yet events date from"):
        await make_checkpoint(db, key, first_max_age_s=0)
    assert await make_checkpoint(db, key, first_max_age_s=3600) is not None
    assert len(await all_checkpoints(db)) == 1
