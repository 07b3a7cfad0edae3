"""Hole 2: access follows the session, and every look at personal data is in the staff log."""

from __future__ import annotations

from datetime import UTC, datetime

from storage import store
from storage.staff_audit import StaffLog
from tests.conftest import CLERK_PASSWORD
from tests.peers import login
from tests.security.conftest import Counter, assert_responsive, request, stored_state
from tests.sign.conftest import sign


async def test_another_clerk_of_the_department_cannot_read_or_print(counter: Counter) -> None:
    server = counter.server
    await server.add_clerk("mallory")  # same departments as the session's clerk
    mallory = await login(server.url, "mallory", CLERK_PASSWORD)
    before = await stored_state(server)
    sid = counter.session_id
    status, body = await request(server, "GET", f"/api/sessions/{sid}/application", mallory)
    assert status == 403 and body["code"] == "forbidden"
    status, body = await request(server, "GET", f"/api/sessions/{sid}/documents", mallory)
    assert status == 403
    status, body = await request(
        server, "POST", f"/api/sessions/{sid}/print", mallory, json={"doc_id": "0" * 32}
    )
    assert status == 403 and "only the clerk in the call" in body["message"]
    assert await stored_state(server) == before
    await assert_responsive(server)


async def test_the_sessions_clerk_cannot_print_after_the_call(counter: Counter) -> None:
    server = counter.server
    await store.update_session(
        server.db, counter.session_id, state="ended", ended_at=datetime.now(UTC)
    )
    before = await stored_state(server)
    status, body = await counter.as_clerk(
        "POST", f"/api/sessions/{counter.session_id}/print", {"doc_id": "0" * 32}
    )
    assert status == 403 and "not your live call" in body["message"]
    assert await stored_state(server) == before
    await assert_responsive(server)


async def test_a_decided_case_is_closed_to_its_clerk(counter: Counter) -> None:
    server = counter.server
    path = f"/api/sessions/{counter.session_id}/application"
    await sign(counter)
    await store.update_session(
        server.db, counter.session_id, state="ended", ended_at=datetime.now(UTC)
    )
    # after the call, the case still waits for its clerk's decision: readable
    assert (await counter.as_clerk("GET", path))[0] == 200
    status, _ = await counter.as_clerk(
        "POST",
        f"/api/sessions/{counter.session_id}/decision",
        {"outcome": "approved", "reason": "all in order"},
    )
    assert status == 200
    before = await stored_state(server)
    status, body = await counter.as_clerk("GET", path)
    assert status == 403 and "supervisors of its department" in body["message"]
    status, _ = await counter.as_clerk("GET", f"/api/sessions/{counter.session_id}/documents")
    assert status == 403
    assert await stored_state(server) == before


async def test_supervisors_of_the_department_only_and_every_read_is_logged(
    counter: Counter,
) -> None:
    server = counter.server
    await store.create_clerk(
        server.db, "sue", CLERK_PASSWORD, "Sue", ["taxation"], role="supervisor"
    )
    await store.create_clerk(
        server.db, "olga", CLERK_PASSWORD, "Olga", ["market-regulation"], role="supervisor"
    )
    sid = counter.session_id
    other = await login(server.url, "olga", CLERK_PASSWORD)
    status, _ = await request(server, "GET", f"/api/sessions/{sid}/application", other)
    assert status == 403
    sue = await login(server.url, "sue", CLERK_PASSWORD)
    status, view = await request(server, "GET", f"/api/sessions/{sid}/application", sue)
    assert status == 200 and view["session_id"] == sid
    reads = [e for e in await StaffLog(server.db).events(sid) if e.kind == "personal_data.read"]
    assert [(e.actor, e.payload["what"]) for e in reads] == [("supervisor:sue", "application")]
    assert (await StaffLog(server.db).verify()).ok
