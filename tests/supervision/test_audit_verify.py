"""`vcounter audit verify/export`: a recorded session verifies; each kind of tampering is named."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import delete, text, update

from signaling.checkpointer import checkpoint_if_changed
from signaling.cli import main
from signaling.keys import BLOBS
from signaling.recordings import SEGMENT_EVENT
from storage.audit import AuditLog
from storage.checkpoint_keys import fingerprint, load_or_create_key
from storage.models import SessionEvent
from storage.staff_audit import StaffLog
from tests.conftest import RunningServer

EVENTS = SessionEvent.__table__


async def cli(server: RunningServer, *args: str) -> Result:
    # the CLI runs its own event loop, so it gets a thread of its own
    data = ["--data-dir", str(server.settings.data_dir)]
    return await asyncio.to_thread(CliRunner().invoke, main, [*data, *args])


def pinned(server: RunningServer) -> list[str]:
    """The auditor's pinned key, taken once from the server (in life: from its operator)."""
    key = load_or_create_key(server.settings.checkpoint_key_path)
    return ["--fingerprint", fingerprint(key)]


async def unguard(server: RunningServer, table: str = "session_events") -> None:
    """What an attacker with database access does first: switch the append-only guard off."""
    async with server.db.engine.begin() as conn:
        await conn.execute(text(f"DROP TRIGGER {table}_no_update"))
        await conn.execute(text(f"DROP TRIGGER {table}_no_delete"))


async def test_an_untouched_session_verifies(server: RunningServer, recorded: str) -> None:
    result = await cli(server, "audit", "verify", recorded, *pinned(server))
    assert result.exit_code == 0, result.output
    assert f"session {recorded}: OK" in result.output
    everything = await cli(server, "audit", "verify", "--all", *pinned(server))
    assert everything.exit_code == 0, everything.output
    assert "staff log: OK" in everything.output


async def test_an_edited_event_is_named(server: RunningServer, recorded: str) -> None:
    await unguard(server)
    async with server.db.engine.begin() as conn:
        await conn.execute(
            update(EVENTS)
            .where((EVENTS.c.session_id == recorded) & (EVENTS.c.seq == 2))
            .values(actor="clerk:mallory")
        )
    result = await cli(server, "audit", "verify", recorded, *pinned(server))
    assert result.exit_code == 1
    assert "BROKEN" in result.output and "event 2: hash mismatch: expected" in result.output


async def test_a_deleted_tail_is_caught_by_the_signed_checkpoint(
    server: RunningServer, recorded: str
) -> None:
    assert await checkpoint_if_changed(server.db, server.settings)
    assert not await checkpoint_if_changed(server.db, server.settings), "nothing changed"
    count = len(await AuditLog(server.db).events(recorded))
    await unguard(server)
    async with server.db.engine.begin() as conn:
        await conn.execute(
            delete(EVENTS).where((EVENTS.c.session_id == recorded) & (EVENTS.c.seq > count - 2))
        )
    # the shortened chain still links: the checkpoint and the session's row know it was longer
    assert (await AuditLog(server.db).verify(recorded)).ok
    row = await AuditLog(server.db).row_disagrees(recorded)
    assert row is not None and row.expected.startswith(f"{count} events ending")
    result = await cli(server, "audit", "verify", recorded, *pinned(server))
    assert result.exit_code == 1, result.output
    assert "events deleted from the end of the chain" in result.output
    assert f"at least {count} events" in result.output and f"{count - 2} (last seq" in result.output
    assert "session row: the session's row says the chain ends elsewhere" in result.output


async def test_one_changed_byte_of_a_segment_is_named(server: RunningServer, recorded: str) -> None:
    events = await AuditLog(server.db).events(recorded)
    segment = next(e for e in events if e.kind == SEGMENT_EVENT and e.payload["index"] == 0)
    target = server.app[BLOBS].path(segment.payload["sha256"])
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    result = await cli(server, "audit", "verify", recorded, *pinned(server))
    assert result.exit_code == 1
    side = segment.payload["side"]
    assert f"{side} segment 0 (event {segment.seq}): file changed" in result.output, result.output


async def test_an_exported_bundle_verifies_offline_and_names_a_change(
    server: RunningServer, recorded: str, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    result = await cli(server, "audit", "export", recorded, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} >= {
        "events.json",
        "files",
        "checkpoints.json",
        "report.json",
    }
    assert json.loads((out / "report.json").read_text())["ok"] is True
    ok = await cli(server, "audit", "verify", "--bundle", str(out), *pinned(server))
    assert ok.exit_code == 0 and f"session {recorded}: OK" in ok.output, ok.output
    rows = json.loads((out / "events.json").read_text())
    rows[0]["payload"]["service_id"] = "something-else"
    (out / "events.json").write_text(json.dumps(rows))
    bad = await cli(server, "audit", "verify", "--bundle", str(out), *pinned(server))
    assert bad.exit_code == 1 and "event 1: hash mismatch" in bad.output, bad.output
    # the export itself is a supervisor-grade action on record
    assert any(e.kind == "export" for e in await StaffLog(server.db).events(recorded))


async def test_verify_refuses_an_unknown_session_and_a_bad_call(server: RunningServer) -> None:
    none = await cli(server, "audit", "verify")
    assert none.exit_code == 2 and "name one SESSION or give --all" in none.output
    unknown = await cli(server, "audit", "verify", "0" * 32, *pinned(server))
    assert unknown.exit_code == 1 and "no session" in unknown.output, unknown.output
