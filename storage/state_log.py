"""The log of clerks' work states: one row per state entered, for the work report.

Every change of a clerk's state writes a :class:`~storage.models.ClerkStateLog` row in the
same transaction (:func:`state_entry` on the ORM, :func:`state_record` through
:mod:`storage.rows`); :mod:`storage.work_report` reads the intervals back.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table

from storage.models import ClerkStateLog
from storage.rows import Record, RowTransaction
from storage.states import move_clerk

STATE_LOG = cast(Table, ClerkStateLog.__table__)


def state_entry(
    clerk_id: int,
    state: str,
    at: datetime,
    *,
    reason: str | None = None,
    session_id: str | None = None,
) -> ClerkStateLog:
    """The log row of a state entered at ``at``, for an ORM transaction to add."""
    return ClerkStateLog(
        clerk_id=clerk_id, state=state, reason=reason, session_id=session_id, started_at=at
    )


def state_record(
    clerk_id: int,
    state: str,
    at: datetime,
    *,
    reason: str | None = None,
    session_id: str | None = None,
) -> Record:
    """The log row of a state entered at ``at``, for a :class:`~storage.rows.RowTransaction`."""
    return Record.made(
        STATE_LOG,
        clerk_id=clerk_id,
        state=state,
        reason=reason,
        session_id=session_id,
        started_at=at,
    )


def enter_state(
    tx: RowTransaction,
    clerk: Record,
    state: str,
    now: datetime,
    *,
    reason: str | None = None,
    session_id: str | None = None,
) -> None:
    """The clerk (their presence row, written with ``tx``) goes ``state`` at ``now``: the move
    checked, its time restarted (idle time too, for available) and the state log's row added.
    The caller bumps the row's version once for the whole change."""
    move_clerk(clerk, state)
    clerk.state_since = now
    if state == "available":
        clerk.idle_since = now
    tx.add(state_record(clerk.clerk_id, state, now, reason=reason, session_id=session_id))
