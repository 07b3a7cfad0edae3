"""The kiosk's document uploads: HTTP ranges, resumed where the server left off.

Not the WebRTC data channel: aiortc's SCTP moves ~10 MB/s at a full core, and a break
there loses the whole transfer. Here a file goes as ``PUT`` ranges named by its SHA-256
(see :mod:`signaling.uploads`); after a broken connection the uploader asks the server how
much it has and sends the rest, so a retry never duplicates and never restarts from zero.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

import aiohttp
from pydantic import ValidationError

from signaling.logs import context_log
from signaling.messages import Checklist, DocumentMeta, ErrorEvent, UploadStatus
from terminal_client.errors import DocumentUploadFailed, DocumentUploadRefused

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 4 * 1024 * 1024
RETRIES = 5


class DocumentUploader:
    """Uploads documents of one kiosk's sessions to the server."""

    def __init__(
        self,
        server_url: str,
        token: str,
        *,
        chunk_size: int = DEFAULT_CHUNK,
        retries: int = RETRIES,
        name: str = "kiosk",
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self.token = token
        self.chunk_size = chunk_size
        self.retries = retries
        self.name = name
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=aiohttp.ClientTimeout(total=60, sock_connect=5),
            )
        return self._http

    async def close(self) -> None:
        """Close the HTTP connections; safe to call twice."""
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _url(self, session_id: str, kind: str, sha: str) -> str:
        return f"{self.server_url}/api/sessions/{session_id}/{kind}/{sha}"

    async def status(self, session_id: str, sha: str) -> UploadStatus:
        """How much of the file ``sha`` the server holds (and whether it is stored)."""
        async with self._session().get(self._url(session_id, "uploads", sha)) as response:
            return await self._read(response)

    async def checklist(self, session_id: str) -> Checklist:
        """The session's materials checklist as the server has it."""
        url = f"{self.server_url}/api/sessions/{session_id}/checklist"
        async with self._session().get(url) as response:
            text = await response.text()
            if response.status >= 400:
                error = ErrorEvent.model_validate_json(text)
                raise DocumentUploadRefused(error.message, error.code)
            return Checklist.model_validate_json(text)

    async def upload(self, session_id: str, data: bytes, meta: DocumentMeta) -> UploadStatus:
        """Send ``data`` whole, resuming after breaks; returns the server's final status.

        Raises :class:`DocumentUploadRefused` with the server's sentence when it refuses the
        file, :class:`DocumentUploadFailed` when the server cannot be reached.
        """
        sha = hashlib.sha256(data).hexdigest()
        ctx = context_log(log, session_id, f"terminal:{self.name}")
        offset, failures, ask = 0, 0, True
        while True:
            try:
                if ask:
                    # where to start: a file broken off earlier goes on, a stored one is done
                    current = await self.status(session_id, sha)
                    ask = False
                    if current.stored:
                        return current
                    # every byte there but not stored (the server stopped before storing):
                    # the last byte again makes it check and store what it has
                    offset = min(current.received, max(len(data) - 1, 0))
                end = min(len(data), offset + self.chunk_size) if data else 0
                result = await self._put(session_id, sha, data, offset, end, meta)
            except (aiohttp.ClientError, TimeoutError) as exc:
                failures += 1
                if failures > self.retries:
                    raise DocumentUploadFailed(
                        f"the document could not be sent after {self.retries} retries ({exc});"
                        " check the network and try again"
                    ) from exc
                ask = True
                ctx.warning("upload broke off at %d bytes (%s); resuming", offset, exc)
                await asyncio.sleep(min(2.0, 0.1 * 2**failures))
                continue
            if result.stored:
                ctx.info("document %s stored (%d bytes)", sha[:12], len(data))
                return result
            offset = result.received

    async def _put(
        self, session_id: str, sha: str, data: bytes, start: int, end: int, meta: DocumentMeta
    ) -> UploadStatus:
        headers = {"X-Document": meta.model_dump_json(), "Content-Type": "application/octet-stream"}
        if data:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
        body = data[start:end]
        async with self._session().put(
            self._url(session_id, "documents", sha), data=body, headers=headers
        ) as response:
            return await self._read(response)

    @staticmethod
    async def _read(response: aiohttp.ClientResponse) -> UploadStatus:
        text = await response.text()
        if response.status < 400:
            return UploadStatus.model_validate_json(text)
        try:
            error = ErrorEvent.model_validate_json(text)
        except ValidationError:
            error = ErrorEvent(code="http_error", message=f"HTTP {response.status}: {text[:200]}")
        if response.status >= 500:
            raise aiohttp.ClientResponseError(
                response.request_info, (), status=response.status, message=error.message
            )
        raise DocumentUploadRefused(error.message, error.code)
