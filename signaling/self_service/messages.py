"""REST bodies of the self-service routes (kiosk <-> server)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictBool

from signaling.messages import Language, Message, ServiceId, SessionId
from signaling.paperwork.messages import DocumentRef


class SelfServiceStart(Message):
    """``POST /api/self-service``: the applicant picked a self-service service."""

    service_id: ServiceId
    language: Language = "zh-Hant"
    care_mode: StrictBool = False


class SelfServiceOpened(Message):
    """The session opened for it; after ``slow_after_s`` the kiosk says the department is slow."""

    session_id: SessionId
    service_id: ServiceId
    slow_after_s: float


class SelfServiceIssued(Message):
    """``POST /api/sessions/{id}/self-service/document``: the sealed document to print."""

    session_id: SessionId
    acceptance_number: str
    reference: str = Field(description="the department's own reference of the record")
    document: DocumentRef


class SelfServiceFinish(Message):
    """``POST /api/sessions/{id}/self-service/finish``: printed, or the applicant left."""

    reason: Literal["printed", "left"]
