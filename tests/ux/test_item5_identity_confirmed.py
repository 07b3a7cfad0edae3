"""Issue 21 item 5: the kiosk learns that the clerk confirmed the applicant's identity.

The applicant's identity check at the kiosk fails (no card comes: the reader times out) and
the screen says "try again". The clerk checks the document in person and confirms the
identity with a reason: the kiosk then says, in the applicant's language, that the clerk
confirmed who they are, and no longer offers "try again".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from terminal_client.id_reader import SimulatedCardReader
from terminal_client.kiosk.identity_step import KioskIdentity
from tests.conftest import RunningServer
from tests.ux.conftest import KIOSK_LANDSCAPE, raw_codes, real_errors, seen, shot
from tests.ux.kiosk import ux_kiosk
from tests.ux.paper import identity_result, ok

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


async def test_the_clerks_confirmation_reaches_the_kiosk(
    server: RunningServer, tmp_path: Path, browser: Any
) -> None:
    slot = tmp_path / "slot"
    slot.mkdir()  # no card is ever inserted

    def identity(token: str) -> KioskIdentity:
        return KioskIdentity(
            lambda _engine, _worker: SimulatedCardReader(slot, poll_s=0.05),
            server.url, token, document_timeout_s=2,
        )  # fmt: skip

    async with ux_kiosk(server, tmp_path, identity=identity, documents=False) as kiosk:
        session_id = await kiosk.into_call("zh-Hant")
        page = await kiosk.open(browser, KIOSK_LANDSCAPE)
        await kiosk.clerk.emit("set_step", {"session_id": session_id, "step": 3})
        retry = await seen(page, "identity-retry", timeout=60_000)  # the reader timed out
        assert retry["text"].strip() == "再試一次"
        await shot(page, "item5-identity-failed")

        # the clerk sees the failed attempt and confirms the identity in person
        await identity_result(server, session_id, verified=False)
        reason = {"reason": "compared the card and the applicant's face in person"}
        ok(await kiosk.as_clerk("POST", f"/api/sessions/{session_id}/identity/override", reason))

        await page.wait_for_selector("[data-testid=identity-retry]", state="hidden")
        said = await seen(page, "identity-instruction")
        assert said["text"] == "職員已核對您的身份證件，並確認了您的身份。謝謝。"
        assert await page.locator("[data-testid=identity-error]").is_hidden()
        await seen(page, "identity-cancel")  # the card can be closed
        text = await page.inner_text("[data-testid=identity-step]")
        assert "再試" not in text and not raw_codes(text), text
        await shot(page, "item5-identity-confirmed")
        assert real_errors(page) == []
