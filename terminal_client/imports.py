"""Electronic files brought to the kiosk: a USB stick's folder, or the applicant's phone.

The kiosk lists a mounted USB folder by file name (PDF, JPEG, PNG by their endings, which is
only a hint: the server judges the content) and reads one file by its listed name, never a
path the page made up. For a phone, the kiosk asks the server for a one-time upload link
and shows it as a QR code (:func:`request_phone_link`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from signaling.messages import ErrorEvent, PhoneLink
from terminal_client.errors import DeviceFault, DocumentUploadRefused

SUFFIXES = (".pdf", ".jpg", ".jpeg", ".png")
MAX_LISTED = 200


@dataclass(frozen=True)
class ImportFile:
    name: str
    bytes: int


class UsbFolder:
    """The files at the top of a mounted USB stick (``root``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _list(self) -> list[ImportFile]:
        if not self.root.is_dir():
            raise DeviceFault(f"no USB stick at {self.root}; plug one in and try again", "missing")
        found = [
            ImportFile(p.name, p.stat().st_size)
            for p in sorted(self.root.iterdir())
            if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith(".")
        ]
        return found[:MAX_LISTED]

    async def files(self) -> list[ImportFile]:
        """The documents on the stick, by name."""
        return await asyncio.to_thread(self._list)

    async def read(self, name: str) -> bytes:
        """The bytes of the listed file ``name``; anything not listed is refused."""
        listed = {f.name for f in await self.files()}
        if name not in listed:
            raise DeviceFault(f"{name!r} is not a document on the USB stick", "missing")
        return await asyncio.to_thread((self.root / name).read_bytes)


async def request_phone_link(server_url: str, token: str, session_id: str) -> PhoneLink:
    """A one-time link (and its QR code) for the applicant's phone to upload to this session."""
    url = f"{server_url.rstrip('/')}/api/sessions/{session_id}/phone-link"
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http, http.post(url, headers=headers) as response:
        text = await response.text()
        if response.status >= 400:
            error = ErrorEvent.model_validate_json(text)
            raise DocumentUploadRefused(error.message, error.code)
        return PhoneLink.model_validate_json(text)
