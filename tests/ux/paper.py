"""Steps 3-6 for the walks, by the clerk's REST calls: identity results in the chain, the form,
the decision; and the signature drawn on the kiosk's screen as a finger would."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

from storage.audit import AuditLog
from tests.conftest import RunningServer

DOCUMENT = {
    "source": "chip", "format": "TD1", "document_type": "ID", "issuing_state": "CHN",
    "document_number": "H1234567", "surname": "CHAN", "given_names": "TAI MAN",
    "nationality": "CHN", "birth_date": "1980-01-01", "sex": "M", "expiry_date": "2034-12-31",
}  # fmt: skip


async def identity_result(server: RunningServer, session_id: str, verified: bool) -> None:
    """An identity attempt as signaling/identity.py records the kiosk's report."""
    await AuditLog(server.db).append(
        session_id, "identity.result", "terminal:ux",
        {
            "outcome": "verified" if verified else "failed",
            "failure_code": None if verified else "face_mismatch",
            "document": DOCUMENT,
            "match": {"score": 0.93 if verified else 0.12, "threshold": 0.4, "matched": verified},
            "liveness": None, "evidence": [],
        },
    )  # fmt: skip


async def draw(page: Page, testid: str) -> None:
    """A signature drawn with the pointer, in two strokes (few moves: a loaded machine
    answers each one slowly)."""
    box = await page.locator(f"[data-testid={testid}]").bounding_box()
    assert box is not None
    for stroke in range(2):
        x0, y = box["x"] + 30 + stroke * box["width"] / 2.5, box["y"] + box["height"] / 2
        await page.mouse.move(x0, y)
        await page.mouse.down()
        for i in range(1, 7):
            await page.mouse.move(x0 + i * 20, y + (18 if i % 2 else -18))
        await page.mouse.up()


def ok(result: tuple[int, Any], status: int = 201) -> Any:
    """The body of a REST answer that must have ``status``."""
    code, body = result
    assert code == status, (code, body)
    return body
