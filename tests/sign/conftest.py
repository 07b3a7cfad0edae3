"""Fixtures for the paperwork tests: a session with a clerk, its identity and materials.

The API tests need a session that has been through steps 3-4 but not the cost of them:
:func:`append_stand_in_identity` and :func:`append_stand_in_material` append events of the
shape the identity and documents features write (``identity.result``, ``document.added``).
The seven-step flow (``test_full_flow.py``) runs the real features instead. :func:`id_card`
writes a simulated chip card for the kiosk's reader from a face photo.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cv2.typing import MatLike

from media.faces import FaceEngine
from media.mrz import MrzFields, MrzFormat, compose_mrz
from signaling.keys import BLOBS
from storage import presence, store
from storage.audit import AuditLog
from terminal_client.id_reader import CARD_FOLDER, write_card_from_photo
from tests.conftest import RunningServer
from tests.identity.documents import SAMPLE
from tests.peers import login

DOCUMENT_NUMBER = "H1234567(8)"
SERVICE = "tax-registration"
# the number on the simulated ID cards (the specimen's MRZ)
CARD_NUMBER = SAMPLE.document_number


def id_card(
    folder: Path,
    engine: FaceEngine,
    photo: MatLike,
    number: str = CARD_NUMBER,
    expiry: str = "341231",
) -> Path:
    """A simulated chip card (TD1) of the specimen with ``photo``'s face as its portrait."""
    fields = MrzFields(
        **{
            **SAMPLE.__dict__,
            "document_type": "ID",
            "document_number": number,
            "expiry_date": expiry,
        }
    )
    return write_card_from_photo(folder, compose_mrz(MrzFormat.TD1, fields), photo, engine)


def insert_card(slot: Path, card: Path) -> None:
    """Put ``card`` in the simulated reader's ``slot`` (taking out any card there)."""
    shutil.rmtree(slot / CARD_FOLDER, ignore_errors=True)
    shutil.copytree(card, slot / CARD_FOLDER)


async def append_stand_in_identity(
    server: RunningServer, session_id: str, document_number: str = DOCUMENT_NUMBER
) -> None:
    """An identity attempt as signaling/identity.py records it (without the kiosk's camera)."""
    document = {
        "source": "chip", "format": "TD1", "document_type": "ID", "issuing_state": "CHN",
        "document_number": document_number, "surname": "CHAN", "given_names": "TAI MAN",
        "nationality": "CHN", "birth_date": "1980-01-01", "sex": "M", "expiry_date": "2030-01-01",
    }  # fmt: skip
    await AuditLog(server.db).append(
        session_id, "identity.result", "terminal:stand-in",
        {"outcome": "verified", "document": document, "match": {"score": 0.93, "threshold": 0.4},
         "liveness": {"passed": True}, "evidence": []},
    )  # fmt: skip


async def append_stand_in_material(
    server: RunningServer, session_id: str, material_id: str, content: bytes
) -> str:
    """A stored scan as signaling/documents.py records it: named by its SHA-256 in the chain."""
    digest = await server.app[BLOBS].put(content)
    await AuditLog(server.db).append(
        session_id, "document.added", "terminal:stand-in",
        {"material_id": material_id, "sha256": digest, "filename": material_id,
         "content_type": "image/jpeg", "bytes": len(content), "source": "scanner"},
    )  # fmt: skip
    assert digest == hashlib.sha256(content).hexdigest()
    return digest


@dataclass
class Counter:
    """A session at the counter: its kiosk token, the clerk's token, ids."""

    server: RunningServer
    session_id: str
    terminal_token: str
    clerk_token: str
    terminal_id: int

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"

    async def call(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                method, self.url(path), json=body, headers={"Authorization": f"Bearer {token}"}
            ) as r,
        ):
            data = await r.json() if r.content_type == "application/json" else await r.read()
            return r.status, data

    async def as_clerk(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return await self.call(method, path, self.clerk_token, body)

    async def as_kiosk(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return await self.call(method, path, self.terminal_token, body)


async def open_counter(
    server: RunningServer, clerk: str = "alice", kiosk: str = "kiosk-1", service: str = SERVICE
) -> Counter:
    """A session of ``kiosk`` answered by ``clerk`` (rows as the router leaves them)."""
    await server.add_clerk(clerk)
    token = await server.add_terminal(kiosk)
    terminal = await store.find_terminal_by_token(server.db, token)
    assert terminal is not None
    # the kiosk is connected, as the router records it: the sweeper leaves its call alone
    await presence.terminal_attach(server.db, terminal.id, server.router.process_id, "sid", None)
    row = await store.create_session(server.db, terminal.id, service, "zh-Hant")
    clerk_row = await store.authenticate_clerk(server.db, clerk, "correct horse battery")
    assert clerk_row is not None
    await store.update_session(server.db, row.id, clerk_id=clerk_row.id, state="in_call")
    await AuditLog(server.db).append(
        row.id, "call.accepted", f"clerk:{clerk}", {"clerk_id": clerk_row.id}
    )
    clerk_token = await login(server.url, clerk, "correct horse battery")
    return Counter(server, row.id, token, clerk_token, terminal.id)


def strokes(count: int = 3) -> list[dict[str, Any]]:
    """A signature-like set of strokes on a 600x200 canvas."""
    out = []
    for s in range(count):
        points = [
            {
                "x": 40 + s * 150 + i * 4,
                "y": 100 + ((i % 9) - 4) * 8,
                "t": s * 800 + i * 12,
                "p": 0.4 + (i % 5) / 10,
            }
            for i in range(30)
        ]
        out.append({"points": points})
    return out


@pytest.fixture
async def counter(server: RunningServer) -> Counter:
    """A session in call with stand-in identity and two stand-in materials."""
    c = await open_counter(server)
    await append_stand_in_identity(server, c.session_id)
    await append_stand_in_material(server, c.session_id, "business-licence", b"%PDF-1.4 scan one")
    await append_stand_in_material(
        server, c.session_id, "legal-representative-id", b"%PDF-1.4 scan two"
    )
    return c


async def sign(c: Counter) -> dict[str, Any]:
    """Show the form and sign it; returns the signature response."""
    status, form = await c.as_clerk("POST", f"/api/sessions/{c.session_id}/form")
    assert status == 201, form
    body = {
        "form_sha256": form["form"]["sha256"],
        "width": 600,
        "height": 200,
        "strokes": strokes(),
    }
    status, signed = await c.as_kiosk("POST", f"/api/sessions/{c.session_id}/signature", body)
    assert status == 201, signed
    return dict(signed)


# the console's Chromium fixtures, for the clerk's side of the flow
from tests.browser.conftest import browser, chromium_path, page  # noqa: E402, F401
