"""The kiosk's side of step 4: capture, process and send documents; follow the checklist.

:class:`KioskDocuments` joins a :class:`~terminal_client.client.TerminalClient`: it listens
for the server's ``checklist`` and ``capture_requested`` on the client's socket, captures a
still from the document camera or a page from the scanner, runs the page pipeline in a
worker thread (:func:`media.pages.process_page`) and uploads the JPEG
(:class:`~terminal_client.uploads.DocumentUploader`). Imported files (USB, phone) go as they
are: the server checks them by content.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import cv2

from media.document_camera import DeviceDocumentCamera, SyntheticDocumentCamera
from media.errors import DeviceUnavailable, PageImageError
from media.pages import Image, PageResult, decode_image, process_page
from signaling.logs import context_log
from signaling.messages import (
    NAMESPACE_TERMINAL,
    CaptureRequested,
    Checklist,
    DocumentMeta,
    DocumentSource,
    UploadStatus,
)
from terminal_client.client import TerminalClient
from terminal_client.errors import DeviceFault, DocumentError, TerminalError
from terminal_client.imports import UsbFolder
from terminal_client.scanner import Scanner
from terminal_client.tasks import cancel_and_wait
from terminal_client.uploads import DocumentUploader

log = logging.getLogger(__name__)

DocumentCamera = SyntheticDocumentCamera | DeviceDocumentCamera
Device = Literal["camera", "scanner"]


@dataclass(frozen=True)
class Captured:
    """One page sent: what the server stored and what processing it took at the kiosk."""

    status: UploadStatus
    page: PageResult
    cpu_ms: float  # worker-thread CPU time of the pipeline
    capture_ms: float  # the device's part (still or scan)
    process_ms: float = 0.0  # the pipeline's wall time
    upload_ms: float = 0.0  # sending until the server has stored and chained it


class KioskDocuments:
    """Documents of the kiosk's current call."""

    def __init__(
        self,
        client: TerminalClient,
        *,
        camera: DocumentCamera | None = None,
        scanner: Scanner | None = None,
        usb: UsbFolder | None = None,
        max_bytes: int = 1_500_000,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.camera = camera
        self.scanner = scanner
        self.usb = usb
        self.max_bytes = max_bytes
        self.on_change = on_change
        self.uploader = DocumentUploader(client.server_url, client.token, name=client.name)
        self.checklist: Checklist | None = None
        self.busy = False
        self.error: str | None = None  # the last refusal or fault, for the applicant
        self.captures: list[Captured] = []
        self._tasks: set[asyncio.Task[None]] = set()
        # OpenCV's own thread pool would compete with the call's encoders on a kiosk's few
        # cores; one thread per page keeps the call smooth and the CPU time measurable.
        cv2.setNumThreads(1)
        client.sio.on("checklist", self._on_checklist, namespace=NAMESPACE_TERMINAL)
        client.sio.on("capture_requested", self._on_capture_requested, namespace=NAMESPACE_TERMINAL)

    def _log(self) -> logging.LoggerAdapter[logging.Logger]:
        return context_log(log, self.client.session_id, f"terminal:{self.client.name}")

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def missing(self) -> list[str]:
        """Material ids the applicant still has to present (required, not yet accepted)."""
        if self.checklist is None:
            return []
        return [
            i.material_id for i in self.checklist.items if i.required and i.status != "accepted"
        ]

    async def refresh(self) -> Checklist:
        """Fetch the call's checklist (at the start of a call; later ones are pushed)."""
        self.checklist = await self.uploader.checklist(self._session())
        self._changed()
        return self.checklist

    async def _on_checklist(self, data: dict[str, Any]) -> None:
        checklist = Checklist.model_validate(data)
        if checklist.session_id != self.client.session_id:
            return
        self.checklist = checklist
        self._changed()

    async def _on_capture_requested(self, data: dict[str, Any]) -> None:
        request = CaptureRequested.model_validate(data)
        if request.session_id != self.client.session_id:
            return
        self._log().info("clerk asked for a %s capture of %s", request.device, request.material_id)
        task = asyncio.get_running_loop().create_task(self._capture_quietly(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _capture_quietly(self, request: CaptureRequested) -> None:
        # the clerk's command has no caller to raise to: the error goes on the kiosk screen
        with contextlib.suppress(DocumentError, DeviceUnavailable, PageImageError):
            await self.capture(request.material_id, request.device)  # a failure is self.error

    async def capture(self, material_id: str, device: Device = "camera") -> Captured:
        """Capture one page, process it and send it; raises a :class:`DocumentError`."""
        session_id = self._session()
        self.busy, self.error = True, None
        self._changed()
        try:
            started = time.perf_counter()
            image = await self._acquire(device)
            captured_at = time.perf_counter()
            capture_ms = (captured_at - started) * 1000
            page, cpu_ms = await asyncio.to_thread(
                _timed_process, image, self.max_bytes, device == "camera"
            )
            processed_at = time.perf_counter()
            meta = DocumentMeta(
                material_id=material_id, source=device, filename=f"{material_id}.jpg"
            )
            status = await self.uploader.upload(session_id, page.jpeg, meta)
        except (DocumentError, DeviceUnavailable, PageImageError) as exc:
            self.error = exc.message
            self._log().warning("capture of %s failed: %s", material_id, exc.message)
            raise
        finally:
            self.busy = False
            self._changed()
        done = time.perf_counter()
        captured = Captured(
            status, page, cpu_ms, capture_ms,
            (processed_at - captured_at) * 1000, (done - processed_at) * 1000,
        )  # fmt: skip
        self.captures.append(captured)
        self._log().info(
            "captured %s: %dx%d, %d bytes, %.0f ms CPU", material_id, page.width, page.height,
            len(page.jpeg), cpu_ms,
        )  # fmt: skip
        return captured

    async def _acquire(self, device: Device) -> Image:
        if device == "camera":
            if self.camera is None:
                raise DeviceFault("this kiosk has no document camera; use the scanner", "missing")
            return await self.camera.still()
        if self.scanner is None:
            raise DeviceFault("this kiosk has no scanner; use the document camera", "missing")
        path = await self.scanner.scan()
        data = await asyncio.to_thread(path.read_bytes)
        return await asyncio.to_thread(decode_image, data)

    async def import_file(
        self, material_id: str, data: bytes, filename: str, source: DocumentSource = "usb"
    ) -> UploadStatus:
        """Send an electronic file as it is (the server checks its content)."""
        session_id = self._session()
        self.busy, self.error = True, None
        self._changed()
        try:
            meta = DocumentMeta(material_id=material_id, source=source, filename=filename[:200])
            return await self.uploader.upload(session_id, data, meta)
        except DocumentError as exc:
            self.error = exc.message
            raise
        finally:
            self.busy = False
            self._changed()

    async def import_usb(self, material_id: str, name: str) -> UploadStatus:
        """Send the USB stick's file ``name`` for ``material_id``."""
        if self.usb is None:
            raise DeviceFault("this kiosk has no USB port for documents", "missing")
        try:
            data = await self.usb.read(name)
        except DeviceFault as exc:
            self.error = exc.message
            self._changed()
            raise
        return await self.import_file(material_id, data, name, "usb")

    def _session(self) -> str:
        if self.client.session_id is None:
            raise TerminalError("documents can be sent only during a call")
        return self.client.session_id

    async def close(self) -> None:
        """Stop pending captures and close the uploader."""
        await cancel_and_wait(self._tasks)
        await self.uploader.close()


def _timed_process(image: Image, max_bytes: int, find_edges: bool) -> tuple[PageResult, float]:
    """:func:`process_page` and the CPU time this thread spent on it (ms)."""
    start = time.thread_time()
    result = process_page(image, max_bytes, find_edges=find_edges)
    return result, (time.thread_time() - start) * 1000
