"""The registry of places that serve (kiosks and staffed windows) and what their kiosks report.

Values arrive checked (:mod:`signaling.places` validates cities, services, coordinates and
hours against the deployment's catalogue); this module keeps them and answers the facts the
live status is made of: is the kiosk's socket connected, is it in a call, what did its
printer say last.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.errors import DuplicateEntry, NotFound
from storage.models import (
    CallSession,
    KioskQuiet,
    Place,
    Terminal,
    TerminalPresence,
    TerminalPrinter,
    utcnow,
)

log = logging.getLogger(__name__)

# a kiosk in one of these session states is "in a call" on the map
CALL_STATES = ("connecting", "in_call")
# the fields a place has besides its slug and terminal (what `edit` may change)
FIELDS = (
    "kind", "names", "addresses", "city", "latitude", "longitude", "hours", "directions",
    "services", "phone",
)  # fmt: skip


@dataclass(frozen=True)
class KioskFacts:
    """What the store knows of one kiosk now: the inputs of its live status."""

    terminal_id: int
    terminal_name: str
    revoked: bool
    connected: bool
    in_call: bool
    last_seen_at: datetime | None
    printer_status: str | None
    printer_error: str
    printer_reported_at: datetime | None


def as_dict(place: Place) -> dict[str, Any]:
    """The place's editable fields (for the staff log's before/after and `place list --json`)."""
    return {"slug": place.slug, **{f: getattr(place, f) for f in FIELDS}}


async def _terminal_id(db: Database, name: str) -> int:
    async with db.reads() as s:
        found = await s.scalar(select(Terminal.id).where(Terminal.name == name))
    if found is None:
        raise NotFound(f"no terminal {name!r}; `vcounter terminal list` shows the kiosks")
    return found


def _taken(slug: str, terminal: str | None) -> DuplicateEntry:
    also = f" or terminal {terminal!r} already belongs to another place" if terminal else ""
    return DuplicateEntry(
        f"place {slug!r} already exists{also}; `vcounter place list` shows the places"
    )


async def add_place(db: Database, slug: str, fields: dict[str, Any], terminal: str | None) -> Place:
    """Register a place; ``terminal``: the name of the kiosk's registered terminal."""
    terminal_id = await _terminal_id(db, terminal) if terminal else None
    async with db.sessions() as s:
        taken = await s.scalar(select(Place.id).where(Place.slug == slug))
        if terminal_id is not None:
            taken = taken or await s.scalar(
                select(Place.id).where(Place.terminal_id == terminal_id)
            )
        if taken is not None:
            raise _taken(slug, terminal)
        place = Place(slug=slug, terminal_id=terminal_id, **fields)
        s.add(place)
        try:
            await s.commit()
        except IntegrityError as exc:
            raise _taken(slug, terminal) from exc
    log.info("place %s added (%s, %s)", slug, fields["kind"], fields["city"])
    return place


async def get_place(db: Database, slug: str) -> Place:
    """The place called ``slug``; raises :class:`NotFound` naming the way to list them."""
    async with db.reads() as s:
        place = await s.scalar(select(Place).where(Place.slug == slug))
    if place is None:
        raise NotFound(f"no place {slug!r}; `vcounter place list` shows the places")
    return place


