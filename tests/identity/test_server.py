"""Identity end to end: a kiosk in a real call reads a card, passes the challenge on its camera
frames, reports; the evidence is in the session's chain and only that session's clerk sees it."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import pytest
from cv2.typing import MatLike

from media.errors import LivenessFailed
from media.face_camera import ReplayTrack, blinking
from media.face_samples import Photo
from media.faces import FaceEngine
from media.liveness import Action
from media.mrz import MrzFormat, compose_mrz
from media.sources import LocalMedia, SyntheticAudioTrack
from signaling.identity import OVERRIDE_EVENT, RESULT_EVENT
from signaling.messages import NAMESPACE_CLERK
from storage import store
from storage.audit import AuditLog
from terminal_client.client import TerminalClient, TerminalState
from terminal_client.id_reader import CARD_FOLDER, SimulatedCardReader, write_card
from terminal_client.identity import IdentityCheck, LatestFrame, Progress, tap_for_identity
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.identity.documents import SAMPLE, passport_photo
from tests.peers import ClerkPeer, login

SERVICE = "tax-registration"
# each test holds a real call while the kiosk runs a whole identity attempt
pytestmark = pytest.mark.timeout(300)


@dataclass
class Call:
    terminal: TerminalClient
    terminal_token: str
    clerk: ClerkPeer
    clerk_token: str
    session_id: str
    latest: LatestFrame
    notices: list[dict[str, Any]]


def _images(photos: list[Photo]) -> dict[str, MatLike]:
    return {p.name: p.image for p in photos}


async def _call(server: RunningServer, frames: list[MatLike]) -> Call:
    await server.add_clerk("ida")
    token = await server.add_terminal("kiosk-id")
    latest = LatestFrame()
    terminal = TerminalClient(
        server.url, token,
        lambda: tap_for_identity(LocalMedia(ReplayTrack(frames, loop=True), SyntheticAudioTrack()), latest),
        name="kiosk",
    )  # fmt: skip
    clerk_token = await login(server.url, "ida", CLERK_PASSWORD)
    clerk = ClerkPeer(server.url, clerk_token)
    notices: list[dict[str, Any]] = []

    async def on_identity(data: dict[str, Any]) -> None:
        notices.append(data)

    clerk.sio.on("identity", on_identity, namespace=NAMESPACE_CLERK)
    await clerk.connect()
    await clerk.wait(lambda: clerk.status is not None)
    await clerk.emit("set_availability", {"available": True})
    await terminal.connect()
    session_id = await terminal.request_service(SERVICE, "en")
    await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
    return Call(terminal, token, clerk, clerk_token, session_id, latest, notices)


@pytest.fixture
async def call_factory(server: RunningServer) -> AsyncIterator[Any]:
    made: list[Call] = []

    async def make(frames: list[MatLike]) -> Call:
        call = await _call(server, frames)
        made.append(call)
        return call

    yield make
    for call in made:
        await call.terminal.close()
        await call.clerk.close()


def _card(tmp_path: Path, engine: FaceEngine, photo: MatLike) -> SimulatedCardReader:
    face = engine.detect(photo, max_width=1280)[0]
    ok, jpeg = cv2.imencode(".jpg", passport_photo(photo, face.box))
    assert ok
    slot = tmp_path / "slot"
    slot.mkdir()
    card = write_card(tmp_path / "card", compose_mrz(MrzFormat.TD1, SAMPLE), jpeg.tobytes())
    shutil.copytree(card, slot / CARD_FOLDER)
    return SimulatedCardReader(slot, today=lambda: date(2026, 12, 1))


async def _get(server: RunningServer, path: str, token: str) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http, http.get(server.url + path, headers=headers) as r:
        body = await r.json() if r.content_type == "application/json" else await r.read()
        return r.status, body


async def _post(server: RunningServer, path: str, token: str, body: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(server.url + path, json=body, headers=headers) as r,
    ):
        return r.status, await r.json()


async def test_verified_identity_lands_in_the_chain_for_the_clerk_only(
    server: RunningServer,
    call_factory: Any,
    engine: FaceEngine,
    photos: list[Photo],
    tmp_path: Path,
) -> None:
    images = _images(photos)
    call = await call_factory(blinking(engine, images["obama.jpg"]))
    seen: list[Progress] = []
    check = IdentityCheck(
        engine, _card(tmp_path, engine, images["obama3.jpg"]), call.latest, server.url,
        call.terminal_token, call.session_id, on_progress=seen.append, challenge=[Action.BLINK],
        today=lambda: date(2026, 12, 1),
    )  # fmt: skip
    report = await asyncio.wait_for(check.run(), 60)
    assert report.outcome == "verified"
    assert {p.phase for p in seen} >= {"document", "face", "challenge", "done"}

    # the evidence is in the chain, by hash, and the blobs are stored under those hashes
    events = await AuditLog(server.db).events(call.session_id)
    result = next(e for e in events if e.kind == RESULT_EVENT)
    assert result.payload["document"]["document_number"] == SAMPLE.document_number
    assert result.payload["match"]["threshold"] == engine.threshold
    assert result.payload["liveness"]["completed"] == ["blink"]
    refs = result.payload["evidence"]
    assert refs[0]["kind"] == "portrait" and len(refs) >= 2
    assert (await AuditLog(server.db).verify(call.session_id)).ok

    # the session's clerk was told, and sees the panel and the pictures
    await call.clerk.wait(lambda: bool(call.notices))
    assert call.notices[-1] == {"session_id": call.session_id, "status": "verified"}
    status, panel = await _get(
        server, f"/api/sessions/{call.session_id}/identity", call.clerk_token
    )
    assert status == 200 and panel["status"] == "verified"
    assert panel["result"]["document"]["surname"] == "CHAN"
    status, jpeg = await _get(
        server,
        f"/api/sessions/{call.session_id}/identity/evidence/{refs[0]['sha256']}",
        call.clerk_token,
    )
    assert status == 200 and hashlib.sha256(jpeg).hexdigest() == refs[0]["sha256"]

    # nobody else: another clerk, a supervisor, a made-up hash
    await store.create_clerk(server.db, "other", CLERK_PASSWORD, "Other", ["taxation"])
    await store.create_clerk(
        server.db, "boss", CLERK_PASSWORD, "Boss", ["taxation"], role="supervisor"
    )
    for who in ("other", "boss"):
        token = await login(server.url, who, CLERK_PASSWORD)
        status, body = await _get(server, f"/api/sessions/{call.session_id}/identity", token)
        assert status == 403 and "only to the clerk who took this call" in body["message"]
        status, _ = await _get(
            server, f"/api/sessions/{call.session_id}/identity/evidence/{refs[0]['sha256']}", token
        )
        assert status == 403
    status, _ = await _get(
        server, f"/api/sessions/{call.session_id}/identity/evidence/{'0' * 64}", call.clerk_token
    )
    assert status == 404
    # a verified check cannot be overridden
    status, body = await _post(
        server, f"/api/sessions/{call.session_id}/identity/override", call.clerk_token,
        {"reason": "no reason to override this"},
    )  # fmt: skip
    assert status == 409 and body["code"] == "nothing_to_override"


async def test_a_different_face_fails_and_the_clerk_overrides_with_a_reason(
    server: RunningServer,
    call_factory: Any,
    engine: FaceEngine,
    photos: list[Photo],
    tmp_path: Path,
) -> None:
    images = _images(photos)
    # the card is Obama's, the person at the kiosk is Biden
    call = await call_factory(blinking(engine, images["biden.jpg"]))
    check = IdentityCheck(
        engine, _card(tmp_path, engine, images["obama3.jpg"]), call.latest, server.url,
        call.terminal_token, call.session_id, challenge=[Action.BLINK],
        today=lambda: date(2026, 12, 1),
    )  # fmt: skip
    with pytest.raises(LivenessFailed) as caught:
        await asyncio.wait_for(check.run(), 60)
    assert caught.value.reason == "face_changed"
    await call.clerk.wait(lambda: bool(call.notices))
    path = f"/api/sessions/{call.session_id}/identity"
    status, panel = await _get(server, path, call.clerk_token)
    assert panel["status"] == "failed"
    assert panel["result"]["failure_code"] == "liveness_failed"
    assert not panel["result"]["match"]["matched"]

    status, body = await _post(server, path + "/override", call.clerk_token, {"reason": "ok"})
    assert status == 400 and "reason" in body["message"]
    status, body = await _post(server, path + "/override", call.clerk_token, {"reason": " " * 12})
    assert status == 400 and body["code"] == "reason_required"
    other = await login(server.url, "ida", CLERK_PASSWORD)  # same clerk, second sign-in is fine
    reason = "Checked the passport in person with the branch; photo is 12 years old."
    status, body = await _post(server, path + "/override", other, {"reason": reason})
    assert status == 201 and body["status"] == "overridden"
    assert body["override"]["reason"] == reason and body["override"]["clerk"] == "ida"
    events = await AuditLog(server.db).events(call.session_id)
    override = next(e for e in events if e.kind == OVERRIDE_EVENT)
    assert override.payload["reason"] == reason and override.actor == "clerk:ida"
    assert (await AuditLog(server.db).verify(call.session_id)).ok


async def test_reports_are_refused_from_other_kiosks_and_when_inconsistent(
    server: RunningServer, call_factory: Any, engine: FaceEngine, photos: list[Photo]
) -> None:
    call = await call_factory(blinking(engine, _images(photos)["obama.jpg"]))
    path = f"/api/sessions/{call.session_id}/identity"
    stranger = await server.add_terminal("kiosk-other")
    status, body = await _post(
        server, path, stranger, {"outcome": "failed", "failure_code": "no_face"}
    )
    assert status == 403 and body["code"] == "not_your_session"
    status, body = await _post(
        server, path, call.terminal_token,
        {"outcome": "failed", "match": {"score": 0.9, "threshold": 0.4, "matched": False}},
    )  # fmt: skip
    assert status == 400 and body["code"] == "inconsistent_identity"
    status, body = await _post(server, path, call.terminal_token, {"outcome": "verified"})
    assert status == 400 and "lacks document" in body["message"]
    status, body = await _post(
        server, path, call.terminal_token,
        {"outcome": "failed", "failure_code": "no_face", "evidence": [{"kind": "frame", "jpeg_base64": "bm90IGEganBlZw=="}]},
    )  # fmt: skip
    assert status == 400 and "JPEG" in body["message"]
    assert not [
        e for e in await AuditLog(server.db).events(call.session_id) if e.kind == RESULT_EVENT
    ]
