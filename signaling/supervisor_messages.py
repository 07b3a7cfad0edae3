"""The supervisor console's REST bodies: live overview, service-level figures, replay.

Kept apart from :mod:`signaling.messages` (the socket.io contract) because only the
supervisor pages read them; like those, every body is a pydantic model defined once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from signaling.messages import ClerkState, LocalizedText, Message, SessionState


class QueueFigure(Message):
    """Who waits for one service right now."""

    service_id: str
    department_id: str
    service_name: LocalizedText
    waiting: int
    longest_wait_s: float
    care_mode_waiting: int


class ClerkFigure(Message):
    """One signed-in clerk: state, current session, how long in that state."""

    id: int
    username: str
    display_name: str
    departments: list[str]
    state: ClerkState
    session_id: str | None
    in_state_s: float
    # away: why; in wrap-up: the seconds left (negative: over time) and whether over time
    away_reason: str | None = None
    wrap_up_left_s: float | None = None
    wrap_up_overtime: bool = False


class LiveSessionFigure(Message):
    """One active session as the supervisor sees it."""

    id: str
    service_id: str
    state: SessionState
    terminal_name: str
    clerk: str | None
    waited_s: float
    step: int
    care_mode: bool
    language: str


class CallbackFigure(Message):
    """Applicants of one department waiting to be called back (open callback tasks)."""

    department_id: str
    department_name: LocalizedText
    open: int


class Overview(Message):
    """The live picture: queues per service, clerks and active sessions."""

    generated_at: datetime
    queues: list[QueueFigure]
    clerks: list[ClerkFigure]
    sessions: list[LiveSessionFigure]
    # open callback tasks per department (signaling/callbacks.py), most first
    callbacks: list[CallbackFigure] = Field(default_factory=list)


class ServiceLevelRow(Message):
    """Service-level figures of one service (or of all, with ``service_id`` None)."""

    service_id: str | None
    requests: int
    answered: int
    abandoned: int
    # average speed of answer: request to clerk's accept, over answered sessions
    asa_s: float | None
    # abandoned / (answered + abandoned): the applicant gave up before a clerk answered
    abandonment_rate: float | None
    # answered within target_s / (answered + abandoned)
    within_target_rate: float | None


class ServiceLevel(Message):
    """Figures over [since, until) with the answer-time target they were measured against."""

    since: datetime
    until: datetime
    target_s: int
    total: ServiceLevelRow
    services: list[ServiceLevelRow]


class SessionSummary(Message):
    """One row of a session search."""

    id: str
    service_id: str
    terminal_name: str
    clerk: str | None
    language: str
    state: str
    end_reason: str | None
    created_at: datetime
    ended_at: datetime | None
    care_mode: bool
    rating: int | None
    recorded: bool
    acceptance_number: str | None = None
    decision: str | None = None


class SessionSearch(Message):
    """The sessions that match a search, newest first."""

    sessions: list[SessionSummary]
    truncated: bool


class TimelineEvent(Message):
    """One audited event placed on the replay timeline (``t_s`` since the recording's t0)."""

    seq: int
    kind: str
    actor: str
    created_at: datetime
    t_s: float | None
    payload: dict[str, Any]
    # files the event names (documents, thumbnails, signed PDFs) the page can open
    files: list[str] = Field(default_factory=list)


class RecordingSide(Message):
    """One side of the recording: its segments' extent on the session's timeline."""

    side: Literal["applicant", "clerk", "document"]
    segments: int
    start_s: float
    end_s: float
    url: str


class ReplayView(Message):
    """All a replay page needs: the session, its timeline and both recordings."""

    session: SessionSummary
    t0: float | None
    events: list[TimelineEvent]
    recordings: list[RecordingSide]
    chain_ok: bool
    chain_problem: str | None
    watched_by: list[str]
    # sha256 -> a signed, short-lived link that opens the file (no token in the URL)
    file_links: dict[str, str] = Field(default_factory=dict)


class WallboardQueue(Message):
    """One service's line on the wallboard."""

    service_id: str
    department_id: str
    service_name: LocalizedText
    waiting: int
    # since when the longest waiter waits (the page counts the seconds itself)
    oldest_enqueued_at: datetime


class WallboardClerks(Message):
    """How many clerks are in each state (signed-in consoles only; offline not counted)."""

    available: int = 0
    ringing: int = 0
    busy: int = 0
    away: int = 0


class WallboardView(Message):
    """What a hall or team display shows: pushed whenever it changes."""

    generated_at: datetime
    # the one department shown, or None for every department
    department_id: str | None
    department_name: LocalizedText | None
    queues: list[WallboardQueue]
    waiting: int
    oldest_enqueued_at: datetime | None
    calls_in_progress: int
    clerks: WallboardClerks
    # today so far (UTC day), against the answer-time target
    target_s: int
    answered_today: int
    abandoned_today: int
    within_target_rate: float | None


class ClerkWorkFigure(Message):
    """One clerk's time over a period, in seconds; occupancy = (talk + wrap-up) / (on duty -
    away), None with no time available for calls."""

    clerk_id: int
    username: str
    display_name: str
    on_duty_s: float
    talk_s: float
    wrap_up_s: float
    away_s: dict[str, float]
    calls: int
    occupancy: float | None


class ServiceWorkFigure(Message):
    """One service's calls over a period and their average talk, wrap-up and handling time."""

    service_id: str
    service_name: LocalizedText | None
    calls: int
    average_talk_s: float
    average_wrap_up_s: float
    average_handling_s: float


class WorkFigures(Message):
    """``GET /api/supervisor/work`` and ``vcounter report work --json``."""

    since: datetime
    until: datetime
    clerks: list[ClerkWorkFigure]
    services: list[ServiceWorkFigure]
