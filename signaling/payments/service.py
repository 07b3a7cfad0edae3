"""Orders, notifications and refunds: the server's side of a payment, over the store.

:class:`Payments` is made once per server (``routes.PAYMENTS``) around one provider. The
amount always comes from the catalogue, never from a kiosk; every state is an event in the
session's chain (``storage.payments.move``). A notification is believed only when its
signature verifies with the pinned key, its timestamp is inside the window and its nonce is
new; a duplicate (the provider retries until we acknowledge) changes nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from signaling.catalogue import Service
from signaling.payments import signatures as sig
from signaling.payments.errors import (
    BadSignature,
    NotificationRefused,
    PaymentError,
    PaymentNotDue,
)
from signaling.payments.fees import Due, Fee, format_amount
from signaling.payments.messages import PaymentView
from signaling.payments.provider import PaymentProvider
from signaling.payments.wire import Amount, CreateOrder, CreateRefund, Notification, Order
from storage import payments as store
from storage.db import Database
from storage.errors import NotFound
from storage.payments import PaymentRecord, PaymentState

log = logging.getLogger(__name__)
P = PaymentState

PURPOSE_OF: dict[Due, str] = {"before_submission": "submission", "on_approval": "result"}
# the provider's order state -> ours
_STATES: dict[str, PaymentState] = {
    "paid": P.PAID, "failed": P.FAILED, "expired": P.EXPIRED, "closed": P.CLOSED,
    "refunded": P.REFUNDED,
}  # fmt: skip


def fee_due(service: Service, purpose: str) -> Fee | None:
    """The service's fee if it is due for ``purpose`` (submission or result), else None."""
    fee = service.fee
    return fee if fee is not None and PURPOSE_OF[fee.due] == purpose else None


def view(record: PaymentRecord) -> PaymentView:
    """The payment as the kiosk and the console see it."""
    return PaymentView(
        session_id=record.session_id, payment_id=record.id,
        purpose=record.purpose,
        attempt=record.attempt, state=record.state.value,
        amount_minor=record.amount_minor, currency=record.currency,
        amount=format_amount(record.amount_minor, record.currency),
        code_url=record.code_url if record.state == P.OPEN else None,
        expires_at=record.expires_at, provider=record.provider,
        provider_order_id=record.provider_order_id, transaction_id=record.transaction_id,
        refund_id=record.refund_id,
    )  # fmt: skip


