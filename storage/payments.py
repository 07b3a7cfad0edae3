"""Payments in the store: each state change commits with its event in the session's chain.

::

    pending -> open -> paid -> refunded
       |         |       \\-> refund_failed -> refunded | refund_failed
       |         \\-> failed | expired          (a new attempt is a new order)
       \\-> open (the provider confirmed the order the idempotency key names)

``pending``: written before the provider is asked, so a crash between the two leaves a row
whose idempotency key gets the same order on the next try. :func:`move` is the one setter:
it checks :data:`TRANSITIONS`, logs ``old -> new`` and appends the chain event.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from storage.audit import append_in
from storage.db import Database
from storage.errors import InvalidValue, NotFound, StorageError
from storage.models import CallSession, Payment, PaymentNotice, utcnow

log = logging.getLogger(__name__)


class PaymentState(StrEnum):
    PENDING = "pending"
    OPEN = "open"
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    # closed by us before it was paid: the call it was for ended (service.close_abandoned)
    CLOSED = "closed"
    REFUNDED = "refunded"
    REFUND_FAILED = "refund_failed"


P = PaymentState
TRANSITIONS: Final[dict[PaymentState, frozenset[PaymentState]]] = {
    P.PENDING: frozenset({P.OPEN}),
    P.OPEN: frozenset({P.PAID, P.FAILED, P.EXPIRED, P.CLOSED}),
    P.PAID: frozenset({P.REFUNDED, P.REFUND_FAILED}),
    P.REFUND_FAILED: frozenset({P.REFUNDED, P.REFUND_FAILED}),
    P.FAILED: frozenset(),
    P.EXPIRED: frozenset(),
    P.CLOSED: frozenset(),
    P.REFUNDED: frozenset(),
}
# the chain event each state is entered with
EVENTS: Final[dict[PaymentState, str]] = {
    P.OPEN: "payment.order_created",
    P.PAID: "payment.paid",
    P.FAILED: "payment.failed",
    P.EXPIRED: "payment.expired",
    P.CLOSED: "payment.closed",
    P.REFUNDED: "payment.refunded",
    P.REFUND_FAILED: "payment.refund_failed",
}
QR_SHOWN_EVENT: Final = "payment.qr_shown"
PURPOSES: Final = ("submission", "result")
# a payment that settles what is due: paid and not given back
SETTLED: Final = frozenset({P.PAID})


class PaymentConflict(StorageError):
    """A payment cannot go from its state to the one asked (it was paid, closed, refunded)."""

    code = "payment_conflict"


@dataclass(frozen=True)
class PaymentRecord:
    """A payment as the rest of the server sees it (a detached copy of the row)."""

    id: str
    session_id: str
    purpose: str
    attempt: int
    idempotency_key: str
    provider: str
    terminal_id: int | None
    amount_minor: int
    currency: str
    state: PaymentState
    provider_order_id: str | None
    transaction_id: str | None
    code_url: str | None
    expires_at: datetime | None
    paid_at: datetime | None
    refund_id: str | None
    refunded_minor: int
    refunded_at: datetime | None
    created_at: datetime

    def facts(self) -> dict[str, Any]:
        """What the chain event of a change records about the payment."""
        return {
            "payment_id": self.id, "purpose": self.purpose, "attempt": self.attempt,
            "provider": self.provider, "amount_minor": self.amount_minor,
            "currency": self.currency, "provider_order_id": self.provider_order_id,
            "transaction_id": self.transaction_id, "refund_id": self.refund_id,
        }  # fmt: skip


def _record(row: Payment) -> PaymentRecord:
    return PaymentRecord(
        row.id, row.session_id, row.purpose, row.attempt, row.idempotency_key, row.provider,
        row.terminal_id, row.amount_minor, row.currency, PaymentState(row.state), row.provider_order_id,
        row.transaction_id, row.code_url, row.expires_at, row.paid_at, row.refund_id,
        row.refunded_minor, row.refunded_at, row.created_at,
    )  # fmt: skip


async def of_session(db: Database, session_id: str) -> list[PaymentRecord]:
    """The session's payments, oldest first."""
    async with db.reads() as s:
        rows = await s.scalars(
            select(Payment).where(Payment.session_id == session_id).order_by(Payment.created_at)
        )
        return [_record(r) for r in rows]


# a session in one of these will never submit: its open submission fee is closed
ENDED_SESSIONS: Final = ("ended", "failed", "cancelled")


async def abandoned(db: Database, limit: int = 100) -> list[PaymentRecord]:
    """Open submission fees of sessions that have ended: the applicant left unpaid, so the
    code must stop paying (a late payment would submit for someone no longer there)."""
    async with db.reads() as s:
        rows = await s.scalars(
            select(Payment)
            .join(CallSession, CallSession.id == Payment.session_id)
            .where(Payment.state == P.OPEN.value, Payment.purpose == "submission")
            .where(CallSession.state.in_(ENDED_SESSIONS))
            .limit(limit)
        )
        return [_record(r) for r in rows]


async def get(db: Database, payment_id: str) -> PaymentRecord:
    """One payment by our order number; :class:`NotFound` if there is none."""
    async with db.reads() as s:
        row = await s.get(Payment, payment_id)
    if row is None:
        raise NotFound(f"no payment {payment_id!r}")
    return _record(row)


