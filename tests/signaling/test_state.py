"""State machines refuse illegal transitions with a message naming both states."""

from __future__ import annotations

import pytest

from signaling.catalogue import load_catalogue
from signaling.errors import IllegalTransition
from signaling.messages import ClerkState, SessionState
from signaling.state import CLERK_TRANSITIONS, SESSION_TRANSITIONS, LiveClerk, LiveSession


def _session() -> LiveSession:
    service = load_catalogue().services[0]
    return LiveSession("a" * 32, 1, "k", "sid", service, "en")


def test_session_happy_path() -> None:
    s = _session()
    for state in (
        SessionState.OFFERED,
        SessionState.CONNECTING,
        SessionState.IN_CALL,
        SessionState.ENDED,
    ):
        s.set_state(state)
    assert not s.active


@pytest.mark.parametrize(
    ("start", "target"),
    [(a, b) for a in SessionState for b in SessionState if b not in SESSION_TRANSITIONS[a]],
)
def test_every_illegal_session_transition_raises(start: SessionState, target: SessionState) -> None:
    s = _session()
    s.state = start
    with pytest.raises(IllegalTransition, match=f'from "{start}" to "{target}"'):
        s.set_state(target)
    assert s.state == start


def test_terminal_states_are_final() -> None:
    for final in (SessionState.ENDED, SessionState.CANCELLED, SessionState.FAILED):
        assert SESSION_TRANSITIONS[final] == frozenset()


def test_clerk_cannot_go_away_and_back_mid_call_silently() -> None:
    c = LiveClerk(1, "alice", "Alice", frozenset({"tax"}))
    c.set_state(ClerkState.AWAY)
    with pytest.raises(IllegalTransition, match='"away" to "busy"'):
        c.set_state(ClerkState.BUSY)
    c.set_state(ClerkState.AVAILABLE)
    c.set_state(ClerkState.RINGING)
    c.set_state(ClerkState.BUSY)
    assert ClerkState.RINGING not in CLERK_TRANSITIONS[ClerkState.BUSY]
    with pytest.raises(IllegalTransition, match="hang up first"):
        c.set_state(ClerkState.RINGING)
