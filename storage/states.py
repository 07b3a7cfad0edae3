"""The two state machines of routing, explicit: which state may follow which.

Every change of a session's or a clerk's state in the store goes through :func:`move_session`
or :func:`move_clerk`, which check the table below and raise :class:`IllegalMove` naming
both states; the conditional updates in :mod:`storage.routing` then make the change happen
only if the row is still in the state the move started from.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from storage.errors import StorageError
from storage.models import CallSession, ClerkPresence

if TYPE_CHECKING:
    from storage.rows import Record

log = logging.getLogger(__name__)

SESSION_TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"offered", "cancelled", "failed"}),
    "offered": frozenset({"queued", "connecting", "cancelled", "failed"}),
    # connecting/in_call -> queued: a clerk transferred the call (storage.routing.transfer)
    "connecting": frozenset({"in_call", "queued", "ended", "failed"}),
    "in_call": frozenset({"queued", "ended", "failed"}),
    # a session without a clerk (storage/self_service.py): never queued, it just ends
    "self_service": frozenset({"ended", "failed"}),
    "ended": frozenset(),
    "cancelled": frozenset(),
    "failed": frozenset(),
}

CLERK_TRANSITIONS: dict[str, frozenset[str]] = {
    "offline": frozenset({"away"}),
    # away -> wrap_up: a clerk who stepped away during a call still files its disposition
    "away": frozenset({"available", "offline", "wrap_up"}),
    "available": frozenset({"away", "ringing", "consulting", "offline"}),
    # ringing -> away: an unanswered offer parks the clerk so calls stop ringing at an empty desk
    "ringing": frozenset({"busy", "available", "away", "offline"}),
    # busy -> available: when wrap-up is switched off (wrap_up_s = 0)
    "busy": frozenset({"available", "away", "offline", "wrap_up"}),
    # out of wrap-up only by filing the call's disposition (or signing off)
    "wrap_up": frozenset({"available", "away", "offline"}),
    # consulting: asked by the clerk of a call about it (a warm transfer); never rung by the
    # matcher; busy when the call is handed over to them
    "consulting": frozenset({"available", "busy", "away", "offline"}),
}


class IllegalMove(StorageError):
    """A state change the machine does not allow."""

    code = "illegal_transition"


def check_session(session_id: str, old: str, new: str) -> None:
    """Raise :class:`IllegalMove` unless a session may go from ``old`` to ``new``."""
    if new not in SESSION_TRANSITIONS[old]:
        allowed = sorted(SESSION_TRANSITIONS[old]) or "nowhere"
        raise IllegalMove(
            f'Cannot move session {session_id} from "{old}" to "{new}"; '
            f"from {old} it can only go to {allowed}"
        )


def check_clerk(clerk: str, old: str, new: str) -> None:
    """Raise :class:`IllegalMove` unless a clerk may go from ``old`` to ``new``."""
    if new != old and new not in CLERK_TRANSITIONS[old]:
        raise IllegalMove(
            f'Cannot change clerk {clerk} from "{old}" to "{new}"'
            + ("; hang up first" if old == "busy" else "")
            + ("; file the call's disposition first" if old == "wrap_up" else "")
        )


def move_session(row: CallSession | Record, new: str) -> str:
    """Set ``row.state`` to ``new`` if the table allows it; returns the old state."""
    old = row.state
    check_session(row.id, old, new)
    row.state = new
    log.info("session %s: %s -> %s", row.id, old, new)
    return old


def move_clerk(row: ClerkPresence | Record, new: str) -> str:
    """Set ``row.state`` to ``new`` if the table allows it; returns the old state."""
    old = row.state
    check_clerk(str(row.clerk_id), old, new)
    row.state = new
    return old
