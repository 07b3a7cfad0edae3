"""The department connector interface, and its one implementation: a signed HTTP JSON API.

:class:`DepartmentConnector` is what the self-service flow needs of a department's system:
one document of a kind for one verified person. :class:`HttpConnector` signs each request
with our Ed25519 key and checks each answer against the department's pinned key (the
scheme of :mod:`signaling.payments.signatures`, shared so there is one to audit). A query is
idempotent (its ``request_id``), so a failed attempt is tried again while time is left.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Protocol

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from signaling.departments.config import ConnectorSettings
from signaling.departments.errors import (
    ConnectorConfigError,
    DepartmentRefused,
    DepartmentUnavailable,
)
from signaling.departments.wire import (
    REFUSALS,
    DepartmentDocument,
    DepartmentErrorBody,
    DocumentQuery,
)
from signaling.payments import signatures as sig
from signaling.payments.errors import BadSignature, PaymentConfigError

log = logging.getLogger(__name__)

DOCUMENTS_PATH = "/v1/documents"
# pause before trying a failed attempt again (the department may be restarting)
RETRY_PAUSE_S = 0.2


class DepartmentConnector(Protocol):
    """What the server asks of a department's system."""

    department_id: str
    slow_after_s: float

    async def fetch(self, query: DocumentQuery) -> DepartmentDocument:
        """The document, or :class:`DepartmentRefused` / :class:`DepartmentUnavailable`."""
        ...

    async def close(self) -> None: ...


class HttpConnector:
    """A department reached over HTTP(S) with signed requests and signed answers."""

    def __init__(
        self,
        department_id: str,
        base_url: str,
        client_id: str,
        key: Ed25519PrivateKey,
        department_key: Ed25519PublicKey,
        *,
        timeout_s: float = 15.0,
        slow_after_s: float = 3.0,
        retries: int = 1,
    ) -> None:
        self.department_id = department_id
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.key = key
        self.department_key = department_key
        self.timeout_s = timeout_s
        self.slow_after_s = slow_after_s
        self.retries = retries
        self._http = aiohttp.ClientSession()

    @classmethod
    def from_settings(cls, department_id: str, s: ConnectorSettings) -> HttpConnector:
        """The connector of ``department_id`` as configured; our key is made if missing."""
        try:
            key = sig.load_or_create_key(s.key)
            pinned = sig.load_public_key(s.department_key)
        except PaymentConfigError as exc:
            raise ConnectorConfigError(
                f"the connector of department {department_id}: {exc.message}; fix"
                f" department_connectors.{department_id}"
            ) from exc
        return cls(
            department_id, s.url, s.client_id, key, pinned,
            timeout_s=s.timeout_s, slow_after_s=s.slow_after_s, retries=s.retries,
        )  # fmt: skip

    async def close(self) -> None:
        await self._http.close()

    async def fetch(self, query: DocumentQuery) -> DepartmentDocument:
        """Ask for the document; tries a failed attempt again within ``timeout_s`` overall."""
        failure: DepartmentUnavailable | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                for attempt in range(self.retries + 1):
                    if attempt:
                        await asyncio.sleep(RETRY_PAUSE_S)
                    try:
                        return await self._attempt(query)
                    except DepartmentUnavailable as exc:
                        failure = exc
                        log.info(
                            "department %s, request %s: attempt %d failed: %s",
                            self.department_id, query.request_id, attempt + 1, exc.message,
                        )  # fmt: skip
        except TimeoutError as exc:
            raise DepartmentUnavailable(
                f"the system of department {self.department_id} did not answer within"
                f" {self.timeout_s:g} s"
            ) from exc
        assert failure is not None
        raise failure

    async def _attempt(self, query: DocumentQuery) -> DepartmentDocument:
        body = query.model_dump_json()
        headers = {
            "Authorization": sig.authorization(
                self.key, self.client_id, "POST", DOCUMENTS_PATH, body
            ),
            "Content-Type": "application/json",
        }
        where = f"the system of department {self.department_id}"
        try:
            async with self._http.post(
                f"{self.base_url}{DOCUMENTS_PATH}", data=body, headers=headers
            ) as r:
                answer = await r.text()
                status, received = r.status, dict(r.headers)
        except aiohttp.ClientError as exc:
            raise DepartmentUnavailable(f"{where} cannot be reached ({exc})") from exc
        try:
            sig.check_body(self.department_key, sig.body_stamp(received), answer)
        except BadSignature as exc:
            log.error("department %s: answer not signed by its pinned key: %s",
                      self.department_id, exc.message)  # fmt: skip
            raise DepartmentUnavailable(
                f"the answer of {where} is not signed by its pinned key"
                f" (HTTP {status}); check department_connectors.{self.department_id}"
            ) from exc
        if status >= 400:
            try:
                error = DepartmentErrorBody.model_validate_json(answer)
            except ValidationError:
                error = DepartmentErrorBody(code=f"http_{status}", message=answer[:200])
            if status < 500 and error.code in REFUSALS:
                raise DepartmentRefused(error.message, error.code)
            raise DepartmentUnavailable(f"{where} failed: {error.code} ({error.message})")
        try:
            document = DepartmentDocument.model_validate_json(answer)
        except ValidationError as exc:
            raise DepartmentUnavailable(
                f"{where} answered with a document that is not valid:"
                f" {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}"
            ) from exc
        if document.request_id != query.request_id or document.kind != query.kind:
            raise DepartmentUnavailable(
                f"{where} answered request {document.request_id} ({document.kind}), not"
                f" {query.request_id} ({query.kind})"
            )
        return document


class Connectors:
    """The configured connectors by department id; closed with the server."""

    def __init__(self, connectors: dict[str, DepartmentConnector]) -> None:
        self.by_department = connectors

    @classmethod
    def from_settings(cls, configured: dict[str, ConnectorSettings]) -> Connectors:
        return cls({dept: HttpConnector.from_settings(dept, s) for dept, s in configured.items()})

    def of(self, department_id: str) -> DepartmentConnector:
        """The connector of a department; :class:`ConnectorConfigError` if none is set."""
        found = self.by_department.get(department_id)
        if found is None:
            raise ConnectorConfigError(
                f"department {department_id} has no connector configured; set"
                f" department_connectors.{department_id}"
            )
        return found

    async def close(self) -> None:
        for connector in self.by_department.values():
            await connector.close()


def public_key_path(private: Path) -> Path:
    """Where our public key is written beside our private one (give it to the department)."""
    return sig.public_path(private)
