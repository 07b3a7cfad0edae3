"""State machines refuse illegal transitions with a message naming both states."""

from __future__ import annotations

import pytest

from storage.models import CallSession, ClerkPresence
from storage.states import (
    CLERK_TRANSITIONS,
    SESSION_TRANSITIONS,
    IllegalMove,
    move_clerk,
    move_session,
)


def _session(state: str = "queued") -> CallSession:
    return CallSession(id="a" * 32, terminal_id=1, service_id="s", language="en", state=state)


def test_session_happy_path() -> None:
    s = _session()
    for state in ("offered", "connecting", "in_call", "ended"):
        move_session(s, state)
    assert s.state == "ended"


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (a, b)
        for a in SESSION_TRANSITIONS
        for b in SESSION_TRANSITIONS
        if b not in SESSION_TRANSITIONS[a]
    ],
)
def test_every_illegal_session_transition_raises(start: str, target: str) -> None:
    s = _session(start)
    with pytest.raises(IllegalMove, match=f'from "{start}" to "{target}"'):
        move_session(s, target)
    assert s.state == start


def test_terminal_states_are_final() -> None:
    for final in ("ended", "cancelled", "failed"):
        assert SESSION_TRANSITIONS[final] == frozenset()


def test_clerk_cannot_go_away_and_back_mid_call_silently() -> None:
    c = ClerkPresence(clerk_id=1, state="offline")
    move_clerk(c, "away")
    with pytest.raises(IllegalMove, match='"away" to "busy"'):
        move_clerk(c, "busy")
    move_clerk(c, "available")
    move_clerk(c, "ringing")
    move_clerk(c, "busy")
    assert "ringing" not in CLERK_TRANSITIONS["busy"]
    with pytest.raises(IllegalMove, match="hang up first"):
        move_clerk(c, "ringing")


def test_a_clerk_in_wrap_up_is_never_rung_and_leaves_it_only_by_filing_or_signing_off() -> None:
    c = ClerkPresence(clerk_id=1, state="busy")
    move_clerk(c, "wrap_up")
    for target in ("ringing", "busy"):
        with pytest.raises(IllegalMove, match="file the call's disposition first"):
            move_clerk(c, target)
    assert CLERK_TRANSITIONS["wrap_up"] == {"available", "away", "offline"}
    assert "wrap_up" not in CLERK_TRANSITIONS["available"]
    assert "wrap_up" not in CLERK_TRANSITIONS["ringing"]
