"""The documents part of the kiosk's call screen: the checklist and the ways to hand over.

:class:`DocumentsScreen` sits between the controller and
:class:`~terminal_client.documents.KioskDocuments`: it turns the checklist and the desk's
state into a :class:`DocumentsView`, and the page's commands (photograph, scan, pick a USB
file, show the phone's QR code) into desk calls. A device fault shows as
``documents.error.<reason>`` from the kiosk's catalogues; a refusal by the server shows the
server's own sentence, which is already in the applicant's language.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from media.document_camera import DeviceDocumentCamera, SyntheticDocumentCamera
from media.errors import DeviceUnavailable, PageImageError
from terminal_client.client import TerminalClient
from terminal_client.documents import KioskDocuments
from terminal_client.errors import DeviceFault, DocumentError, DocumentUploadRefused
from terminal_client.imports import UsbFolder, request_phone_link
from terminal_client.kiosk.messages import (
    Capture,
    DocumentsCommand,
    DocumentsView,
    ImportUsb,
    MaterialView,
    Notice,
)
from terminal_client.scanner import Scanner, SimulatedScanner
from terminal_client.tasks import cancel_and_wait

log = logging.getLogger(__name__)

DeviceName = Literal["camera", "scanner", "usb", "phone"]


@dataclass
class DocumentDevices:
    """What a kiosk has for documents; each is optional."""

    camera: SyntheticDocumentCamera | DeviceDocumentCamera | None = None
    scanner: Scanner | None = None
    usb: UsbFolder | None = None
    phone: bool = True  # offer the one-time phone upload link

    @classmethod
    def from_options(
        cls, camera: str | None, scanner_pages: Path | None, usb: Path | None, simulate: bool
    ) -> DocumentDevices:
        """Devices from ``vcounter terminal`` options: ``camera`` is a V4L2 path or
        ``synthetic``; ``simulate`` gives a synthetic camera and scanner when none is named."""
        cam: SyntheticDocumentCamera | DeviceDocumentCamera | None = None
        if camera == "synthetic" or (camera is None and simulate):
            cam = SyntheticDocumentCamera()
        elif camera:
            cam = DeviceDocumentCamera(camera)
        scan = SimulatedScanner(scanner_pages) if (scanner_pages or simulate) else None
        return cls(cam, scan, UsbFolder(usb) if usb else None)


class DocumentsScreen:
    """Documents of the kiosk's current call, as the call screen shows them."""

    def __init__(
        self, client: TerminalClient, devices: DocumentDevices, on_change: Callable[[], None]
    ) -> None:
        self.client = client
        self.devices = devices
        self.on_change = on_change
        self.desk = KioskDocuments(
            client, camera=devices.camera, scanner=devices.scanner, usb=devices.usb,
            on_change=on_change,
        )  # fmt: skip
        self.notice: Notice | None = None
        self.usb_files: list[str] | None = None
        self.phone: tuple[str, str] | None = None  # url, QR data URI
        self._tasks: set[asyncio.Task[None]] = set()

    def call_started(self) -> None:
        """A call began: fetch its checklist (later ones are pushed)."""
        self.notice, self.usb_files, self.phone = None, None, None
        self.desk.checklist = None
        self._spawn(self._refresh())

    async def _refresh(self) -> None:
        with contextlib.suppress(DocumentError):
            await self.desk.refresh()

    def view(self) -> DocumentsView | None:
        """The checklist and the hand-over choices, once the call's checklist is known."""
        checklist = self.desk.checklist
        if checklist is None or checklist.session_id != self.client.session_id:
            return None
        devices: list[DeviceName] = []
        if self.devices.camera is not None:
            devices.append("camera")
        if self.devices.scanner is not None:
            devices.append("scanner")
        if self.devices.usb is not None:
            devices.append("usb")
        if self.devices.phone:
            devices.append("phone")
        items = [
            MaterialView(
                material_id=i.material_id,
                required=i.required,
                status=i.status,
                reason=i.reason,
                pages=len(i.documents),
                due_on=i.due_on.isoformat() if i.due_on else None,
            )
            for i in checklist.items
        ]
        return DocumentsView(
            items=items, complete=checklist.complete, busy=self.desk.busy, devices=devices,
            error=self.notice, usb_files=self.usb_files,
            phone_qr=self.phone[1] if self.phone else None,
            phone_url=self.phone[0] if self.phone else None,
        )  # fmt: skip

    async def handle(self, command: Capture | ImportUsb | DocumentsCommand) -> None:
        """Run one documents command from the page; failures become the view's notice."""
        self.notice = None
        match command:
            case Capture(material_id=material, device=device):
                self._spawn(self._guard(self.desk.capture(material, device)))
            case ImportUsb(material_id=material, name=name):
                self.usb_files = None
                self._spawn(self._guard(self.desk.import_usb(material, name)))
            case DocumentsCommand(type="list_usb"):
                await self._guard(self._list_usb())
            case DocumentsCommand(type="phone_link"):
                await self._guard(self._phone_link())
            case DocumentsCommand(type="close_documents"):
                self.usb_files, self.phone = None, None
        self.on_change()

    async def _list_usb(self) -> None:
        if self.devices.usb is None:
            raise DeviceFault("this kiosk has no USB port for documents", "missing")
        self.usb_files = [f.name for f in await self.devices.usb.files()]

    async def _phone_link(self) -> None:
        session_id = self.client.session_id
        if session_id is None:
            return
        link = await request_phone_link(self.client.server_url, self.client.token, session_id)
        self.phone = (link.url, link.qr)

    async def _guard(self, work: Coroutine[Any, Any, Any]) -> None:
        try:
            await work
        except DeviceFault as exc:
            self.notice = Notice(key=f"documents.error.{exc.reason_code}", detail=exc.message)
        except DocumentUploadRefused as exc:
            self.notice = Notice(key=f"documents.refused.{exc.reason_code}", detail=exc.message)
        except (DocumentError, DeviceUnavailable, PageImageError) as exc:
            self.notice = Notice(key=f"error.{exc.code}", detail=exc.message)
        self.on_change()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop pending work, close the uploader and the devices."""
        await cancel_and_wait(self._tasks)
        await self.desk.close()
        if self.devices.camera is not None:
            self.devices.camera.close()
        if self.devices.scanner is not None:
            self.devices.scanner.close()