async def in_state(db: Database, state: PaymentState) -> list[PaymentRecord]:
    """Every payment in ``state``, oldest first (e.g. the refunds a person must follow up)."""
    async with db.reads() as s:
        rows = await s.scalars(
            select(Payment).where(Payment.state == state.value).order_by(Payment.created_at)
        )
        return [_record(r) for r in rows]


async def on_day(db: Database, start: datetime, end: datetime) -> list[PaymentRecord]:
    """Payments paid or refunded in ``[start, end)``: what a settlement file of the day lists."""
    async with db.reads() as s:
        rows = await s.scalars(
            select(Payment)
            .where(
                ((Payment.paid_at >= start) & (Payment.paid_at < end))
                | ((Payment.refunded_at >= start) & (Payment.refunded_at < end))
            )
            .order_by(Payment.created_at)
        )
        return [_record(r) for r in rows]


async def begin(
    db: Database,
    session_id: str,
    purpose: str,
    provider: str,
    amount_minor: int,
    currency: str,
    terminal_id: int,
) -> PaymentRecord:
    """The session's order to show for ``purpose``: the open or pending one if there is one,
    else a new ``pending`` attempt (its idempotency key fixed before the provider is asked)."""
    if purpose not in PURPOSES:
        raise InvalidValue(f"payment purpose {purpose!r} is not one of {', '.join(PURPOSES)}")
    async with db.transaction() as tx:
        await tx.hold(f"audit:{session_id}")
        rows = list(
            await tx.session.scalars(
                select(Payment)
                .where(Payment.session_id == session_id, Payment.purpose == purpose)
                .order_by(Payment.attempt)
                .with_for_update()
            )
        )
        live = [r for r in rows if r.state in (P.PENDING, P.OPEN, P.PAID, P.REFUND_FAILED)]
        if live:
            if live[-1].terminal_id != terminal_id and live[-1].state == P.OPEN:
                live[-1].terminal_id = terminal_id  # shown at another kiosk now
            return _record(live[-1])
        attempt = (rows[-1].attempt + 1) if rows else 1
        row = Payment(
            id=uuid.uuid4().hex, session_id=session_id, purpose=purpose, attempt=attempt,
            idempotency_key=f"{session_id}-{purpose[:3]}-{attempt}", provider=provider,
            terminal_id=terminal_id, amount_minor=amount_minor, currency=currency, state=P.PENDING.value,
        )  # fmt: skip
        tx.session.add(row)
        try:
            await tx.session.flush()
        except IntegrityError as exc:  # another process made this attempt first
            raise PaymentConflict(
                f"another server made attempt {attempt} of session {session_id}'s payment at the"
                " same moment; ask again"
            ) from exc
        return _record(row)


async def move(
    db: Database,
    payment_id: str,
    new: PaymentState,
    actor: str,
    *,
    extra: dict[str, Any] | None = None,
    **changes: Any,
) -> tuple[PaymentRecord, PaymentState]:
    """Set the payment's state (checked), apply ``changes`` and append its chain event in
    one transaction; returns the payment and its old state. Same state (a duplicate
    notification): nothing is written and the old state equals the new."""
    async with db.reads() as s:
        session_id = await s.scalar(select(Payment.session_id).where(Payment.id == payment_id))
    if session_id is None:
        raise NotFound(f"no payment {payment_id!r}")
    async with db.transaction() as tx:
        await tx.hold(f"audit:{session_id}")
        row = await tx.session.get(Payment, payment_id, with_for_update=True)
        assert row is not None
        old = PaymentState(row.state)
        if old == new and new != P.REFUND_FAILED:
            return _record(row), old
        if new not in TRANSITIONS[old]:
            raise PaymentConflict(
                f'payment {payment_id} of session {session_id} is "{old}" and cannot become "{new}"'
            )
        for name, value in changes.items():
            setattr(row, name, value)
        row.state = new.value
        row.updated_at = utcnow()
        record = _record(row)
        await append_in(
            tx.session, session_id, EVENTS[new], actor, {**record.facts(), **(extra or {})}
        )
    log.info("payment %s of session %s: %s -> %s", payment_id, session_id, old, new)
    return record, old


async def note_shown(db: Database, payment: PaymentRecord, actor: str) -> None:
    """The kiosk showed the order's QR code: an event in the chain, the state unchanged."""
    async with db.transaction() as tx:
        await tx.hold(f"audit:{payment.session_id}")
        await append_in(tx.session, payment.session_id, QR_SHOWN_EVENT, actor, payment.facts())


async def remember_nonce(db: Database, provider: str, nonce: str, window: timedelta) -> bool:
    """Keep a notification's nonce; False if it was seen before (a replay). Nonces older than
    ``window`` are dropped: their notifications are refused by their timestamp anyway."""
    now = utcnow()
    async with db.sessions() as s, s.begin():
        await s.execute(delete(PaymentNotice).where(PaymentNotice.received_at < now - window))
    try:
        async with db.sessions() as s, s.begin():
            s.add(PaymentNotice(nonce=nonce, provider=provider, received_at=now))
    except IntegrityError:
        return False
    return True
