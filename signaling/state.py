"""Live state of sessions and clerks, each an explicit state machine.

A state changes only through ``set_state``, which checks the transition table, logs
``old -> new`` and returns the old state so the caller can record the event. An illegal
transition raises :class:`IllegalTransition` naming both states.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from signaling.catalogue import Service
from signaling.errors import IllegalTransition
from signaling.logs import context_log
from signaling.messages import (
    ClerkState,
    IceServer,
    Language,
    SessionDescription,
    SessionState,
)

log = logging.getLogger(__name__)

S = SessionState
SESSION_TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    S.QUEUED: frozenset({S.OFFERED, S.CANCELLED, S.FAILED}),
    S.OFFERED: frozenset({S.QUEUED, S.CONNECTING, S.CANCELLED, S.FAILED}),
    S.CONNECTING: frozenset({S.IN_CALL, S.ENDED, S.FAILED}),
    S.IN_CALL: frozenset({S.ENDED, S.FAILED}),
    S.ENDED: frozenset(),
    S.CANCELLED: frozenset(),
    S.FAILED: frozenset(),
}
ACTIVE_SESSION_STATES = frozenset({S.QUEUED, S.OFFERED, S.CONNECTING, S.IN_CALL})

C = ClerkState
CLERK_TRANSITIONS: dict[ClerkState, frozenset[ClerkState]] = {
    C.OFFLINE: frozenset({C.AWAY}),
    C.AWAY: frozenset({C.AVAILABLE, C.OFFLINE}),
    C.AVAILABLE: frozenset({C.AWAY, C.RINGING, C.OFFLINE}),
    # RINGING -> AWAY: an unanswered offer parks the clerk so calls stop ringing at an empty desk.
    C.RINGING: frozenset({C.BUSY, C.AVAILABLE, C.AWAY, C.OFFLINE}),
    C.BUSY: frozenset({C.AVAILABLE, C.AWAY, C.OFFLINE}),
}


@dataclass
class LiveSession:
    """A session while it is active: who is in it, which service, how far it got."""

    id: str
    terminal_id: int
    terminal_name: str
    terminal_sid: str
    service: Service
    language: Language
    state: SessionState = SessionState.QUEUED
    enqueued_at: float = field(default_factory=time.monotonic)
    clerk_id: int | None = None
    declined_by: set[int] = field(default_factory=set)
    media_connected: set[str] = field(default_factory=set)
    care_mode: bool = False
    step: int = 1
    # minted once per session at the request; the terminal's offer uses them before an accept
    ice_servers: list[IceServer] = field(default_factory=list)
    # the terminal's offer, made while it waits; handed to the clerk who accepts
    early_offer: SessionDescription | None = None
    # the ringing clerk who already has that offer (in call_offered or relayed while ringing)
    offer_shown_to: int | None = None

    def queue_key(self) -> tuple[bool, float]:
        """Order in the queue: care-mode applicants first, then first come, first served."""
        return (not self.care_mode, self.enqueued_at)

    def set_state(self, new: SessionState) -> SessionState:
        """Move to ``new`` if the table allows it; returns the old state."""
        old = self.state
        if new not in SESSION_TRANSITIONS[old]:
            raise IllegalTransition(
                f'Cannot move session {self.id} from "{old}" to "{new}"; '
                f"from {old} it can only go to {sorted(SESSION_TRANSITIONS[old]) or 'nowhere'}"
            )
        self.state = new
        context_log(log, self.id, "server").info("session %s -> %s", old, new)
        return old

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_SESSION_STATES

    def waited_s(self) -> float:
        return time.monotonic() - self.enqueued_at


@dataclass
class LiveClerk:
    """A signed-in clerk: the socket they are on and what they are doing."""

    id: int
    username: str
    display_name: str
    departments: frozenset[str]
    sid: str | None = None
    state: ClerkState = ClerkState.OFFLINE
    idle_since: float = field(default_factory=time.monotonic)
    session_id: str | None = None
    # when the current state began, for the supervisors' "time in state"
    state_since: float = field(default_factory=time.monotonic)

    def set_state(self, new: ClerkState) -> ClerkState:
        """Move to ``new`` if the table allows it; returns the old state."""
        old = self.state
        if new == old:
            return old
        if new not in CLERK_TRANSITIONS[old]:
            raise IllegalTransition(
                f'Cannot change clerk {self.username} from "{old}" to "{new}"'
                + ("; hang up first" if old == ClerkState.BUSY else "")
            )
        self.state = new
        self.state_since = time.monotonic()
        if new == ClerkState.AVAILABLE:
            self.idle_since = time.monotonic()
        context_log(log, self.session_id, f"clerk:{self.username}").info("clerk %s -> %s", old, new)
        return old
