"""The kiosk's own identity step outside a call (card + live face), then the department's
document: the simulated chip reader and a replayed camera are the only stand-ins."""

from __future__ import annotations

from pathlib import Path

import pytest

from media.errors import IdentityError
from media.face_camera import ReplayTrack, blinking
from media.face_samples import Photo
from media.faces import FaceEngine
from media.sources import LocalMedia, SyntheticAudioTrack
from storage.audit import AuditLog
from terminal_client.identity import Progress
from terminal_client.paperwork import KioskPaperwork
from terminal_client.printer import PrintQueue, SpoolPrinter
from terminal_client.self_service import SelfServiceClient
from tests.conftest import RunningServer
from tests.identity.conftest import engine, photos  # noqa: F401
from tests.self_service.conftest import TAX, Kiosk
from tests.sign.conftest import CARD_NUMBER, id_card, insert_card
from tests.sign.test_full_flow import kiosk_identity


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", ["sqlite"])
async def test_card_and_face_at_the_kiosk_then_the_document_prints(
    server: RunningServer,
    kiosk: Kiosk,
    tmp_path: Path,
    engine: FaceEngine,  # noqa: F811
    photos: list[Photo],  # noqa: F811
) -> None:
    images = {p.name: p.image for p in photos}
    frames = blinking(engine, images["obama.jpg"])

    def camera() -> LocalMedia:
        return LocalMedia(ReplayTrack(frames, loop=True), SyntheticAudioTrack())

    slot = tmp_path / "slot"
    slot.mkdir()
    identity = kiosk_identity(server, kiosk.token, slot)
    queue = PrintQueue(SpoolPrinter(tmp_path / "spool"), tmp_path / "queue")
    client = SelfServiceClient(
        server.url, kiosk.token, KioskPaperwork(server.url, kiosk.token, queue)
    )
    seen: list[Progress] = []
    await queue.start()
    try:
        # someone else's card in front of this face: the check fails, nothing is fetched
        insert_card(slot, id_card(tmp_path / "other", engine, images["biden.jpg"]))
        wrong = (await client.open(TAX, "en", False)).session_id
        with pytest.raises(IdentityError):  # the face does not match (or "changed")
            await identity.verify_outside_call(wrong, camera, seen.append)
        status, error = await kiosk.document(wrong)
        assert status == 409 and error["code"] == "identity_not_verified"
        # their own card: verified, then the department's document, sealed and printed
        insert_card(slot, id_card(tmp_path / "card", engine, images["obama3.jpg"]))
        session_id = (await client.open(TAX, "en", False)).session_id
        report = await identity.verify_outside_call(session_id, camera, seen.append)
        assert report.outcome == "verified" and report.document is not None
        assert report.document.document_number == CARD_NUMBER
        issued = await client.issue(session_id)
        await client.print(issued)
        await queue.wait_idle(15)
    finally:
        await identity.close()
        await queue.close()
    assert {p.phase for p in seen} >= {"document", "reading", "face", "challenge"}
    assert len(list((tmp_path / "spool").glob("*.pdf"))) == 1
    events = await AuditLog(server.db).events(session_id)
    result = next(e for e in events if e.kind == "identity.result")
    assert result.payload["outcome"] == "verified" and result.payload["evidence"]
    assert (await AuditLog(server.db).verify(session_id)).ok
