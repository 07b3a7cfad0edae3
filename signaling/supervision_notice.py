"""What the applicant is told of the supervisors in their call, read from the session's chain.

The chain is the one record every process shares: two supervisors on two processes, one
leaving while the other still barges, or a kiosk that reconnects in the middle of a barge all
get the notice from the same events (``supervision.started`` / ``.changed`` / ``.ended``, each
naming its monitor).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from signaling.catalogue import Catalogue
from signaling.messages import SupervisionNotice, SupervisorInfo
from storage.audit import AuditLog
from storage.db import Database
from storage.models import SessionEvent


@dataclass(frozen=True)
class Present:
    """A monitor the chain has started and not ended."""

    monitor: str  # the nonce of its ticket
    actor: str  # "supervisor:USERNAME"
    who: SupervisorInfo
    mode: str
    process: str  # the server process holding the supervisor's socket


def present_monitors(events: Iterable[SessionEvent]) -> list[Present]:
    """The monitors in the call now, in the order they came."""
    by_monitor: dict[str, Present] = {}
    for event in events:
        payload: dict[str, Any] = event.payload
        monitor = str(payload.get("monitor", event.actor))
        if event.kind == "supervision.started":
            who = SupervisorInfo(name=str(payload.get("name", "")), role="supervisor")
            process = str(payload.get("process", ""))
            by_monitor[monitor] = Present(monitor, event.actor, who, str(payload["mode"]), process)
        elif event.kind == "supervision.changed" and monitor in by_monitor:
            by_monitor[monitor] = replace(by_monitor[monitor], mode=str(payload["mode"]))
        elif event.kind == "supervision.ended":
            by_monitor.pop(monitor, None)
    return list(by_monitor.values())


def notice(session_id: str, supervisors: list[Present], announce: bool) -> SupervisionNotice:
    """A barge is always shown; monitoring and whispering where the department announces it."""
    for one in supervisors:
        if one.mode == "barge":
            return SupervisionNotice(session_id=session_id, state="joined", supervisor=one.who)
    if announce and supervisors:
        who = supervisors[0].who
        return SupervisionNotice(session_id=session_id, state="monitored", supervisor=who)
    return SupervisionNotice(session_id=session_id, state="none")


async def notice_of(
    db: Database, catalogue: Catalogue, session_id: str, department_id: str
) -> SupervisionNotice:
    """The notice for the session's call as its chain stands now."""
    events = await AuditLog(db).events(session_id)
    announce = catalogue.department(department_id).announce_monitoring
    return notice(session_id, present_monitors(events), announce)
