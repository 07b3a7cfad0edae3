"""Materials to follow (容缺受理): an application accepted without a non-essential material,
on the applicant's promise to bring it by a due date.

- **Defer** (:func:`defer`, the session's clerk, before the applicant signs): a material the
  catalogue marks ``may_follow`` is accepted "to follow" by a due date (the catalogue's
  ``follow_days`` or ``to_follow_days`` working days, at most ``to_follow_max_days``); an
  essential one is refused with a sentence. The receipt lists it with its date.
- **Waiting**: the decision waits: approval is refused while it is outstanding
  (:func:`signaling.paperwork.decisions.check_follow`); return and reject stay open.
- **Supply** (:func:`lookup`, :func:`supplied`, at any kiosk): the acceptance number and the
  ID re-check exactly as for a reprint (recorded as ``material.lookup``), then the scans of
  each outstanding material (``document.added``) and ``material.supplied``.
- **Sweep** (:class:`FollowSweep`): ``material.reminder_sent`` some days before the due date
  and ``material.lapsed`` after it, each once whichever process sweeps; after a lapse the
  application can only be returned or rejected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from signaling.appointment_desk import Clock
from signaling.checklist import fold as fold_documents
from signaling.complaints.numbers import due_date
from signaling.errors import InvalidMessage, NotYourSession
from signaling.logs import context_log
from signaling.messages import DocumentInfo
from signaling.paperwork import decisions as d
from signaling.paperwork.errors import (
    MaterialEssential,
    MaterialLapsed,
    NothingToFollow,
    NotReady,
)
from signaling.paperwork.follow_messages import DeferRequest, FollowItem
from signaling.paperwork.messages import ReprintRequest
from signaling.paperwork.reprint import reprint
from signaling.paperwork.service import ClerkInfo, Loaded, Paperwork
from signaling.settings import Settings
from storage import to_follow as store
from storage.audit import AuditLog
from storage.db import Database
from storage.to_follow import FollowConflict, FollowRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FollowRules:
    """Due dates and reminders, from the settings (see ``to_follow_*`` there)."""

    days: int
    max_days: int
    reminder_days: int
    holidays: tuple[date, ...]
    timezone: str

    @classmethod
    def of(cls, settings: Settings) -> FollowRules:
        return cls(
            settings.to_follow_days, settings.to_follow_max_days,
            settings.to_follow_reminder_days, tuple(settings.to_follow_holidays),
            settings.to_follow_timezone,
        )  # fmt: skip

    def today(self, now: datetime) -> date:
        return now.astimezone(ZoneInfo(self.timezone)).date()


async def defer(
    work: Paperwork, rules: FollowRules, session_id: str, clerk: ClerkInfo,
    request: DeferRequest, now: datetime,
) -> FollowItem:  # fmt: skip
    """Accept the application without ``request.material_id``, to follow by its due date."""
    loaded = await work.load(session_id)
    if loaded.row.clerk_id != clerk.id:
        raise NotYourSession(f"session {session_id} is not yours; open your own call")
    material = next((m for m in loaded.service.materials if m.id == request.material_id), None)
    if material is None:
        raise InvalidMessage(
            f"{loaded.service.id} needs no material {request.material_id!r}",
            field="material_id",
        )
    name = material.names.get("en")
    if not material.may_follow:
        raise MaterialEssential(
            f"{name} is essential for this service and cannot follow later; the application"
            " can be accepted only with it (ask the applicant to present it, or end the call"
            " and let them come back with it)"
        )
    if loaded.app.state not in (d.A.NONE, d.A.FORM_SHOWN):
        raise NotReady(
            f"the application of session {session_id} is {loaded.app.state}; a material can"
            " be marked to follow only before the applicant signs"
        )
    status = fold_documents(loaded.events).materials.get(material.id)
    if status is not None and status.status in ("received", "accepted"):
        raise NotReady(
            f"{name} has been received in this call; nothing is left to follow (reject it"
            " first if it is not the right document)"
        )
    days = request.days or material.follow_days or rules.days
    if days > rules.max_days:
        raise InvalidMessage(
            f"{days} working days is longer than the {rules.max_days} allowed for a material"
            f" to follow; give at most {rules.max_days}",
            field="days",
        )
    due = due_date(now, days, rules.holidays, rules.timezone)
    actor = f"clerk:{clerk.username}"
    await store.defer(
        work.db, session_id, material.id, loaded.service.department_id, due, actor,
        {"days": days, "clerk_id": clerk.id},
    )  # fmt: skip
    context_log(log, session_id, actor).info("%s to follow by %s", material.id, due)
    return FollowItem(
        material_id=material.id, names=material.names, due_on=due, state="outstanding"
    )


def _number(loaded: Loaded) -> str:
    return loaded.app.acceptance_number or loaded.row.id


def check_open(loaded: Loaded, material_id: str | None = None) -> list[d.ToFollow]:
    """The materials the applicant may bring now (only ``material_id`` if given); raises a
    sentence for the applicant when there is nothing to bring."""
    app, number = loaded.app, _number(loaded)
    wanted = [
        t for t in app.to_follow.values() if material_id is None or t.material_id == material_id
    ]
    outstanding = [t for t in wanted if t.state == "outstanding"]
    if app.state != d.A.SUBMITTED and outstanding:
        raise NothingToFollow(
            f"application {number} has been decided ({app.state}); nothing more can be"
            " brought for it here, ask at the counter"
        )
    if outstanding:
        return outstanding
    if lapsed := [t for t in wanted if t.state == "lapsed"]:
        raise MaterialLapsed(
            f"the material for application {number} was due on {lapsed[0].due_on}; that date"
            " has passed, so it can no longer be brought here; ask at the counter"
        )
    if material_id is not None:
        raise NothingToFollow(
            f"application {number} does not wait for {material_id}; choose one it waits for"
        )
    raise NothingToFollow(
        f"application {number} does not wait for any material; to print its result, choose"
        " 'Print my result'"
    )


async def lookup(work: Paperwork, request: ReprintRequest, terminal_id: int) -> Loaded:
    """The application behind a number, once the ID re-check matched, with something to bring."""
    loaded = await reprint(work, request, terminal_id, d.FOLLOW_LOOKUP_EVENT)
    check_open(loaded)
    return loaded


def new_scans(loaded: Loaded, material_id: str) -> list[DocumentInfo]:
    """Scans of ``material_id`` stored since the application was submitted."""
    submitted = max((e.seq for e in loaded.events if e.kind == d.SUBMITTED_EVENT), default=0)
    return [x for x in fold_documents(loaded.events).current(material_id) if x.seq > submitted]


async def supplied(work: Paperwork, session_id: str, terminal_id: int, material_id: str) -> Loaded:
    """Every page of ``material_id`` is in: record it supplied (once), so the decision can go on."""
    loaded = await work.load(session_id)
    check_open(loaded, material_id)
    scans = new_scans(loaded, material_id)
    if not scans:
        raise NotReady(
            f"nothing has been scanned for {material_id} yet; scan every page, then finish"
        )
    actor = f"terminal:{terminal_id}"
    try:
        await store.close(
            work.db, session_id, material_id, d.SUPPLIED_EVENT, actor,
            {"documents": [x.sha256 for x in scans], "terminal_id": terminal_id},
        )  # fmt: skip
    except FollowConflict as exc:
        raise NothingToFollow(exc.message) from exc
    context_log(log, session_id, actor).info("%s supplied (%d scans)", material_id, len(scans))
    return await work.load(session_id)


Notify = Callable[[str], Awaitable[None]]


class FollowSweep:
    """Reminders before the due date and lapses after it, every ``interval_s``."""

    def __init__(
        self,
        db: Database,
        rules: FollowRules,
        clock: Clock,
        interval_s: float,
        notify: Notify | None = None,
    ) -> None:
        self.db = db
        self.rules = rules
        self.clock = clock
        self.interval_s = interval_s
        self.notify = notify

    async def _open(self, row: FollowRow) -> bool:
        """Whether the chain still waits for the material (the row is the index, the chain
        the truth): one brought in the call, or of a decided application, is closed."""
        events = await AuditLog(self.db).events(row.session_id)
        app = d.fold(row.session_id, events)
        item = app.to_follow.get(row.material_id)
        if item is None or item.state == "brought" or app.state in (d.A.APPROVED, d.A.REJECTED):
            await store.forget(self.db, row.session_id, row.material_id)
            return False
        return item.state == "outstanding" and app.state == d.A.SUBMITTED

    async def sweep(self) -> None:
        """One round: lapse what is past its due date, remind of what falls due soon."""
        today = self.rules.today(self.clock.now())
        for row in await store.open_by(self.db, today - timedelta(days=1), unreminded=False):
            if await self._open(row) and await store.mark_once(
                self.db, row, "lapsed_at", d.LAPSED_EVENT, "server", {}
            ):
                await self._told(row.session_id)
        horizon = today + timedelta(days=self.rules.reminder_days)
        for row in await store.open_by(self.db, horizon, unreminded=True):
            if row.due_on < today or not await self._open(row):
                continue
            days_left = (row.due_on - today).days
            if await store.mark_once(
                self.db, row, "reminded_at", d.REMINDER_EVENT, "server",
                {"days_left": days_left, "to": f"department:{row.department_id}"},
            ):  # fmt: skip
                await self._told(row.session_id)

    async def _told(self, session_id: str) -> None:
        if self.notify is not None:
            await self.notify(session_id)

    async def run(self) -> None:
        """Sweep every ``interval_s`` until cancelled."""
        while True:
            try:
                await self.sweep()
            except Exception:  # the database briefly away: the next round retries
                log.exception(
                    "materials-to-follow sweep failed; retrying in %.1f s", self.interval_s
                )
            await asyncio.sleep(self.interval_s)
