"""Materials to follow (容缺受理) as stored: deferred, supplied, reminded of, lapsed.

Each change updates the material's row and appends its chain event in one transaction,
under the session's chain lock, so the row and the chain never disagree. The reminder and
the lapse are conditional updates (``... WHERE reminded_at IS NULL``): two processes
sweeping at once record each once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import select, update

from storage.audit import append_in
from storage.db import Database, Transaction
from storage.errors import NotFound, StorageError
from storage.models import AcceptanceNumber, CallSession, MaterialToFollow, utcnow

log = logging.getLogger(__name__)


class FollowConflict(StorageError):
    """The material's row is not in the state the change needs (supplied, lapsed)."""

    code = "follow_conflict"


@dataclass(frozen=True)
class FollowRow:
    session_id: str
    material_id: str
    department_id: str
    due_on: date
    supplied_at: datetime | None
    reminded_at: datetime | None
    lapsed_at: datetime | None


def _row(r: MaterialToFollow) -> FollowRow:
    return FollowRow(
        r.session_id, r.material_id, r.department_id, r.due_on, r.supplied_at, r.reminded_at,
        r.lapsed_at,
    )  # fmt: skip


async def _locked_session(tx: Transaction, session_id: str) -> CallSession:
    await tx.hold(f"audit:{session_id}")
    row: CallSession | None = await tx.session.scalar(
        select(CallSession).where(CallSession.id == session_id).with_for_update()
    )
    if row is None:
        raise NotFound(f"no session {session_id!r}")
    return row


async def defer(
    db: Database,
    session_id: str,
    material_id: str,
    department_id: str,
    due_on: date,
    actor: str,
    payload: dict[str, Any],
) -> FollowRow:
    """Mark the material "to follow" by ``due_on`` (again: the new date replaces the old)."""
    async with db.transaction() as tx:
        session = await _locked_session(tx, session_id)
        found = await tx.session.get(MaterialToFollow, (session_id, material_id))
        if found is None:
            found = MaterialToFollow(
                session_id=session_id, material_id=material_id, department_id=department_id,
                due_on=due_on, deferred_at=utcnow(),
            )  # fmt: skip
            tx.session.add(found)
        else:
            found.due_on, found.deferred_at = due_on, utcnow()
            found.supplied_at = found.reminded_at = found.lapsed_at = None
        await tx.session.flush()
        await append_in(
            tx.session, session_id, "material.deferred", actor,
            {"material_id": material_id, "due_on": due_on.isoformat(), **payload}, row=session,
        )  # fmt: skip
        return _row(found)


async def close(
    db: Database, session_id: str, material_id: str, kind: str, actor: str, payload: dict[str, Any]
) -> FollowRow:
    """Record the material supplied (``kind`` ``material.supplied``), once, unless lapsed;
    :class:`FollowConflict` saying which when it cannot be."""
    async with db.transaction() as tx:
        session = await _locked_session(tx, session_id)
        found = await tx.session.get(MaterialToFollow, (session_id, material_id))
        if found is None:
            raise NotFound(f"{material_id} of session {session_id} is not a material to follow")
        if found.lapsed_at is not None:
            raise FollowConflict(
                f"{material_id} was due on {found.due_on} and has lapsed; it can no longer be"
                " supplied here, ask at the counter"
            )
        if found.supplied_at is not None:
            raise FollowConflict(f"{material_id} has been supplied already")
        found.supplied_at = utcnow()
        await tx.session.flush()
        await append_in(
            tx.session, session_id, kind, actor, {"material_id": material_id, **payload},
            row=session,
        )  # fmt: skip
        return _row(found)


async def forget(db: Database, session_id: str, material_id: str) -> None:
    """The material came in the call after all: the sweep leaves it alone (no event; the
    chain already has the scan)."""
    async with db.transaction() as tx:
        await tx.session.execute(
            update(MaterialToFollow)
            .where(
                MaterialToFollow.session_id == session_id,
                MaterialToFollow.material_id == material_id,
                MaterialToFollow.supplied_at.is_(None),
            )
            .values(supplied_at=utcnow())
        )


async def open_by(db: Database, day: date, *, unreminded: bool) -> list[FollowRow]:
    """Materials of submitted applications, neither supplied nor lapsed, due on or before
    ``day`` (``unreminded``: only those not reminded of yet)."""
    query = (
        select(MaterialToFollow)
        .join(AcceptanceNumber, AcceptanceNumber.session_id == MaterialToFollow.session_id)
        .where(
            MaterialToFollow.supplied_at.is_(None),
            MaterialToFollow.lapsed_at.is_(None),
            MaterialToFollow.due_on <= day,
        )
        .order_by(MaterialToFollow.due_on)
    )
    if unreminded:
        query = query.where(MaterialToFollow.reminded_at.is_(None))
    async with db.reads() as s:
        return [_row(r) for r in (await s.scalars(query)).all()]


async def mark_once(
    db: Database,
    found: FollowRow,
    column: str,
    kind: str,
    actor: str,
    payload: dict[str, Any],
) -> bool:
    """Set ``column`` (reminded_at / lapsed_at) and chain ``kind``, if nobody has: True if
    this call did it. Still open is part of the condition: a material supplied meanwhile is
    neither reminded of nor lapsed."""
    attribute = getattr(MaterialToFollow, column)
    async with db.transaction() as tx:
        session = await _locked_session(tx, found.session_id)
        result = await tx.session.execute(
            update(MaterialToFollow)
            .where(
                MaterialToFollow.session_id == found.session_id,
                MaterialToFollow.material_id == found.material_id,
                attribute.is_(None),
                MaterialToFollow.supplied_at.is_(None),
                MaterialToFollow.lapsed_at.is_(None),
            )
            .values({column: utcnow()})
        )
        if cast(Any, result).rowcount != 1:
            return False
        await append_in(
            tx.session, found.session_id, kind, actor,
            {"material_id": found.material_id, "due_on": found.due_on.isoformat(),
             **payload},
            row=session,
        )  # fmt: skip
    log.info("session %s: %s %s", found.session_id, kind, found.material_id)
    return True
