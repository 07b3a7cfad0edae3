"""The kiosk's side of a material to follow (容缺受理): bring it later, at any kiosk.

After the ID re-check (:mod:`terminal_client.id_recheck`, as for a reprint) the kiosk asks
what the application waits for (``POST /api/to-follow/lookup``) and gets a short-lived
ticket; each page is scanned (the kiosk's scanner), processed by the document pipeline
(:func:`media.pages.process_page`, as in a call) and sent as a resumable upload with that
ticket; *finish* records the material supplied (see :mod:`signaling.paperwork.to_follow`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from pydantic import BaseModel

from media.pages import decode_image, process_page
from signaling.messages import DocumentMeta, UploadStatus
from signaling.paperwork.follow_messages import FollowLookup, SuppliedRequest
from signaling.paperwork.messages import ReprintRequest
from terminal_client.errors import DeviceFault, PaperworkRefused
from terminal_client.scanner import Scanner
from terminal_client.uploads import DocumentUploader

log = logging.getLogger(__name__)

TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=5)
TICKET_HEADER = "X-Follow-Ticket"  # signaling/paperwork/to_follow_routes.py


class FollowUploader(DocumentUploader):
    """Uploads to an application's session from a kiosk that is not its own, by ticket."""

    def __init__(self, server_url: str, token: str, ticket: str, name: str = "kiosk") -> None:
        super().__init__(server_url, token, name=name)
        self.ticket = ticket

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {self.token}", TICKET_HEADER: self.ticket},
                timeout=aiohttp.ClientTimeout(total=60, sock_connect=5),
            )
        return self._http

    def _url(self, session_id: str, kind: str, sha: str) -> str:
        return f"{self.server_url}/api/to-follow/{session_id}/{kind}/{sha}"


class FollowClient:
    """Look up, send the scans of, and finish the materials one application waits for."""

    def __init__(self, server_url: str, token: str, name: str = "kiosk") -> None:
        self.server_url = server_url.rstrip("/")
        self.token = token
        self.name = name

    async def _call(self, path: str, body: BaseModel, ticket: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        if ticket is not None:
            headers[TICKET_HEADER] = ticket
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as http,
            http.post(
                f"{self.server_url}{path}", json=body.model_dump(mode="json"), headers=headers
            ) as r,
        ):
            data = await r.json()
            if r.status >= 400:
                raise PaperworkRefused(
                    str(data.get("code", "error")), str(data.get("message", r.reason))
                )
            return data

    async def lookup(self, request: ReprintRequest) -> FollowLookup:
        """What the application waits for; :class:`PaperworkRefused` with the server's sentence."""
        return FollowLookup.model_validate(await self._call("/api/to-follow/lookup", request))

    async def send(
        self, found: FollowLookup, material_id: str, data: bytes, filename: str = ""
    ) -> UploadStatus:
        """One page (or file) of ``material_id`` to the application's session."""
        uploader = FollowUploader(self.server_url, self.token, found.ticket, self.name)
        try:
            meta = DocumentMeta(
                material_id=material_id, source="scanner", filename=filename or material_id
            )
            return await uploader.upload(found.session_id, data, meta)
        finally:
            await uploader.close()

    async def scan(
        self, found: FollowLookup, material_id: str, scanner: Scanner | None, max_bytes: int
    ) -> UploadStatus:
        """Scan one page with the kiosk's scanner, clean it up as in a call, and send it."""
        if scanner is None:
            raise DeviceFault("this kiosk has no scanner; use a kiosk with one", "missing")
        path = await scanner.scan()
        raw = await asyncio.to_thread(path.read_bytes)
        image = await asyncio.to_thread(decode_image, raw)
        page = await asyncio.to_thread(process_page, image, max_bytes, find_edges=False)
        log.info(
            "scanned %s for %s: %d bytes", material_id, found.acceptance_number, len(page.jpeg)
        )
        return await self.send(found, material_id, page.jpeg, f"{material_id}.jpg")

    async def finish(self, found: FollowLookup, material_id: str) -> FollowLookup:
        """Every page of ``material_id`` is sent: it is supplied; returns what is left."""
        path = f"/api/to-follow/{found.session_id}/supplied"
        data = await self._call(path, SuppliedRequest(material_id=material_id), found.ticket)
        return FollowLookup.model_validate(data)
