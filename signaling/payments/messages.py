"""What the kiosk and the console are told of a payment (socket.io and REST bodies)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from signaling.messages import Message, SessionId


class PaymentView(Message):
    """One payment order: what to show (QR, amount, expiry) and where it stands."""

    session_id: SessionId
    payment_id: str
    purpose: Literal["submission", "result"]
    attempt: int
    state: Literal[
        "pending", "open", "paid", "failed", "expired", "closed", "refunded", "refund_failed"
    ]
    amount_minor: int
    currency: str
    amount: str  # "CNY 10.00"
    code_url: str | None = None
    expires_at: datetime | None = None
    provider: str
    provider_order_id: str | None = None
    transaction_id: str | None = None
    refund_id: str | None = None


class PaymentAsk(Message):
    """From the kiosk: the order to show for this fee (a new one if the last failed). No
    amount: the server takes it from the catalogue."""

    purpose: Literal["submission", "result"] = "submission"
