"""A service without a clerk with the identity proven by e-ID instead of the card: the kiosk
opens the self-service session, the phone signs in at the real OpenID provider, and the
department's document is fetched for the person the provider named, sealed and verified.
A weaker sign-in fetches nothing: with no clerk to weigh it, the applicant is sent to one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from playwright.async_api import Page
from sqlalchemy import select

from storage.audit import AuditLog
from storage.models import EidAttempt
from terminal_client.identity import Progress
from terminal_client.kiosk.controller import KioskController
from terminal_client.paperwork import KioskPaperwork
from terminal_client.printer import PrintQueue, SpoolPrinter
from terminal_client.self_service import SelfServiceClient
from tests.conftest import RunningServer
from tests.eid.conftest import PROVIDER_ID, Oidc, Phone, oidc, oidc_proxy, phone
from tests.kiosk.conftest import RunningKiosk, open_kiosk, serving_kiosk, shot, tap
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


def card_never_inserted() -> Callable[..., object]:
    """The kiosk's reader waiting for a card nobody inserts (the applicant uses their phone)."""

    async def identify(session_id: str, progress: Callable[[Progress], None]) -> None:
        progress(Progress("document"))
        await asyncio.Event().wait()  # until the e-ID sign-in stops the reader

    return identify


@pytest.fixture
async def kiosk_page(server: RunningServer, tmp_path: Path) -> AsyncIterator[RunningKiosk]:
    token = await server.add_terminal("kiosk-self-eid")

    def reader(controller: KioskController) -> None:
        controller.self_service.identify = card_never_inserted()  # type: ignore[assignment]

    async with serving_kiosk(
        server, tmp_path, token, name="self-eid", print_dir=tmp_path / "print", before_start=reader
    ) as running:
        yield running


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_self_service_screen_offers_e_id_beside_the_card_reader(
    kiosk_page: RunningKiosk, page: Page, oidc: Oidc, phone: Phone, tmp_path: Path
) -> None:
    server = kiosk_page.server
    await open_kiosk(page, kiosk_page)
    await tap(page, "choose-en")
    await tap(page, "department-taxation")
    await tap(page, "service-income-tax-record-print")
    await tap(page, "call-clerk")
    # the card reader's instruction and, beside it, the e-ID card in the same screen
    await page.wait_for_selector("[data-testid=self-service-check]:not([hidden])", timeout=20000)
    card = page.locator("[data-testid=self-service-eid] [data-testid=eid-panel]")
    await card.wait_for(state="visible", timeout=20000)
    await tap(page, f"eid-start-{PROVIDER_ID}")
    await page.locator("[data-testid=eid-qr]").wait_for(state="visible", timeout=20000)
    await shot(page, "self-service-eid-qr")
    session_id = kiosk_page.controller.self_service.session_id
    assert session_id is not None
    async with server.db.reads() as s:
        link = (
            await s.execute(select(EidAttempt.link).where(EidAttempt.session_id == session_id))
        ).scalar_one()
    page_shown = await phone.open(await phone.sign_in(f"{server.url}/eid/{link}"))
    assert page_shown.outcome == "done:done", page_shown.html
    await page.wait_for_selector(
        "[data-testid=self-service-status][data-state=printed]", timeout=30000
    )
    [printed] = list((tmp_path / "print" / "spool").glob("*.pdf"))
    assert printed.read_bytes().startswith(b"%PDF")
    assert await card.is_hidden()
    assert page.errors == []  # type: ignore[attr-defined]
