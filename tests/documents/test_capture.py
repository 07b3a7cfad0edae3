"""The kiosk's document side in a real call: the live document camera, captures from it and
from the simulated scanner (jams and hangs included), USB imports, the checklist."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from media import sources
from media.document_camera import SyntheticDocumentCamera
from media.pages import decode_image
from terminal_client.documents import KioskDocuments
from terminal_client.errors import DeviceFault, DocumentUploadRefused
from terminal_client.imports import UsbFolder
from terminal_client.scanner import SimulatedScanner
from tests.conftest import RunningServer
from tests.documents import samples
from tests.documents.conftest import close_call, open_call, until


async def test_document_camera_is_a_second_video_the_clerk_receives(server: RunningServer) -> None:
    camera = SyntheticDocumentCamera(fps=10)
    call = await open_call(server, document_track=camera.track)
    try:
        await asyncio.wait_for(call.clerk.connected.wait(), 20)  # its counters are this call's
        await call.clerk.document_in.wait_for(10, timeout=20)
        await call.clerk.video_in.wait_for(10, timeout=20)
        assert call.clerk.document_in.size == (640, 480)
        assert call.clerk.video_in.size == sources.SYNTHETIC_VIDEO.size
    finally:
        await close_call(call)


async def test_capture_from_camera_and_scanner_reaches_the_checklist(
    server: RunningServer, tmp_path: Path
) -> None:
    camera = SyntheticDocumentCamera()
    scanner = SimulatedScanner(dpi=150, seconds_per_scan=0.05, timeout_s=0.5)
    call = await open_call(server)
    desk = KioskDocuments(call.terminal, camera=camera, scanner=scanner)
    try:
        checklist = await desk.refresh()
        assert {i.status for i in checklist.items} == {"missing"}
        assert "business-licence" in desk.missing()

        shot = await desk.capture("business-licence", "camera")
        assert shot.page.corners is not None, "the sheet was found on the desk"
        page = decode_image(shot.page.jpeg)
        assert page.shape[0] > page.shape[1] and len(shot.page.jpeg) <= desk.max_bytes
        assert shot.cpu_ms > 0

        scan = await desk.capture("legal-representative-id", "scanner")
        assert scan.page.corners is None  # a scanner's image is the page already

        await until(lambda: desk.checklist is not None and
                              {i.material_id: i.status for i in desk.checklist.items}["legal-representative-id"] == "received")  # fmt: skip
        assert desk.checklist is not None
        status = {i.material_id: i.status for i in desk.checklist.items}
        assert status["business-licence"] == status["legal-representative-id"] == "received"
        # the clerk's socket got the same checklist
        await until(lambda: len(call.pushed["checklist"]) >= 2)
        assert call.pushed["checklist"][-1] == desk.checklist.model_dump(mode="json", by_alias=True)
    finally:
        await desk.close()
        scanner.close()
        await close_call(call)


async def test_scanner_jam_stays_until_cleared_and_a_hang_times_out(server: RunningServer) -> None:
    scanner = SimulatedScanner(dpi=100, seconds_per_scan=0.05, timeout_s=0.3)
    call = await open_call(server)
    desk = KioskDocuments(call.terminal, scanner=scanner)
    try:
        scanner.fail_next("jam")
        with pytest.raises(DeviceFault) as jam:
            await desk.capture("business-licence", "scanner")
        assert jam.value.reason_code == "jam" and "remove the sheet" in jam.value.message
        assert desk.error == jam.value.message
        with pytest.raises(DeviceFault, match="jammed"):
            await desk.capture("business-licence", "scanner")
        scanner.clear_jam()
        scanner.fail_next("timeout")
        with pytest.raises(DeviceFault) as hang:
            await desk.capture("business-licence", "scanner")
        assert hang.value.reason_code == "timeout" and "0.3 s" in hang.value.message
        scanner.timeout_s = 30  # a working scan, however busy this machine is
        stored = await desk.capture("business-licence", "scanner")
        assert stored.status.stored and desk.error is None
        with pytest.raises(DeviceFault, match="no document camera"):
            await desk.capture("business-licence", "camera")
    finally:
        await desk.close()
        scanner.close()
        await close_call(call)


async def test_usb_import_sends_files_as_they_are_and_refuses_bad_ones(
    server: RunningServer, tmp_path: Path
) -> None:
    stick = tmp_path / "usb"
    stick.mkdir()
    (stick / "licence.pdf").write_bytes(samples.good_pdf(2))
    (stick / "photo.JPG").write_bytes(samples.page_jpeg(7))
    (stick / "report.pdf").write_bytes(samples.javascript_pdf())
    (stick / "notes.txt").write_text("not a document")
    call = await open_call(server, "zh-Hans")
    desk = KioskDocuments(call.terminal, usb=UsbFolder(stick))
    try:
        assert [f.name for f in await desk.usb.files()] == [
            "licence.pdf",
            "photo.JPG",
            "report.pdf",
        ]  # type: ignore[union-attr]
        stored = await desk.import_usb("business-licence", "licence.pdf")
        assert stored.document is not None and stored.document.pages == 2
        assert (
            stored.document.sha256
            == hashlib.sha256((stick / "licence.pdf").read_bytes()).hexdigest()
        )
        with pytest.raises(DocumentUploadRefused) as refused:
            await desk.import_usb("premises-proof", "report.pdf")
        assert (
            refused.value.reason_code == "pdf_javascript" and "JavaScript" in refused.value.message
        )
        assert desk.error == refused.value.message and "请" in refused.value.message
        with pytest.raises(DeviceFault, match="not a document on the USB stick"):
            await desk.import_usb("premises-proof", "../../etc/passwd")
    finally:
        await desk.close()
        await close_call(call)
