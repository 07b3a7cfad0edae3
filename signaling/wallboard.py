"""The wallboard: a hall or team display of the queues and clerks, pushed as it changes.

``GET /api/wallboard/stream`` (a supervisor's token in the ``Authorization`` header, never in
the URL; ``?department=ID`` for one department's board) answers with a ``text/event-stream``
that stays open: a ``view`` event at once, another whenever what the board shows changes,
and a comment line every :data:`KEEPALIVE_S` so that proxies keep an idle stream open.

One computation per process serves every board open on it: it reads the store every
:data:`TICK_S` (what other processes change is seen there) and soon after this process's
router changes a queue. A view names since when the longest waiter waits, not for how long,
so it changes only when something happens; the page counts the seconds itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from signaling.catalogue import Catalogue
from signaling.http_auth import clerk_of, http_error
from signaling.keys import CATALOGUE, DATABASE
from signaling.service_level import sessions_between, summarise
from signaling.supervisor_messages import WallboardClerks, WallboardQueue, WallboardView
from storage import presence, routing
from storage.db import Database
from storage.staff_audit import StaffLog

log = logging.getLogger(__name__)

SUPERVISOR = "supervisor"
# how often the store is read while a board is open: a change another process made shows
# within this (the issue asks for a second)
TICK_S = 0.5
# how long a local change waits for the rest of its burst (a request opens, routes, rings)
COALESCE_S = 0.05
# a comment line this often keeps proxies (HAProxy's `timeout server`) from closing the stream
KEEPALIVE_S = 15.0
# A stream ends after this long and the page opens it again: the sign-in is checked at the
# start of each (a disabled account or a revoked token stops the board within this)
STREAM_MAX_S = 600.0
# today's service level is read again when a session starts, is answered or ends, and at
# least this often (a session that ended on another process in the meantime)
LEVEL_FRESH = timedelta(seconds=30)
# the answer-time target of the board's service level, as the supervisor's figures default
TARGET_S = 60

WALLBOARD: web.AppKey[WallboardHub] = web.AppKey("wallboard")


def _comparable(view: WallboardView) -> dict[str, Any]:
    return view.model_dump(exclude={"generated_at"})


def _offer(queue: asyncio.Queue[WallboardView | None], view: WallboardView | None) -> None:
    # a board needs only the newest view: one that reads slowly (a stalled display) keeps
    # one, not every view since it stalled
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(view)


class WallboardHub:
    """Every wallboard open on this process, and the one task that feeds them."""

    def __init__(self, db: Callable[[], Database], catalogue: Catalogue) -> None:
        self._db = db
        self.catalogue = catalogue
        # None in a queue tells its board to end (the server is stopping)
        self._boards: dict[str | None, set[asyncio.Queue[WallboardView | None]]] = {}
        self._last: dict[str | None, WallboardView] = {}
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._level: tuple[frozenset[tuple[str, str]], datetime, list[Any]] | None = None

    def nudge(self) -> None:
        """Something changed here: recompute soon."""
        self._wanted.set()

    @contextlib.asynccontextmanager
    async def board(
        self, department_id: str | None
    ) -> AsyncIterator[asyncio.Queue[WallboardView | None]]:
        """A queue of views for one open board, its first view already in it."""
        queue: asyncio.Queue[WallboardView | None] = asyncio.Queue(maxsize=1)
        self._boards.setdefault(department_id, set()).add(queue)
        try:
            last = self._last.get(department_id)
            if last is None:
                last = (await self._compute([department_id]))[department_id]
                self._last[department_id] = last
            _offer(queue, last)
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._run())
            yield queue
        finally:
            boards = self._boards.get(department_id, set())
            boards.discard(queue)
            if not boards:
                self._boards.pop(department_id, None)
                self._last.pop(department_id, None)

    async def close(self) -> None:
        """End every open board and the feeding task (at shutdown)."""
        for boards in self._boards.values():
            for queue in boards:
                _offer(queue, None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while self._boards:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wanted.wait(), TICK_S)
            await asyncio.sleep(COALESCE_S)
            self._wanted.clear()
            try:
                views = await self._compute(list(self._boards))
            except Exception:  # the database briefly away: the next tick tries again
                log.exception("wallboard round failed")
                continue
            for department_id, view in views.items():
                last = self._last.get(department_id)
                if last is not None and _comparable(last) == _comparable(view):
                    continue
                self._last[department_id] = view
                for queue in self._boards.get(department_id, ()):
                    _offer(queue, view)

    async def _today(self, active: list[routing.SessionSnap], now: datetime) -> list[Any]:
        signature = frozenset((s.id, s.state) for s in active)
        if self._level is None or self._level[0] != signature or now - self._level[1] > LEVEL_FRESH:
            midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
            rows = await sessions_between(self._db(), midnight, now + timedelta(seconds=1))
            self._level = (signature, now, rows)
        return self._level[2]

    async def _compute(self, departments: list[str | None]) -> dict[str | None, WallboardView]:
        now = datetime.now(UTC)
        db = self._db()
        active = await routing.active_sessions(db)
        clerks = await presence.snapshots(db)
        today = await self._today(active, now)
        return {d: self._view(d, active, clerks, today, now) for d in departments}

    def _view(
        self,
        department_id: str | None,
        active: list[routing.SessionSnap],
        clerks: list[routing.ClerkSnap],
        today: list[Any],
        now: datetime,
    ) -> WallboardView:
        def ours(dept: str) -> bool:
            return department_id is None or dept == department_id

        waiting: dict[str, list[routing.SessionSnap]] = {}
        for s in active:
            if s.state in routing.WAITING_STATES and ours(s.department_id):
                waiting.setdefault(s.service_id, []).append(s)
        queues = [
            WallboardQueue(
                service_id=sid,
                department_id=items[0].department_id,
                service_name=self.catalogue.service(sid).names,
                waiting=len(items),
                oldest_enqueued_at=min(s.enqueued_at or s.created_at for s in items),
            )
            for sid, items in waiting.items()
        ]
        # the longest lines first, and of equal ones the longest-waiting: what a hall looks for
        queues.sort(key=lambda q: (-q.waiting, q.oldest_enqueued_at, q.service_id))
        counts = dict.fromkeys(("available", "ringing", "busy", "away"), 0)
        for c in clerks:
            # a clerk in wrap-up is still on their last call (its disposition): counted busy,
            # so the board's counts add up without another box on a full screen
            state = "busy" if c.state == "wrap_up" else c.state
            if (
                c.connected
                and state in counts
                and (department_id is None or department_id in c.departments)
            ):
                counts[state] += 1
        services = {
            s.id
            for s in self.catalogue.services
            if department_id is None or s.department_id == department_id
        }
        level = summarise(None, [r for r in today if r.service_id in services], TARGET_S)
        department = (
            next((d for d in self.catalogue.departments if d.id == department_id), None)
            if department_id is not None
            else None
        )
        return WallboardView(
            generated_at=now,
            department_id=department_id,
            department_name=department.names if department is not None else None,
            queues=queues,
            waiting=sum(q.waiting for q in queues),
            oldest_enqueued_at=min((q.oldest_enqueued_at for q in queues), default=None),
            calls_in_progress=sum(
                1 for s in active if s.state in routing.CALL_STATES and ours(s.department_id)
            ),
            clerks=WallboardClerks(**counts),
            target_s=TARGET_S,
            answered_today=level.answered,
            abandoned_today=level.abandoned,
            within_target_rate=level.within_target_rate,
        )


def _event(view: WallboardView) -> bytes:
    return f"event: view\ndata: {view.model_dump_json(by_alias=True)}\n\n".encode()


async def stream(request: web.Request) -> web.StreamResponse:
    """The board's views as server-sent events, for as long as the page keeps it open."""
    who = await clerk_of(request, SUPERVISOR)
    catalogue = request.app[CATALOGUE]
    department_id = request.query.get("department") or None
    known = [d.id for d in catalogue.departments]
    if department_id is not None and department_id not in known:
        raise http_error(
            web.HTTPBadRequest,
            "invalid_query",
            f"department={department_id!r} is not a department; give one of {', '.join(known)}"
            " or none for every department",
        )
    await StaffLog(request.app[DATABASE]).append(
        f"supervisor:{who.username}", "wallboard.opened", {"department_id": department_id}
    )
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            # nginx would otherwise hold the events back in its buffer
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    hub = request.app[WALLBOARD]
    loop = asyncio.get_running_loop()
    ends_at = loop.time() + STREAM_MAX_S
    async with hub.board(department_id) as views:
        while (left := ends_at - loop.time()) > 0:
            try:
                view = await asyncio.wait_for(views.get(), min(KEEPALIVE_S, left))
            except TimeoutError:
                await response.write(b": still here\n\n")
                continue
            if view is None:
                break
            await response.write(_event(view))
    # a page that goes away ends the loop above by the write that fails
    return response


def setup_wallboard(app: web.Application) -> None:
    """Mount the board's stream; its hub (``app[WALLBOARD]``) is nudged by the router and
    closed at shutdown."""
    app[WALLBOARD] = WallboardHub(lambda: app[DATABASE], app[CATALOGUE])
    app.router.add_get("/api/wallboard/stream", stream)
