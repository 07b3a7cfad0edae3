"""Complaints over the real server: a kiosk files one about its ended session; only the
department's supervisors see, assign, answer and close it; anyone with the number and the
access code (and nobody without) reads its status; every step is in the session's chain."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from media.sources import create_local_tracks
from signaling.cli import main
from signaling.complaints import numbers
from signaling.complaints.routes import NO_MATCH
from signaling.keys import BLOBS
from storage import store
from storage.audit import AuditLog
from storage.models import Complaint, utcnow
from storage.staff_audit import StaffLog
from storage.verify import verify_session
from terminal_client.client import TerminalClient, TerminalState
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.peers import login

SERVICE = "tax-registration"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def call(
    server: RunningServer, method: str, path: str, token: str | None, body: object = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, server.url + path, json=body, headers=headers) as r,
    ):
        return r.status, await r.json()


async def ended_session(server: RunningServer, name: str) -> tuple[str, str]:
    """A kiosk's device token and a session it queued and left (a minimal session)."""
    token = await server.add_terminal(name)
    kiosk = TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="k"), name=name
    )
    try:
        await kiosk.connect()
        session_id = await kiosk.request_service(SERVICE, "en")
        await kiosk.cancel()
        await kiosk.wait_for(TerminalState.ENDED, timeout=10)
    finally:
        await kiosk.close()
    return token, session_id


async def stored(server: RunningServer) -> int:
    async with server.db.reads() as s:
        return int(await s.scalar(select(func.count()).select_from(Complaint)) or 0)


