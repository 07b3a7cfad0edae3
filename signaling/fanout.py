"""Queue positions for the kiosks this process holds, computed from one consistent snapshot.

A queue change only *nudges* the notifier; it runs in its own task, reads the active
sessions and the clerks once, and sends each local kiosk its position and estimate only when
they differ from what it was last told (far back in line, at most every few seconds: see
``is_news``). The cost is one read plus a message per kiosk whose
place really changed, never one per waiting kiosk per change, and never inside the handler
that caused the change. A tick catches changes made by other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from signaling.catalogue import Catalogue
from signaling.messages import ClerkState, Event, QueueStatus, Role, SessionState
from signaling.rooms import Emitter
from storage import presence, routing
from storage.db import Database
from storage.routing import QueueEntry

log = logging.getLogger(__name__)

# floor for a call in progress's remaining time: it may end any moment, but not at once
MIN_REMAINING_S = 30.0
# how many recent calls of a department make its typical handling time
HANDLING_SAMPLE = 20
# how long the recent call lengths are reused before they are read again
HANDLING_FRESH = timedelta(seconds=5)
# how long a nudge waits for the rest of its burst of changes before the round reads them
COALESCE_S = 0.05
# how many places are sent before the round lets other work run: each send is a socket write
# (~0.1 ms under load), and a call's messages wait behind a whole chunk
YIELD_EVERY = 16
# The first places in line see every move at once. Further back a place changes on nearly
# every round under load (2,000 waiting: a message a second to each, four in five of all
# messages the servers sent and the kiosks read), yet "number 843" becoming "number 838" is
# not news worth a message a second: those places are refreshed at most every DEEP_REFRESH_S.
NEAR_PLACES = 10
DEEP_REFRESH_S = 5.0


class Place(NamedTuple):
    """What a waiting kiosk is told: its place, and how long it may wait (a tuple: thousands
    are made every round, and a frozen dataclass's were a third of the round's time)."""

    position: int
    state: str
    estimated_wait_s: int | None
    clerks_on_duty: int
    version: int


def estimate_waits(
    waiting: list[QueueEntry],
    busy_elapsed_s: list[float],
    free_clerks: int,
    handle_s: float,
) -> list[int]:
    """Seconds until each waiting session (in queue order) is answered, on these clerks."""
    clerks = [0.0] * free_clerks + [max(MIN_REMAINING_S, handle_s - e) for e in busy_elapsed_s]
    if not clerks:
        return []
    heapq.heapify(clerks)
    waits = []
    for _ in waiting:
        start = heapq.heappop(clerks)
        # whole minutes, as the kiosk shows them: a wait that only ticks down a second is
        # not news worth a message to every waiting kiosk
        waits.append(math.ceil(start / 60.0) * 60)
        heapq.heappush(clerks, start + handle_s)
    return waits


def is_news(last: Place | None, place: Place, since_sent_s: float) -> bool:
    """Whether a kiosk told ``last`` (``since_sent_s`` ago) is sent ``place`` now."""
    if last is None:
        return True
    if last == place:
        return False
    if place.position <= NEAR_PLACES or place.state != last.state or place.version != last.version:
        return True
    if (place.clerks_on_duty == 0) != (last.clerks_on_duty == 0):
        return True  # nobody on duty, or somebody back: the kiosk's words change
    return since_sent_s >= DEEP_REFRESH_S


_QUEUED, _OFFERED = SessionState.QUEUED.value, SessionState.OFFERED.value
_AVAILABLE = ClerkState.AVAILABLE.value
# a clerk in wrap-up is on duty: their next call follows it (a kiosk whose only clerk is
# filing a disposition is not told that nobody is there)
_ON_DUTY = frozenset(
    s.value for s in (ClerkState.AVAILABLE, ClerkState.RINGING, ClerkState.BUSY, ClerkState.WRAP_UP)
)


def places(
    sessions: list[QueueEntry],
    clerks: list[routing.ClerkSnap],
    handling: dict[str, list[float]],
    catalogue: Catalogue,
    now: datetime,
    wanted: Collection[str] | None = None,
) -> dict[str, Place]:
    """The place of every waiting session (of those in ``wanted``, when given), by
    department, from one snapshot."""
    # states as plain strings, compared thousands of times a round (an enum member's lookup
    # and comparison cost more than the rest of the loop)
    by_dept: dict[str, list[QueueEntry]] = {}
    busy: dict[str, list[float]] = {}
    offered: list[QueueEntry] = []
    for s in sessions:
        if s.state == _QUEUED:
            by_dept.setdefault(s.department_id, []).append(s)
        elif s.state == _OFFERED:
            offered.append(s)
        elif s.answered_at is not None and s.in_call:
            busy.setdefault(s.department_id, []).append((now - s.answered_at).total_seconds())
    free: dict[str, int] = {}
    on_duty: dict[str, int] = {}
    for c in clerks:
        if not c.connected or c.state not in _ON_DUTY:
            continue
        for dept in c.departments:
            on_duty[dept] = on_duty.get(dept, 0) + 1
            if c.state == _AVAILABLE:
                free[dept] = free.get(dept, 0) + 1
    out: dict[str, Place] = {}
    for s in offered:
        out[s.id] = Place(0, s.state, 0, on_duty.get(s.department_id, 0), s.version)
    for dept, waiting in by_dept.items():
        duty = on_duty.get(dept, 0)
        recent = handling.get(dept, [])[:HANDLING_SAMPLE]
        if recent:
            handle = sum(recent) / len(recent)
        else:
            handle = catalogue.service(waiting[0].service_id).typical_minutes * 60.0
        in_calls = busy.get(dept, [])
        # clerks ringing (or busy with another department's call) count as just started
        others = max(0, duty - free.get(dept, 0) - len(in_calls))
        waits = (
            estimate_waits(waiting, in_calls + [0.0] * others, free.get(dept, 0), handle)
            if duty
            else []
        )
        for i, s in enumerate(waiting):
            if wanted is None or s.id in wanted:
                # another process's kiosks only count here: no place made for them
                out[s.id] = Place(i + 1, s.state, waits[i] if duty else None, duty, s.version)
    return out


class QueueNotifier:
    """Sends the kiosks of this process their place when it changes (see module docstring)."""

    def __init__(
        self,
        db: Database,
        emitter: Emitter,
        catalogue: Catalogue,
        local_terminals: Callable[[], dict[int, str]],
        tick_s: float = 1.0,
        min_interval_s: float = 1.0,
        callback_offer_after_s: float | None = None,
    ) -> None:
        self.db = db
        # None: callbacks are not offered (a process without the setting)
        self.callback_offer_after_s = callback_offer_after_s
        self.emitter = emitter
        self.catalogue = catalogue
        self.local_terminals = local_terminals
        self.tick_s = tick_s
        self.min_interval_s = min_interval_s
        self._wanted = asyncio.Event()
        # what each kiosk was last told, and when (monotonic)
        self._last: dict[str, tuple[Place, float]] = {}
        self._handling: tuple[datetime, dict[str, list[float]]] | None = None
        self.sent = 0

    def nudge(self) -> None:
        """Something changed: recompute soon."""
        self._wanted.set()

    def forget(self, session_id: str) -> None:
        """Send this session's place again next time (its kiosk reconnected)."""
        self._last.pop(session_id, None)

    def offers_callback(self, place: Place) -> bool:
        """Whether a kiosk at ``place`` may leave a phone number instead of waiting: still in
        line, and nobody is on duty or the estimate is past the setting."""
        limit = self.callback_offer_after_s
        if limit is None or place.state != _QUEUED:
            return False
        wait = place.estimated_wait_s
        return place.clerks_on_duty == 0 or wait is None or wait > limit

    async def run(self) -> None:
        """Recompute on every nudge (coalesced) and on every tick, until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wanted.wait(), self.tick_s)
            # a burst of changes (one request opens, routes and offers) makes one snapshot
            await asyncio.sleep(COALESCE_S)
            self._wanted.clear()
            try:
                await self.flush()
            except Exception:  # one failed round must not end the notifier
                log.exception("queue positions round failed")
            # at most one round a second: under load nearly every waiting kiosk's place
            # changes between rounds, so each round is a message to most of them (four rounds
            # a second were four messages a second to every waiting kiosk). Resting after the
            # round, not before it, keeps the first news after a quiet spell prompt.
            await asyncio.sleep(self.min_interval_s)

    async def flush(self) -> int:
        """Compute every place from one snapshot and send those that changed; returns sent."""
        local = dict(self.local_terminals())
        sessions = await routing.queue_entries(self.db)
        mine = [s for s in sessions if s.terminal_id in local]
        if not mine:
            self._last.clear()
            return 0
        clerks = await presence.snapshots(self.db)
        now = datetime.now(UTC)
        if self._handling is None or now - self._handling[0] > HANDLING_FRESH:
            # call lengths change slowly and the estimate is in whole minutes: every few
            # seconds is often enough, not on every round
            self._handling = (now, await routing.recent_handling_s(self.db))
        handling = self._handling[1]
        await asyncio.sleep(0)  # the reads' decoding was a chunk of its own
        found = places(sessions, clerks, handling, self.catalogue, now, {s.id for s in mine})
        # reading and placing 2,000 sessions is a chunk of the loop's time (10-25 ms with the
        # sends that followed in one go under load, measured): calls' messages go first
        await asyncio.sleep(0)
        sent = 0
        alive: set[str] = set()
        clock = time.monotonic()
        for s in mine:
            place = found.get(s.id)
            if place is None:
                continue
            alive.add(s.id)
            told, told_at = self._last.get(s.id, (None, 0.0))
            if not is_news(told, place, clock - told_at):
                continue
            self._last[s.id] = (place, clock)
            status = QueueStatus(
                session_id=s.id,
                service_id=s.service_id,
                position=place.position,
                state=SessionState(place.state),
                estimated_wait_s=place.estimated_wait_s,
                clerks_on_duty=place.clerks_on_duty,
                version=place.version,
                callback_offered=self.offers_callback(place),
            )
            sid = local.get(s.terminal_id)
            if sid is not None:
                await self.emitter.to_local(Role.TERMINAL, sid, Event.QUEUE_STATUS, status)
                sent += 1
                if sent % YIELD_EVERY == 0:
                    # a local send queues without yielding: let calls' messages through
                    # between chunks, or a round for 2,000 kiosks holds every relay up
                    await asyncio.sleep(0)
        for gone in set(self._last) - alive:
            del self._last[gone]
        self.sent += sent
        return sent
