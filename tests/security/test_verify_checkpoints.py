"""The public /verify page and the supervisor's chain badge hold the chain against the
signed checkpoints: a chain rewritten with fresh hashes (every link recomputed, as anyone
with the database file can) no longer shows as intact there."""

from __future__ import annotations

from typing import Any

import aiohttp

from signaling.checkpointer import sign_checkpoint
from storage import store
from storage.audit import AuditLog
from tests.audit_tamper.attacker import Attacker
from tests.conftest import CLERK_PASSWORD
from tests.peers import login
from tests.security.conftest import Counter, assert_responsive
from tests.sign.conftest import sign


async def _get(url: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as r:
        return r.status, await r.json()


def _chain(report: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["what"] == "chain")


async def test_a_rewritten_chain_is_not_intact_on_verify_or_the_supervisors_badge(
    counter: Counter,
) -> None:
    server = counter.server
    signed = await sign(counter)
    receipt = next(d for d in signed["documents"] if d["kind"] == "receipt")
    await sign_checkpoint(server.db, server.settings)
    await store.create_clerk(server.db, "sue", CLERK_PASSWORD, "Sue", [], "supervisor")
    sue = await login(server.url, "sue", CLERK_PASSWORD)
    page = f"{server.url}/api/verify/{counter.session_id}/{receipt['doc_id']}"
    replay = f"{server.url}/api/supervisor/sessions/{counter.session_id}"

    status, report = await _get(page)
    assert status == 200 and _chain(report)["ok"], report
    status, view = await _get(replay, sue)
    assert status == 200 and view["chain_ok"], view

    # the attacker changes the second event and recomputes every hash after it
    events = await AuditLog(server.db).events(counter.session_id)
    attacker = Attacker(server.settings.data_dir / "vcounter.db")
    attacker.unguard()
    attacker.rewrite_event(counter.session_id, 2, {**events[1].payload, "forged": True})
    assert (await AuditLog(server.db).verify(counter.session_id)).ok  # the links hold

    status, report = await _get(page)
    assert status == 409
    assert not _chain(report)["ok"]
    assert _chain(report)["detail"] == "the session's record does not verify"  # nothing more
    status, view = await _get(replay, sue)
    assert status == 200 and not view["chain_ok"]
    assert "differs from signed checkpoint" in view["chain_problem"]
    await assert_responsive(server)