async def test_a_complaint_is_filed_answered_closed_and_looked_up(
    server: RunningServer, tmp_path: Any
) -> None:
    token, session_id = await ended_session(server, "kiosk-cp")
    await server.add_clerk("carl", ["taxation"])
    await server.add_clerk("hugo", ["housing-provident-fund"])
    await store.create_clerk(server.db, "sue", CLERK_PASSWORD, "Sue", ["taxation"], "supervisor")
    await store.create_clerk(
        server.db, "hank", CLERK_PASSWORD, "Hank", ["housing-provident-fund"], "supervisor"
    )
    sue, hank, carl = [await login(server.url, n, CLERK_PASSWORD) for n in ("sue", "hank", "carl")]
    form = {"session_id": session_id, "category": "waiting", "text": "Waited an hour."}

    # bad input: refused with a sentence naming what is wrong, nothing stored
    for change, status, code, field, sentence in [
        ({"text": "   "}, 400, "invalid_complaint", "empty_text",
         "Write what happened: the complaint has no text."),
        ({"text": "x" * 501}, 400, "invalid_complaint", "text_too_long",
         "The complaint has 501 characters; shorten it to 500."),
        ({"phone": "1234 5678", "region": "MO"}, 400, "invalid_phone", "invalid",
         "This is not a phone number in use in Macau: check the first digits and the area you"
         " chose."),
    ]:  # fmt: skip
        got, refused = await call(server, "POST", "/api/complaints", token, {**form, **change})
        assert (got, refused["code"], refused["field"]) == (status, code, field)
        assert refused["message"] == sentence
    got, refused = await call(server, "POST", "/api/complaints", token, {**form, "category": "x"})
    assert got == 400 and refused["message"].startswith('field "category"')
    assert await stored(server) == 0

    got, filed = await call(
        server, "POST", "/api/complaints", token, {**form, "phone": "6612 3456", "region": "MO"}
    )
    assert got == 201, filed
    number, code = filed["number"], filed["access_code"]
    assert re.fullmatch(r"CP\d{8}\d{5}[0-9X]", number) and numbers.normalise(number) == number
    assert re.fullmatch(r"\d{6}", code)
    assert filed["status_url"] == f"{server.url}/complaint"
    expected_due = numbers.due_date(utcnow(), 10, [], "Asia/Hong_Kong")
    assert filed["due_on"] == expected_due.isoformat()
    assert (
        filed["department_name"]["en"] == "Taxation Bureau" or filed["department_id"] == "taxation"
    )
    # the code is not kept, only its keyed hash
    row = await store_row(server, number)
    assert code not in row.code_hash and row.phone == "+85366123456"
    # one complaint per session
    got, again = await call(server, "POST", "/api/complaints", token, form)
    assert got == 409 and number in again["message"]

    # another department's supervisor neither sees nor changes it
    got, board = await call(server, "GET", "/api/supervisor/complaints", hank)
    assert got == 200 and board["tickets"] == []
    for action, body in (
        ("answer", {"answer": "No."}),
        ("close", {}),
        ("assign", {"username": "hugo"}),
    ):
        got, refused = await call(
            server, "POST", f"/api/supervisor/complaints/{number}/{action}", hank, body
        )
        assert got == 404 and refused["message"] == f"no complaint {number} in your departments"
    # a clerk is no supervisor
    got, _ = await call(server, "GET", "/api/supervisor/complaints", carl)
    assert got == 403

    got, board = await call(server, "GET", "/api/supervisor/complaints", sue)
    [ticket] = board["tickets"]
    assert ticket["number"] == number and ticket["text"] == "Waited an hour."
    assert ticket["state"] == "open" and not ticket["overdue"]
    assert {s["username"] for s in board["staff"]} == {"carl", "sue"}

    base = f"/api/supervisor/complaints/{number}"
    got, refused = await call(server, "POST", f"{base}/close", sue, {})
    assert got == 409 and refused["message"] == (
        f"Complaint {number} has no answer yet; write the answer before closing it"
    )
    got, refused = await call(server, "POST", f"{base}/assign", sue, {"username": "hugo"})
    assert got == 400 and refused["message"] == (
        "hugo does not serve taxation; assign the complaint to someone who does"
    )
    got, assigned = await call(server, "POST", f"{base}/assign", sue, {"username": "carl"})
    assert got == 200 and assigned["assigned_to"] == "carl"
    got, refused = await call(server, "POST", f"{base}/answer", sue, {"answer": " "})
    assert got == 400 and refused["message"] == "Write the answer: it has no text."
    answer = "We are sorry for the wait; a second counter opens at peak hours from January."
    got, answered = await call(server, "POST", f"{base}/answer", sue, {"answer": answer})
    assert got == 200 and answered["state"] == "answered"
    got, closed = await call(server, "POST", f"{base}/close", sue, {})
    assert got == 200 and closed["state"] == "closed"
    got, refused = await call(server, "POST", f"{base}/answer", sue, {"answer": "More."})
    assert got == 409 and refused["message"] == (
        f'Complaint {number} is "closed"; it cannot become "answered"'
    )
    # not settled after all: open again, due anew, and answered again before it closes
    got, reopened = await call(server, "POST", f"{base}/reopen", sue, {})
    assert got == 200 and (reopened["state"], reopened["due_on"]) == ("open", filed["due_on"])
    got, open_status = await call(
        server, "POST", "/api/complaints/status", token, {"number": number, "access_code": code}
    )
    assert (open_status["state"], open_status["answer"]) == ("open", None)
    got, refused = await call(server, "POST", f"{base}/close", sue, {})
    assert got == 409 and refused["message"] == (
        f"Complaint {number} was reopened; amend the answer before closing it again"
    )
    answer = answer + " A supervisor will call you this week."
    got, _ = await call(server, "POST", f"{base}/answer", sue, {"answer": answer})
    got, closed = await call(server, "POST", f"{base}/close", sue, {})
    assert got == 200 and closed["state"] == "closed"

    # the status: by number and code only, the same sentence for a wrong code or number
    lookup = "/api/complaints/status"
    wrong = f"{int(code) ^ 1:06d}"
    other = numbers.format_number(number[2:10], int(number[10:15]) + 7)
    for typed, digits in ((number, wrong), (other, code)):
        got, refused = await call(
            server, "POST", lookup, None, {"number": typed, "access_code": digits}
        )
        assert (got, refused["code"], refused["message"]) == (404, "complaint_not_found", NO_MATCH)
    typo = number[:-1] + ("0" if number[-1] != "0" else "1")
    got, refused = await call(server, "POST", lookup, None, {"number": typo, "access_code": code})
    assert got == 400 and "mistyped" in refused["message"]
    spaced = f"{number[:2]} {number[2:10]} {number[10:].lower()}"
    got, status = await call(server, "POST", lookup, token, {"number": spaced, "access_code": code})
    assert got == 200, status
    assert (status["state"], status["answer"], status["due_on"]) == (
        "closed",
        answer,
        filed["due_on"],
    )

    # every step is in the session's chain, with who did it; the chain holds
    events = [(e.kind, e.actor) for e in await AuditLog(server.db).events(session_id)]
    assert [e for e in events if e[0].startswith("complaint.")] == [
        ("complaint.filed", "terminal:1"),
        ("complaint.assigned", "supervisor:sue"),
        ("complaint.answered", "supervisor:sue"),
        ("complaint.closed", "supervisor:sue"),
        ("complaint.reopened", "supervisor:sue"),
        ("complaint.answered", "supervisor:sue"),
        ("complaint.closed", "supervisor:sue"),
    ]
    assert (await verify_session(server.db, server.app[BLOBS], session_id)).ok
    texts = [e.payload for e in await AuditLog(server.db).events(session_id)]
    assert not any("Waited" in str(p) or "6612" in str(p) or answer in str(p) for p in texts)
    reads = [e for e in await StaffLog(server.db).events() if e.kind == "complaints.read"]
    assert reads and reads[0].actor == "supervisor:sue" and reads[0].payload["numbers"] == [number]

    # the operators' list
    result = await asyncio.to_thread(
        CliRunner().invoke, main,
        ["--data-dir", str(tmp_path / "cli"), "complaints", "list", "--department", "taxation",
         "--state", "closed"],
        env={"VCOUNTER_DATABASE_URL": server.db.url},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [line] = [x for x in result.output.splitlines() if x.startswith(number)]
    assert line.split()[1:3] == ["closed", "taxation"] and line.split()[-1] == "carl"


async def store_row(server: RunningServer, number: str) -> Complaint:
    async with server.db.reads() as s:
        found = await s.scalar(select(Complaint).where(Complaint.number == number))
    assert found is not None
    return found


async def test_lookups_are_limited_per_address_and_per_number(server: RunningServer) -> None:
    token, session_id = await ended_session(server, "kiosk-rl")
    form = {"session_id": session_id, "category": "other", "text": "The printer jammed."}
    got, filed = await call(server, "POST", "/api/complaints", token, form)
    assert got == 201
    ask = {"number": filed["number"], "access_code": "000000"}
    # one address: a burst of five, then refused with when to come back
    answers = [await call(server, "POST", "/api/complaints/status", None, ask) for _ in range(6)]
    assert [a[0] for a in answers] == [404] * 5 + [429]
    assert answers[-1][1]["message"].startswith("Too many lookups from here; try again in")
    # one number, from anywhere: ten an hour, then refused, even with the right code
    other = await server.add_terminal("kiosk-rl2")
    for source in (token, other):
        got, _ = await call(server, "POST", "/api/complaints/status", source, ask)
        assert got == 404
    right = {**ask, "access_code": filed["access_code"]}
    for source in (token, token, other):
        got, _ = await call(server, "POST", "/api/complaints/status", source, right)
        assert got == 200
    got, refused = await call(server, "POST", "/api/complaints/status", other, right)
    assert got == 429 and refused["message"] == (
        "This number was looked up too often; try again later, or ask at the counter."
    )
