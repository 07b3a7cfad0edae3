"""Messages of a supervisor in a live call: monitor, whisper and barge (issue 16).

The supervisor's page talks on the ``/supervisor`` namespace; the clerk's console relays the
call's media to it over a second peer connection it offers (the kiosk sends nothing more);
the kiosk is only told what its applicant must see.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictStr

from signaling.messages import (
    CLERK_EVENTS,
    SERVER_EVENTS,
    Event,
    IceCandidate,
    IcePolicy,
    IceServer,
    Message,
    SessionDescription,
    SessionId,
    SupervisorInfo,
)

# monitor: sees and hears both sides; whisper: also speaks to the clerk alone;
# barge: speaks to both (the console mixes the voice into what the kiosk hears)
MonitorMode = Literal["monitor", "whisper", "barge"]
MonitorId = StrictStr  # a signed ticket naming the monitor's parties (signaling/monitor.py)
# what each of the monitor's incoming tracks shows, by the m-line's mid in the console's offer
TrackRole = Literal["applicant", "clerk", "documents", "supervisor"]


class MonitorStart(Message):
    """Supervisor -> server: watch (and maybe speak into) a call in progress."""

    session_id: SessionId
    mode: MonitorMode = "monitor"


class MonitorChange(Message):
    """Supervisor -> server: switch between monitor, whisper and barge, or leave."""

    monitor_id: MonitorId = Field(max_length=512)
    mode: MonitorMode | None = None  # None: leave the call


class MonitorTrack(Message):
    mid: str = Field(max_length=16)
    role: TrackRole


class MonitorSignal(Message):
    """Either way between the console and the supervisor: an SDP or an ICE candidate."""

    monitor_id: MonitorId = Field(max_length=512)
    description: SessionDescription | None = None
    candidate: IceCandidate | None = None
    tracks: list[MonitorTrack] = Field(default_factory=list, max_length=8)


class Supervision(Message):
    """Server -> console: a supervisor started, changed or ended their presence in the call."""

    monitor_id: MonitorId
    session_id: SessionId
    supervisor: SupervisorInfo
    mode: MonitorMode | None  # None: they left
    ice_servers: list[IceServer] = Field(default_factory=list)


class MonitorState(Message):
    """Server -> supervisor: where their monitor stands (``ended`` with the reason)."""

    monitor_id: MonitorId
    session_id: SessionId
    mode: MonitorMode | None
    ended: str | None = None
    ice_servers: list[IceServer] = Field(default_factory=list)
    ice_policy: IcePolicy = "all"  # as the call's own: "relay" where only TURN gets through


# the console's socket carries its call and a supervisor's monitor of it, both ways
CONSOLE_EVENTS: dict[Event, type[Message]] = {**CLERK_EVENTS, Event.MONITOR_SIGNAL: MonitorSignal}
TO_CONSOLE_EVENTS: dict[Event, type[Message]] = {
    **SERVER_EVENTS,
    Event.SUPERVISION: Supervision,
    Event.MONITOR_SIGNAL: MonitorSignal,
}
