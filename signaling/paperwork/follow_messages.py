"""The wire contract of materials to follow (容缺受理): REST bodies the console and kiosk use."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, StrictInt

from signaling.messages import LocalizedText, Message, SessionId

FollowState = Literal["outstanding", "supplied", "lapsed", "brought"]


class FollowItem(Message):
    """One material to follow: by when, and what became of it."""

    material_id: str
    names: LocalizedText
    due_on: date
    state: FollowState
    reminded: bool = False
    documents: list[str] = Field(default_factory=list)  # SHA-256 of the supplied scans


class DeferRequest(Message):
    """The clerk accepts the application without this material, to follow in ``days``
    working days (None: the catalogue's or the server's default)."""

    material_id: str = Field(min_length=1, max_length=64)
    days: StrictInt | None = Field(default=None, ge=1, le=60)


class FollowLookup(Message):
    """At a kiosk, after the ID re-check: what the application still waits for, and the
    short-lived ticket the kiosk sends its scans with."""

    session_id: SessionId
    acceptance_number: str
    language: str
    items: list[FollowItem]
    ticket: str


class SuppliedRequest(Message):
    """From the kiosk: every page of this material is scanned and sent."""

    material_id: str = Field(min_length=1, max_length=64)
