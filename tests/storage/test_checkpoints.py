"""Signed checkpoints: the heads of every chain, signed, read back and checked on each backend."""

from __future__ import annotations

from pathlib import Path

from storage import store
from storage.audit import AuditLog
from storage.checkpoints import chain_heads, latest_checkpoint, load_or_create_key, make_checkpoint
from storage.db import Database
from storage.verify import check_against


async def a_session(db: Database, events: int) -> str:
    await store.sync_catalogue(db, [("d", {"en": "D"})], [("s1", "d", {"en": "S"}, [], False)])
    terminal, _ = await store.register_terminal(db, f"kiosk-{events}")
    row = await store.create_session(db, terminal.id, "s1", "en")
    for n in range(events):
        await AuditLog(db).append(row.id, "step", "server", {"n": n})
    return row.id


async def test_a_checkpoint_reads_back_and_verifies(db: Database, tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "k.pem")
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600
    session_id = await a_session(db, 3)
    made = await make_checkpoint(db, key)
    back = await latest_checkpoint(db)
    assert back is not None and back == made
    assert back.heads == await chain_heads(db) and back.heads[session_id][0] == 3
    assert back.signature_ok(load_or_create_key(tmp_path / "k.pem").public_key())
    events = await AuditLog(db).events(session_id)
    assert check_against(back, session_id, events, key.public_key()) == []
    # a checkpoint signed by another key does not vouch for anything
    other = load_or_create_key(tmp_path / "other.pem").public_key()
    (problem,) = check_against(back, session_id, events, other)
    assert problem.what == "signature does not verify"
    # two events fewer than the checkpoint saw
    (gone,) = check_against(back, session_id, events[:1], key.public_key())
    assert gone.what == "events deleted from the end of the chain"