class Payments:
    """The server's payments over one provider."""

    def __init__(
        self,
        db: Database,
        provider: PaymentProvider,
        merchant: str,
        order_ttl_s: int,
        notify_window_s: float,
    ) -> None:
        self.db = db
        self.provider = provider
        self.merchant = merchant
        self.order_ttl_s = order_ttl_s
        self.window = timedelta(seconds=notify_window_s)

    def notify_url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/api/payments/notify/{self.provider.name}"

    # ------------------------------------------------------------------ orders

    async def settled(self, session_id: str, purpose: str) -> PaymentRecord | None:
        """The session's paid payment for ``purpose``, if there is one."""
        paid = [
            p for p in await store.of_session(self.db, session_id)
            if p.purpose == purpose and p.state in store.SETTLED
        ]  # fmt: skip
        return paid[-1] if paid else None

    async def order(
        self,
        session_id: str,
        purpose: str,
        fee: Fee,
        description: str,
        base_url: str,
        terminal_id: int,
    ) -> PaymentRecord:
        """The order to show for the fee: the open one, or a new one (after a failed or
        expired one). The provider's create is idempotent: a retry after a lost answer gets
        the same order."""
        record = await store.begin(
            self.db, session_id, purpose, self.provider.name, fee.minor, fee.currency, terminal_id
        )
        if record.state == P.OPEN and record.expires_at and record.expires_at <= _now():
            # its expiry notification has not come (yet): ask, and start a new attempt
            record = await self.refresh(record)
            if record.state != P.OPEN:
                return await self.order(
                    session_id, purpose, fee, description, base_url, terminal_id
                )
        if record.state != P.PENDING:
            return record
        create = CreateOrder(
            mchid=self.merchant, out_trade_no=record.id, description=description[:127],
            amount=Amount(total=record.amount_minor, currency=record.currency),
            notify_url=self.notify_url(base_url), expire_s=self.order_ttl_s,
        )  # fmt: skip
        order = await self.provider.create_order(record.idempotency_key, create)
        self._check_amount(record, order)
        moved, _ = await store.move(
            self.db, record.id, P.OPEN, "server",
            extra={"expires_at": order.expires_at.isoformat()},
            provider_order_id=order.order_id, code_url=order.code_url,
            expires_at=order.expires_at,
        )  # fmt: skip
        return moved

    async def shown(self, payment_id: str, session_id: str, terminal_id: int) -> PaymentRecord:
        """The kiosk reports it shows the order's QR code (a chain event)."""
        record = await store.get(self.db, payment_id)
        if record.session_id != session_id or record.terminal_id != terminal_id:
            raise NotFound(f"no payment {payment_id!r} is shown at this kiosk")
        await store.note_shown(self.db, record, f"terminal:{terminal_id}")
        return record

    async def refresh(self, record: PaymentRecord) -> PaymentRecord:
        """Ask the provider where the order stands and record it (when a notice is late)."""
        order = await self.provider.query_order(record.id)
        return (await self.apply(order, f"provider:{self.provider.name}"))[0]

    async def apply(self, order: Order, actor: str) -> tuple[PaymentRecord, PaymentState]:
        """Record the provider's order state; returns the payment and its state before."""
        record = await store.get(self.db, order.out_trade_no)
        if record.provider_order_id not in (None, order.order_id):
            raise NotificationRefused(
                f"order {order.out_trade_no} is provider order {record.provider_order_id},"
                f" not {order.order_id}", "unknown_order",
            )  # fmt: skip
        self._check_amount(record, order)
        new = _STATES.get(order.state)
        if new is None or new == record.state:
            return record, record.state
        changes: dict[str, Any] = {}
        if new == P.PAID:
            changes = {"transaction_id": order.transaction_id, "paid_at": order.paid_at or _now()}
        elif new == P.REFUNDED:
            changes = {"refund_id": order.refund_id, "refunded_minor": order.refunded,
                       "refunded_at": _now()}  # fmt: skip
        return await store.move(self.db, record.id, new, actor, **changes)

    def _check_amount(self, record: PaymentRecord, order: Order) -> None:
        if (order.amount.total, order.amount.currency) != (record.amount_minor, record.currency):
            log.error(
                "payment %s: the provider reports %s, we asked for %s; not recorded",
                record.id, format_amount(order.amount.total, order.amount.currency),
                format_amount(record.amount_minor, record.currency),
            )  # fmt: skip
            raise NotificationRefused(
                f"order {record.id} is for {format_amount(record.amount_minor, record.currency)},"
                f" the provider reports {format_amount(order.amount.total, order.amount.currency)}",
                "amount_mismatch",
            )  # fmt: skip

    # ------------------------------------------------------------------ notifications

    async def notification(
        self, headers: dict[str, str], body: str
    ) -> tuple[PaymentRecord, PaymentState]:
        """Check and apply one provider notification; :class:`NotificationRefused` says why
        it is not believed (forged, stale, replayed, malformed, unknown_order)."""
        try:
            stamp = sig.body_stamp(headers)
            sig.check_body(self.provider.public_key, stamp, body)
        except BadSignature as exc:
            raise NotificationRefused(f"forged notification: {exc.message}", "forged") from exc
        skew = abs(_now().timestamp() - stamp.timestamp)
        if skew > self.window.total_seconds():
            raise NotificationRefused(
                f"stale notification: its timestamp is {skew:.0f} s from our clock (the window"
                f" is {self.window.total_seconds():.0f} s)", "stale",
            )  # fmt: skip
        if not await store.remember_nonce(self.db, self.provider.name, stamp.nonce, self.window):
            raise NotificationRefused(
                f"replayed notification: nonce {stamp.nonce} was seen already", "replayed"
            )
        try:
            notice = Notification.model_validate_json(body)
        except ValidationError as exc:
            raise NotificationRefused(
                f"the notification is not one we understand: {exc.errors()[0]['msg']}",
                "malformed",
            ) from exc
        try:
            return await self.apply(notice.resource, f"provider:{self.provider.name}")
        except NotFound as exc:
            raise NotificationRefused(
                f"notification {notice.id} is for order {notice.resource.out_trade_no}, which we"
                " never created", "unknown_order",
            ) from exc  # fmt: skip

    async def close_abandoned(self) -> list[PaymentRecord]:
        """Close at the provider every open submission fee whose call has ended; returns
        those closed. One the payer paid meanwhile is left to its paid notification, which
        completes the submission as for any payment."""
        closed = []
        for record in await store.abandoned(self.db):
            try:
                order = await self.provider.close_order(record.id)
            except PaymentError as exc:  # tried again at the next round
                log.warning("payment %s (session %s) not closed: %s",
                            record.id, record.session_id, exc.message)  # fmt: skip
                continue
            if order.state != "closed":
                continue
            moved, old = await self.apply(order, "server")
            if old != moved.state:
                closed.append(moved)
        return closed

    # ------------------------------------------------------------------ refunds

    async def refund_session(self, session_id: str, reason: str) -> list[PaymentRecord]:
        """Give back every paid fee of the session (its application was rejected); a refund
        the provider refuses is ``refund_failed`` in the chain, for a person to follow up."""
        done = []
        for record in await store.of_session(self.db, session_id):
            if record.state not in (P.PAID, P.REFUND_FAILED):
                continue
            refund = CreateRefund(
                out_trade_no=record.id, out_refund_no=f"rf-{record.id}",
                amount=Amount(total=record.amount_minor, currency=record.currency),
                reason=reason[:80],
            )  # fmt: skip
            try:
                answer = await self.provider.refund(refund)
            except PaymentError as exc:
                log.error("refund of payment %s (session %s) failed: %s",
                          record.id, session_id, exc.message)  # fmt: skip
                moved, _ = await store.move(
                    self.db, record.id, P.REFUND_FAILED, "server", extra={"error": exc.message}
                )
                done.append(moved)
                continue
            moved, _ = await store.move(
                self.db, record.id, P.REFUNDED, "server", extra={"reason": reason},
                refund_id=answer.refund_id, refunded_minor=answer.amount.total,
                refunded_at=answer.at,
            )  # fmt: skip
            done.append(moved)
        return done

    async def require(self, session_id: str, purpose: str) -> PaymentRecord:
        """The session's current payment for ``purpose``; :class:`PaymentNotDue` if none."""
        mine = [p for p in await store.of_session(self.db, session_id) if p.purpose == purpose]
        if not mine:
            raise PaymentNotDue(f"session {session_id} has no {purpose} fee to pay")
        return mine[-1]


def _now() -> datetime:
    return datetime.now(UTC)
