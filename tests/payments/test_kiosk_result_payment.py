"""A fee due on approval at the kiosk: "print my result" shows the fee's QR code after the ID
re-check, a failed payment offers a new code, and the result prints once it is paid.

The kiosk is the real controller (aiortc client, paperwork client, print queue); its ID
reader is the one faked part (hardware): it "reads" the applicant's document.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from media.mrz import MrzFields, MrzFormat, compose_mrz, parse_mrz
from media.sources import create_local_tracks
from storage.audit import AuditLog
from terminal_client.id_reader import DocumentRead
from terminal_client.id_recheck import Recheck
from terminal_client.identity import Progress
from terminal_client.kiosk.controller import KioskController
from terminal_client.kiosk.messages import LookUp, OpenResult, Screen, SimpleCommand
from terminal_client.kiosk.screens import KioskSettings
from terminal_client.kiosk.translations import Translations
from terminal_client.printer import FakeCupsPrinter
from tests.conftest import RunningServer
from tests.identity.documents import SAMPLE
from tests.kiosk.conftest import RunningKiosk
from tests.payments.conftest import (
    RunningSandbox,
    approved_with_fee_on_approval,
    payer,
)
from tests.teardown import bounded

CARD = MrzFields(**{**SAMPLE.__dict__, "document_type": "ID", "expiry_date": "341231"})


async def read_card(progress: Callable[[Progress], None]) -> Recheck:
    """The kiosk's reader reading the applicant's card (the reader is the faked hardware)."""
    progress(Progress("document"))
    document = parse_mrz("\n".join(compose_mrz(MrzFormat.TD1, CARD)), today=date(2026, 12, 5))
    portrait = np.zeros((160, 120, 3), dtype=np.uint8)
    return Recheck(DocumentRead(document, portrait, "chip", 5.0), face=None)


@pytest.fixture
async def hall_kiosk(
    server: RunningServer, tmp_path: Path
) -> AsyncIterator[tuple[RunningKiosk, FakeCupsPrinter]]:
    """A kiosk in the hall (not the one the application was made at), with paper."""
    token = await server.add_terminal("kiosk-hall")
    printer = FakeCupsPrinter(paper=10)
    controller = KioskController(
        server.url, token, lambda: create_local_tracks(True, "", "", label="hall"),
        Translations.load(), settings=KioskSettings(idle_timeout_s=600), name="hall",
        printer=printer, print_dir=tmp_path / "print", recheck=read_card,
    )  # fmt: skip
    await controller.start()
    try:
        yield RunningKiosk(controller, "", server, tmp_path / "tts"), printer
    finally:
        await bounded(controller.close(), "kiosk controller")


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_result_prints_once_its_fee_is_paid(
    server: RunningServer,
    sandbox: RunningSandbox,
    hall_kiosk: tuple[RunningKiosk, FakeCupsPrinter],
) -> None:
    kiosk, printer = hall_kiosk
    c, signed = await approved_with_fee_on_approval(server, CARD.document_number)
    number = signed["acceptance_number"]
    controller = kiosk.controller
    await kiosk.wait_screen(Screen.LANGUAGE)
    await controller.handle(OpenResult(type="open_result"))
    await controller.handle(LookUp(type="look_up", acceptance_number=number))
    view = await kiosk.wait_view(
        lambda v: v.lookup is not None and v.lookup.state == "paying", 20, "the fee's QR code"
    )
    assert view.lookup is not None and view.lookup.payment is not None
    assert view.lookup.payment.amount == "CNY 80.00" and view.lookup.payment.qr
    assert printer.printed == []  # nothing prints before the fee is paid

    # the payer declines: the screen says so and offers a new code, which is a new order
    first = controller.signing.order
    assert first is not None and first.code_url is not None
    await payer(first.code_url, "decline")
    await kiosk.wait_view(
        lambda v: v.lookup is not None and v.lookup.payment is not None
        and v.lookup.payment.state == "failed", 20, "the payment failed",
    )  # fmt: skip
    await controller.handle(SimpleCommand(type="pay_again"))
    view = await kiosk.wait_view(
        lambda v: v.lookup is not None and v.lookup.payment is not None
        and v.lookup.payment.state == "open", 20, "a new code",
    )  # fmt: skip
    second = controller.signing.order
    assert second is not None and second.code_url is not None
    assert second.payment_id != first.payment_id and second.attempt == 2

    await payer(second.code_url)
    view = await kiosk.wait_view(
        lambda v: v.lookup is not None and v.lookup.printing == "printed", 30, "printed"
    )
    assert view.lookup is not None and view.lookup.state == "found"
    assert len(printer.printed) == 2  # the receipt and the approved result
    kinds = [e.kind for e in await AuditLog(server.db).events(c.session_id)]
    assert kinds.count("payment.qr_shown") == 2 and "payment.failed" in kinds
    assert kinds.index("payment.paid") < len(kinds) - 1 - kinds[::-1].index("reprint.requested")
