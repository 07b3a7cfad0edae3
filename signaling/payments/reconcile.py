"""Our payment records of one UTC date against the provider's settlement file of that date.

Every difference is a sentence an accountant can act on: a payment or refund settled by the
provider that we have not recorded (or recorded in another state), one we recorded that the
provider did not settle, and amounts, currencies or transaction ids that differ.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from signaling.payments.fees import format_amount
from signaling.payments.provider import PaymentProvider
from signaling.payments.wire import SettlementLine
from storage import payments as store
from storage.db import Database
from storage.payments import PaymentRecord, PaymentState


def _on(moment: datetime | None, day: date) -> bool:
    return moment is not None and moment.astimezone(UTC).date() == day


def compare(day: date, ours: list[PaymentRecord], theirs: list[SettlementLine]) -> list[str]:
    """The differences between our records and the settlement lines of ``day``."""
    out: list[str] = []
    known = {p.id: p for p in ours}
    for kind in ("payment", "refund"):
        lines = {line.out_trade_no: line for line in theirs if line.kind == kind}
        if kind == "payment":
            mine = {p.id: p for p in ours if _on(p.paid_at, day)}
        else:
            mine = {p.id: p for p in ours if _on(p.refunded_at, day)}
        for number, line in sorted(lines.items()):
            amount = format_amount(line.amount, line.currency)
            record = mine.get(number)
            if record is None:
                other = known.get(number)
                state = f" (we have it as {other.state})" if other else ""
                out.append(
                    f"The provider settled {kind} {number} (order {line.order_id}, {amount}) on"
                    f" {day}, but we have no {kind} of it recorded that day{state}."
                )
                continue
            ours_amount = record.amount_minor if kind == "payment" else record.refunded_minor
            if (ours_amount, record.currency) != (line.amount, line.currency):
                out.append(
                    f"{kind.capitalize()} {number}: we recorded"
                    f" {format_amount(ours_amount, record.currency)}, the provider settled"
                    f" {amount}."
                )
            if kind == "payment" and record.transaction_id != (line.transaction_id or None):
                out.append(
                    f"Payment {number}: our transaction id is {record.transaction_id or 'none'},"
                    f" the provider's is {line.transaction_id or 'none'}."
                )
            if kind == "refund" and record.state != PaymentState.REFUNDED:
                out.append(
                    f"Refund {number}: the provider settled it, but we have the payment as"
                    f" {record.state}."
                )
        for number, record in sorted(mine.items()):
            if number not in lines:
                amount = format_amount(
                    record.amount_minor if kind == "payment" else record.refunded_minor,
                    record.currency,
                )
                out.append(
                    f"We recorded {kind} {number} (order {record.provider_order_id},"
                    f" session {record.session_id}, {amount}) on {day}, but the provider's"
                    " settlement file does not list it."
                )
    return out


async def reconcile(db: Database, provider: PaymentProvider, day: date) -> list[str]:
    """Fetch the provider's settlement file of ``day`` and compare it with our records."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    ours = await store.on_day(db, start, start + timedelta(days=1))
    return compare(day, ours, await provider.settlement(day))
