"""Fixtures for materials to follow: a session at the counter (tests/sign's stand-ins for
the identity and documents steps), a second kiosk, and the server's clock."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pypdfium2
import pytest

from signaling.keys import BLOBS
from signaling.paperwork.to_follow_routes import FOLLOW_CLOCK
from storage import store
from storage.audit import AuditLog
from tests.conftest import RunningServer
from tests.sign.conftest import (
    DOCUMENT_NUMBER,
    Counter,
    append_stand_in_identity,
    open_counter,
)

# the material of tax-registration that may follow (catalogue: follow_days 5) and one that
# is essential
FOLLOWS = "premises-proof"
ESSENTIAL = "business-licence"
# a Monday morning in Hong Kong: five working days later is the next Monday
MONDAY = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


async def append_scan(server: RunningServer, session_id: str, material_id: str) -> None:
    """A scan stored in the call, in the shape signaling/document_intake.py records it."""
    content = f"%PDF-1.4 {material_id}".encode()
    digest = await server.app[BLOBS].put(content)
    await AuditLog(server.db).append(
        session_id, "document.added", "terminal:stand-in",
        {"sha256": digest, "material_id": material_id, "content_type": "application/pdf",
         "bytes": len(content), "pages": 1, "width": 0, "height": 0, "source": "scanner",
         "filename": f"{material_id}.pdf"},
    )  # fmt: skip


@pytest.fixture
async def counter(server: RunningServer) -> Counter:
    """A tax-registration call with the identity and the two essential materials in."""
    c = await open_counter(server)
    await append_stand_in_identity(server, c.session_id)
    for material in ("business-licence", "legal-representative-id"):
        await append_scan(server, c.session_id, material)
    return c


def set_clock(server: RunningServer, moment: datetime) -> None:
    """The server's clock for due dates and the sweep reads ``moment`` from now on."""
    server.app[FOLLOW_CLOCK].set(moment)


async def second_kiosk(server: RunningServer, name: str = "kiosk-2") -> tuple[str, int]:
    """Another kiosk's token and id: not the one the application was made at."""
    token = await server.add_terminal(name)
    terminal = await store.find_terminal_by_token(server.db, token)
    assert terminal is not None
    return token, terminal.id


def pdf_text(data: bytes) -> str:
    """Every page's text of a PDF (pdfium's text layer)."""
    document = pypdfium2.PdfDocument(io.BytesIO(data))
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


def recheck(number: str, document: str = DOCUMENT_NUMBER) -> dict[str, Any]:
    """A look-up as a kiosk sends it after its reader read ``document`` (no camera)."""
    return {"acceptance_number": number, "document_number": document, "source": "chip"}