async def edit_place(
    db: Database, slug: str, changes: dict[str, Any], terminal: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Change some fields of place ``slug`` (and its terminal); returns (before, after)."""
    terminal_id = await _terminal_id(db, terminal) if terminal else None
    async with db.sessions() as s:
        place = await s.scalar(select(Place).where(Place.slug == slug))
        if place is None:
            raise NotFound(f"no place {slug!r}; `vcounter place list` shows the places")
        before = {**as_dict(place), "terminal_id": place.terminal_id}
        for name, value in changes.items():
            setattr(place, name, value)
        if terminal_id is not None:
            place.terminal_id = terminal_id
        place.updated_at = utcnow()
        after = {**as_dict(place), "terminal_id": place.terminal_id}
        try:
            await s.commit()
        except IntegrityError as exc:
            raise _taken(slug, terminal) from exc
    log.info("place %s edited: %s", slug, ", ".join(sorted(changes)) or "terminal")
    return before, after


async def remove_place(db: Database, slug: str) -> dict[str, Any]:
    """Take place ``slug`` off the registry (its terminal stays registered); returns it."""
    place = await get_place(db, slug)
    async with db.sessions() as s:
        await s.execute(delete(Place).where(Place.id == place.id))
        await s.commit()
    log.info("place %s removed", slug)
    return {**as_dict(place), "terminal_id": place.terminal_id}


async def list_places(db: Database) -> list[Place]:
    """Every place, by city then slug."""
    async with db.reads() as s:
        return list(await s.scalars(select(Place).order_by(Place.city, Place.slug)))


async def count_places(db: Database) -> int:
    """How many places are registered (the demo seeds an empty registry only)."""
    return len(await list_places(db))


async def kiosk_facts(db: Database) -> dict[int, KioskFacts]:
    """Every terminal's live facts by terminal id: five reads, whatever the number of kiosks."""
    async with db.reads() as s:
        terminals = (
            await s.execute(
                select(Terminal.id, Terminal.name, Terminal.revoked_at, Terminal.last_seen_at)
            )
        ).all()
        present = select(TerminalPresence.terminal_id, TerminalPresence.sid).where(
            TerminalPresence.connected.is_(True)
        )
        sockets = {row[0]: row[1] for row in (await s.execute(present)).all()}
        quiet_rows = (await s.execute(select(KioskQuiet.terminal_id, KioskQuiet.sid))).all()
        quiet = {(row[0], row[1]) for row in quiet_rows}
        # connected and answering: a quiet row counts only for the socket it was seen on
        connected = {t for t, sid in sockets.items() if (t, sid) not in quiet}
        calling = set(
            await s.scalars(
                select(CallSession.terminal_id).where(
                    CallSession.ended_at.is_(None), CallSession.state.in_(CALL_STATES)
                )
            )
        )
        printers = {p.terminal_id: p for p in await s.scalars(select(TerminalPrinter))}
    facts = {}
    for terminal_id, name, revoked_at, seen in terminals:
        printer = printers.get(terminal_id)
        facts[terminal_id] = KioskFacts(
            terminal_id=terminal_id,
            terminal_name=name,
            revoked=revoked_at is not None,
            connected=terminal_id in connected,
            in_call=terminal_id in calling,
            last_seen_at=seen,
            printer_status=printer.status if printer else None,
            printer_error=printer.error_code if printer else "",
            printer_reported_at=printer.reported_at if printer else None,
        )
    return facts


async def note_printer(db: Database, terminal_id: int, status: str, error_code: str) -> None:
    """Keep a kiosk's newest printer report (called where ``print.reported`` is recorded)."""
    async with db.sessions() as s:
        row = await s.get(TerminalPrinter, terminal_id)
        if row is None:
            row = TerminalPrinter(terminal_id=terminal_id, status=status)
            s.add(row)
        row.status, row.error_code, row.reported_at = status, error_code, utcnow()
        await s.commit()


async def note_quiet(db: Database, quiet: dict[int, str], answering: list[int]) -> None:
    """Record kiosk sockets gone quiet (terminal id -> socket id) and forget the ones that
    answer again or went away (called by :class:`signaling.kiosk_liveness.QuietWatch`)."""
    async with db.sessions() as s:
        if answering:
            await s.execute(delete(KioskQuiet).where(KioskQuiet.terminal_id.in_(answering)))
        for terminal_id, sid in quiet.items():
            row = await s.get(KioskQuiet, terminal_id)
            if row is None:
                s.add(KioskQuiet(terminal_id=terminal_id, sid=sid))
            else:
                row.sid, row.since = sid, utcnow()
        await s.commit()


async def place_of_terminal(db: Database, terminal_id: int) -> Place | None:
    """The kiosk place a terminal stands at, or None for a terminal at no place."""
    async with db.reads() as s:
        found: Place | None = await s.scalar(select(Place).where(Place.terminal_id == terminal_id))
        return found
