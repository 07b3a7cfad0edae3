"""A service without a clerk with the identity proven by e-ID instead of the card: the kiosk
opens the self-service session, the phone signs in at the real OpenID provider, and the
department's document is fetched for the person the provider named, sealed and verified.
A weaker sign-in fetches nothing: with no clerk to weigh it, the applicant is sent to one."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.audit import AuditLog
from terminal_client.paperwork import KioskPaperwork
from terminal_client.printer import PrintQueue, SpoolPrinter
from terminal_client.self_service import SelfServiceClient
from tests.conftest import RunningServer
from tests.eid.conftest import PROVIDER_ID, Oidc, Phone, oidc, oidc_proxy, phone
from tests.self_service.conftest import TAX, Kiosk, RunningDepartment, connectors, verify_cli

__all__ = ["oidc", "oidc_proxy", "phone"]  # fixtures


@pytest.fixture
def server_extra(department: RunningDepartment, oidc_proxy: Oidc) -> dict[str, object]:
    return {
        "department_connectors": connectors(department),
        "eid_providers": [oidc_proxy.settings()],
    }


async def signed_in(kiosk: Kiosk, session_id: str, phone: Phone, login: str, password: str) -> str:
    """The kiosk's QR code for ``session_id`` followed on the phone; what the phone shows."""
    status, link = await kiosk.call(
        "POST", f"/api/sessions/{session_id}/eid", {"provider": PROVIDER_ID, "language": "en"}
    )
    assert status == 201, link
    page = await phone.open(await phone.sign_in(link["url"], login=login, password=password))
    assert page.status == 200, page.html
    return page.outcome


async def test_a_self_service_print_after_an_e_id_sign_in(
    server: RunningServer, oidc: Oidc, phone: Phone, kiosk: Kiosk, tmp_path: Path
) -> None:
    session_id = await kiosk.open(TAX)
    assert await signed_in(kiosk, session_id, phone, "chan.taiman", "pw-strong") == "done:done"
    queue = PrintQueue(SpoolPrinter(tmp_path / "spool"), tmp_path / "queue")
    client = SelfServiceClient(
        server.url, kiosk.token, KioskPaperwork(server.url, kiosk.token, queue)
    )
    await queue.start()
    try:
        issued = await client.issue(session_id)
        await client.print(issued)
        await queue.wait_idle()
        await client.finish(session_id, "printed")
    finally:
        await queue.close()
    events = await AuditLog(server.db).events(session_id)
    kinds = [e.kind for e in events]
    assert (
        kinds.index("eid.finished")
        < kinds.index("identity.result")
        < kinds.index("department.queried")
    )
    queried = next(e for e in events if e.kind == "department.queried")
    assert queried.payload["document_number"] == "A1234563"  # the provider's, not the kiosk's
    [printed] = list((tmp_path / "spool").glob("*.pdf"))
    result = await verify_cli(server, printed)
    assert result.exit_code == 0, result.output
    assert "verified: result" in result.output and issued.acceptance_number in result.output
    assert (await AuditLog(server.db).verify(session_id)).ok


async def test_a_weaker_e_id_sign_in_fetches_nothing(
    server: RunningServer, oidc: Oidc, phone: Phone, kiosk: Kiosk
) -> None:
    session_id = await kiosk.open(TAX)
    outcome = await signed_in(kiosk, session_id, phone, "wong.siuming", "pw-weak")
    assert outcome.startswith("done:"), outcome
    status, refused = await kiosk.document(session_id)
    assert status == 409, refused
    assert refused["code"] == "identity_not_verified", refused
    kinds = [e.kind for e in await AuditLog(server.db).events(session_id)]
    assert "department.queried" not in kinds
