"""Hole 5 (the admin page's API): only an admin manages accounts and kiosks, and it shows."""

from __future__ import annotations

from storage import store
from storage.staff_audit import StaffLog
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.peers import login
from tests.security.conftest import assert_responsive, request, stored_state


async def test_only_an_admin_manages_accounts_and_kiosks(server: RunningServer) -> None:
    await server.add_clerk("alice")
    kiosk_token = await server.add_terminal("kiosk-7")
    await store.create_clerk(server.db, "root", CLERK_PASSWORD, "Admin", [], role="admin")
    await store.create_clerk(server.db, "sue", CLERK_PASSWORD, "Sue", ["taxation"], "supervisor")
    alice = await login(server.url, "alice", CLERK_PASSWORD)
    sue = await login(server.url, "sue", CLERK_PASSWORD)
    admin = await login(server.url, "root", CLERK_PASSWORD)

    before = await stored_state(server)
    for token in (alice, sue, None):
        status, _ = await request(server, "POST", "/api/admin/clerks/alice/disable", token)
        assert status in (401, 403)
        status, _ = await request(server, "POST", "/api/admin/terminals/kiosk-7/revoke", token)
        assert status in (401, 403)
    assert await stored_state(server) == before

    status, accounts = await request(server, "GET", "/api/admin/clerks", admin)
    assert status == 200 and {a["username"] for a in accounts} == {"alice", "root", "sue"}
    status, row = await request(server, "POST", "/api/admin/clerks/alice/disable", admin)
    assert status == 200 and row["disabled"] is True
    status, _ = await request(server, "GET", "/api/decisions/pending", alice)
    assert status == 401  # alice's sign-in ended with the click
    status, _ = await request(server, "POST", "/api/admin/clerks/root/disable", admin)
    assert status == 409  # not oneself
    status, _ = await request(
        server, "POST", "/api/admin/clerks/alice/reset-password", admin, json={"password": "short"}
    )
    assert status == 400

    status, rotated = await request(server, "POST", "/api/admin/terminals/kiosk-7/rotate", admin)
    assert status == 200 and rotated["token"] and not rotated["revoked"]
    assert await store.find_terminal_by_token(server.db, kiosk_token) is None
    assert await store.find_terminal_by_token(server.db, rotated["token"]) is not None
    status, kiosks = await request(server, "GET", "/api/admin/terminals", admin)
    assert status == 200 and [k["name"] for k in kiosks] == ["kiosk-7"]
    status, _ = await request(server, "POST", "/api/admin/terminals/nope/revoke", admin)
    assert status == 404

    kinds = [(e.actor, e.kind) for e in await StaffLog(server.db).events()]
    assert ("admin:root", "admin.clerk.disable") in kinds
    assert ("admin:root", "admin.terminal.rotate") in kinds
    status, page = await request(server, "GET", "/admin")
    assert status == 200 and b"/static/admin.js" in page
    await assert_responsive(server)
