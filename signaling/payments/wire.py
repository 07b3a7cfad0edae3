"""The payment provider's HTTP JSON API: request, response and notification bodies.

One definition for both ends: our client (:mod:`.provider`) and the sandbox
(:mod:`.sandbox`). Amounts are integer minor units; times are UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from signaling.payments.fees import MAX_MINOR, Currency

Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
OrderState = Literal["open", "paid", "failed", "expired", "closed", "refunded"]
EventType = Literal[
    "TRANSACTION.SUCCESS", "TRANSACTION.FAILED", "TRANSACTION.CLOSED", "REFUND.SUCCESS"
]


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Amount(Wire):
    total: int = Field(gt=0, le=MAX_MINOR)
    currency: Currency


class CreateOrder(Wire):
    """``POST /v3/orders`` (the ``Idempotency-Key`` header is the retry key)."""

    mchid: str = Field(min_length=1, max_length=32)
    out_trade_no: Key
    description: str = Field(min_length=1, max_length=127)
    amount: Amount
    notify_url: str = Field(min_length=8, max_length=500)
    expire_s: int = Field(ge=30, le=7200)


class Order(Wire):
    """An order as the provider reports it."""

    out_trade_no: Key
    order_id: str
    amount: Amount
    state: OrderState
    code_url: str
    created_at: datetime
    expires_at: datetime
    transaction_id: str | None = None
    paid_at: datetime | None = None
    refund_id: str | None = None
    refunded: int = 0


class CreateRefund(Wire):
    """``POST /v3/refunds``: the whole paid amount back (partial refunds are not offered)."""

    out_trade_no: Key
    out_refund_no: Key
    amount: Amount
    reason: str = Field(default="", max_length=80)


class Refund(Wire):
    out_trade_no: Key
    out_refund_no: Key
    refund_id: str
    amount: Amount
    state: Literal["succeeded", "failed"]
    at: datetime


class Notification(Wire):
    """The provider's asynchronous notification; retried until we answer 200 ``SUCCESS``."""

    id: str = Field(min_length=1, max_length=64)
    event_type: EventType
    created_at: datetime
    resource: Order


class ProviderErrorBody(Wire):
    code: str
    message: str


class Ack(Wire):
    code: Literal["SUCCESS", "FAIL"]
    message: str = ""


SETTLEMENT_COLUMNS = (
    "date", "kind", "out_trade_no", "order_id", "transaction_id", "out_refund_no",
    "amount", "currency", "state", "at",
)  # fmt: skip


class SettlementLine(Wire):
    """One line of the provider's settlement file (CSV, one file per UTC date)."""

    date: str
    kind: Literal["payment", "refund"]
    out_trade_no: str
    order_id: str
    transaction_id: str
    out_refund_no: str
    amount: int
    currency: str
    state: str
    at: datetime
