"""A self-service print from request to a printed sealed PDF, and the department's failures.

Real server, real department sandbox process, the kiosk's own client and print queue (the
spool printer), and ``vcounter verify`` on the printed file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from signaling.departments.errors import DepartmentUnavailable
from signaling.errors import IllegalTransition, NotYourSession
from storage import store
from storage.audit import AuditLog
from terminal_client.paperwork import KioskPaperwork
from terminal_client.printer import PrintQueue, SpoolPrinter
from terminal_client.self_service import SelfServiceClient
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.peers import login
from tests.self_service.conftest import (
    KNOWN,
    NOT_ELIGIBLE,
    SOCIAL,
    TAX,
    UNKNOWN,
    Kiosk,
    RunningDepartment,
    verify_cli,
)


async def kinds(server: RunningServer, session_id: str) -> list[str]:
    return [e.kind for e in await AuditLog(server.db).events(session_id)]


@pytest.mark.sandbox_process
async def test_print_from_request_to_a_sealed_pdf_that_vcounter_verify_accepts(
    server: RunningServer, kiosk: Kiosk, tmp_path: Path
) -> None:
    session_id = await kiosk.open(TAX)
    assert await kiosk.identify(session_id) == 201
    queue = PrintQueue(SpoolPrinter(tmp_path / "spool"), tmp_path / "queue")
    paperwork = KioskPaperwork(server.url, kiosk.token, queue)
    client = SelfServiceClient(server.url, kiosk.token, paperwork)
    await queue.start()
    try:
        issued = await client.issue(session_id)
        await client.print(issued)
        await queue.wait_idle()
        await client.finish(session_id, "printed")
    finally:
        await queue.close()
    [printed] = list((tmp_path / "spool").glob("*.pdf"))
    result = await verify_cli(server, printed)
    assert result.exit_code == 0, result.output
    assert "verified: result" in result.output and issued.acceptance_number in result.output
    assert "seal 1: intact" in result.output
    # the same department answer again is not fetched twice: a retried request gets the same
    again = await client.issue(session_id)
    assert again.document.doc_id == issued.document.doc_id
    assert await kinds(server, session_id) == [
        "self_service.requested", "identity.result", "department.queried",
        "department.answered", "document.stored", "print.reported", "self_service.finished",
    ]  # fmt: skip
    row = await store.get_session(server.db, session_id)
    assert (row.state, row.end_reason, row.clerk_id) == ("ended", "self_service_printed", None)
    # a supervisor finds it by its number like any session, and replays its chain
    await store.create_clerk(server.db, "sup", CLERK_PASSWORD, "Sup", ["taxation"], "supervisor")
    supervisor = Kiosk(server, await login(server.url, "sup", CLERK_PASSWORD))
    status, found = await supervisor.call(
        "GET", f"/api/supervisor/sessions?acceptance_number={issued.acceptance_number}"
    )
    assert status == 200, found
    [summary] = found["sessions"]
    assert (summary["id"], summary["state"]) == (session_id, "ended")
    status, replay = await supervisor.call("GET", f"/api/supervisor/sessions/{session_id}")
    assert status == 200 and "department.answered" in str(replay)
    # printed again at any kiosk by its acceptance number, after the ID re-check
    hall = Kiosk(server, await server.add_terminal("kiosk-hall"))
    ask = {"acceptance_number": issued.acceptance_number, "document_number": KNOWN,
           "source": "chip", "face": {"score": 0.8, "threshold": 0.4, "matched": True}}  # fmt: skip
    status, view = await hall.call("POST", "/api/reprint", ask)
    assert status == 200, view
    assert [d["doc_id"] for d in view["documents"]] == [issued.document.doc_id]
    status, refused = await hall.call(
        "POST", "/api/reprint", {**ask, "document_number": "M7654321"}
    )
    assert status == 403 and refused["code"] == "identity_mismatch"
    # a changed byte is caught: the seal and the stored original say so
    changed = bytearray(printed.read_bytes())
    changed[1500] ^= 0x20
    bad = tmp_path / "changed.pdf"
    bad.write_bytes(bytes(changed))
    result = await verify_cli(server, bad)
    assert result.exit_code == 1 and "FAIL store: differs from the stored result" in result.output


async def test_a_slow_department_still_prints_and_a_failed_attempt_is_retried(
    server: RunningServer, kiosk: Kiosk, department: RunningDepartment
) -> None:
    await department.control(delay_ms=700)
    session_id = await kiosk.open(SOCIAL)
    assert await kiosk.identify(session_id) == 201
    status, issued = await kiosk.document(session_id)
    assert status == 201, issued
    events = await AuditLog(server.db).events(session_id)
    answered = next(e for e in events if e.kind == "department.answered")
    assert answered.payload["elapsed_ms"] >= 700  # the sandbox's delay, as the server saw it
    # one 5xx, then an answer: the connector's retry makes it a success
    await department.control(fail="http_500", fail_count=1)
    second = await kiosk.open(TAX)
    assert await kiosk.identify(second) == 201
    status, issued = await kiosk.document(second)
    assert status == 201, issued
    state = await department.control(fail="none")
    assert state["requests"] == 3  # slow one, failed one, retried one


FAILURES = [
    ("http_500", "failed: internal_error (the records database is unavailable)"),
    ("bad_answer", "answered with a document that is not valid"),
    ("unsigned", "is not signed by its pinned key"),
    ("timeout", "did not answer within 2 s"),
    ("other_person", "the department answered for document X0000000, not K1234567"),
]


async def test_a_failing_department_says_why_and_a_clerk_can_take_over(
    server: RunningServer, kiosk: Kiosk, department: RunningDepartment
) -> None:
    failed = []
    for fail, sentence in FAILURES:
        await department.control(fail=fail)
        session_id = await kiosk.open(TAX)
        assert await kiosk.identify(session_id) == 201
        status, error = await kiosk.document(session_id)
        assert status == 502, (fail, error)
        assert error["code"] == "department_unavailable" and sentence in error["message"], fail
        assert (await kinds(server, session_id))[-1] == "department.failed"
        failed.append(session_id)
    # opening the next one ended the ones before (the applicant walked away)
    for session_id in failed[:-1]:
        row = await store.get_session(server.db, session_id)
        assert (row.state, row.end_reason) == ("ended", "self_service_left")
    session_id = failed[-1]
    # "Ask a clerk": a normal call for the department's clerks, the identity already done
    terminal = await store.find_terminal_by_token(server.db, kiosk.token)
    assert terminal is not None
    call = await server.router.request_service(
        terminal.id, "kiosk-ss", "sid", TAX, "zh-Hant", handover_of=session_id
    )
    assert call.state == "queued" and call.department_id == "taxation"
    events = await AuditLog(server.db).events(call.id)
    assert [e.kind for e in events] == [
        "session.created",
        "self_service.handover",
        "identity.result",
    ]
    assert events[2].payload["document"]["document_number"] == KNOWN
    assert events[1].payload["from_session"] == session_id
    old = await store.get_session(server.db, session_id)
    assert (old.state, old.end_reason) == ("ended", "self_service_handed_over")
    finished = (await AuditLog(server.db).events(session_id))[-1]
    assert finished.kind == "self_service.finished"
    assert finished.payload == {"reason": "handed_over", "call_session": call.id}
    # handed over once: the ended session is not handed over again
    await server.router.cancel(terminal.id, call.id)
    with pytest.raises(IllegalTransition, match="has ended"):
        await server.router.request_service(
            terminal.id, "kiosk-ss", "sid", TAX, "zh-Hant", handover_of=session_id
        )


async def test_a_refusing_department_says_why(server: RunningServer, kiosk: Kiosk) -> None:
    for number, code, sentence in [
        (NOT_ELIGIBLE, "department_not_eligible", "no insured employment or tax residence"),
        (UNKNOWN, "department_no_record", f"no record for the document number {UNKNOWN}"),
    ]:
        session_id = await kiosk.open(TAX)
        assert await kiosk.identify(session_id, number) == 201
        status, error = await kiosk.document(session_id)
        assert status == 422 and error["code"] == code and sentence in error["message"], error
        events = await AuditLog(server.db).events(session_id)
        assert events[-1].kind == "department.refused"
        assert events[-1].payload["reason"] == code.removeprefix("department_")
        assert "document.stored" not in [e.kind for e in events]


async def test_no_document_without_this_kiosks_verified_identity(
    server: RunningServer, kiosk: Kiosk, department: RunningDepartment
) -> None:
    session_id = await kiosk.open(TAX)
    status, error = await kiosk.document(session_id)
    assert status == 409 and error["code"] == "identity_not_verified", error
    assert "check your identity at the kiosk" in error["message"]
    assert await kiosk.identify(session_id, verified=False) == 201
    status, error = await kiosk.document(session_id)
    assert status == 409 and "an identity check that failed" in error["message"]
    # another kiosk cannot fetch this applicant's document, nor report their identity
    other = Kiosk(server, await server.add_terminal("kiosk-other"))
    assert await other.identify(session_id) == 403
    status, error = await other.document(session_id)
    assert status == 403 and error["code"] == "not_your_session"
    state = await department.control()
    assert state["requests"] == 0  # the department was never asked
    # a self-service service is not a call, and another kiosk's session is not handed over
    terminal = await store.find_terminal_by_token(server.db, other.token)
    assert terminal is not None
    with pytest.raises(IllegalTransition, match="is self-service: start it at the kiosk"):
        await server.router.request_service(terminal.id, "o", "sid", TAX, "zh-Hant")
    with pytest.raises(NotYourSession, match="is not this kiosk's session"):
        await server.router.request_service(
            terminal.id, "o", "sid", TAX, "zh-Hant", handover_of=session_id
        )


async def test_the_department_refuses_a_request_not_signed_by_our_key(
    department: RunningDepartment, tmp_path: Path
) -> None:
    from signaling.departments.connector import HttpConnector
    from signaling.departments.wire import DocumentQuery, Person
    from signaling.payments import signatures as sig

    forger = HttpConnector(
        "taxation", department.url, "vcounter", sig.load_or_create_key(tmp_path / "forged.pem"),
        sig.load_public_key(department.key), retries=0,
    )  # fmt: skip
    query = DocumentQuery(
        request_id="a" * 32, kind="tax-payment-record", language="en",
        person=Person(document_number=KNOWN),
    )  # fmt: skip
    try:
        with pytest.raises(DepartmentUnavailable, match="sign_error"):
            await forger.fetch(query)
    finally:
        await forger.close()
    assert (await department.control())["answered"] == 0


async def test_bad_requests_are_refused_with_a_sentence(
    server: RunningServer, kiosk: Kiosk
) -> None:
    cases = [
        ({"service_id": "tax-filing"}, 400, "not_self_service", "it is done with a clerk"),
        ({"service_id": "no-such-service"}, 404, "unknown_service", "valid ids are listed"),
        ({"service_id": TAX, "language": "fr"}, 400, "invalid_message", 'field "language"'),
        ([1, 2], 400, "invalid_message", "field"),
    ]
    for body, status, code, sentence in cases:
        got, error = await kiosk.call("POST", "/api/self-service", body)
        assert (got, error["code"]) == (status, code) and sentence in error["message"], error
    session_id = await kiosk.open(TAX)
    got, error = await kiosk.call(
        "POST", f"/api/sessions/{session_id}/self-service/finish", {"reason": "bored"}
    )
    assert got == 400 and 'field "reason"' in error["message"]
    got, error = await kiosk.call("POST", f"/api/sessions/{'0' * 32}/self-service/document")
    assert got == 404 and error["code"] == "not_found"
    # nothing stored was lost: the session is still open, and ends once
    for expected in (True, False):
        got, ended = await kiosk.call(
            "POST", f"/api/sessions/{session_id}/self-service/finish", {"reason": "left"}
        )
        assert got == 200 and ended == {"ended": expected}
