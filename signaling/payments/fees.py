"""A service's fee: an exact amount in one currency, and when in the session it is due.

Amounts are written as decimal strings in the catalogue (``"80.00"``) and kept as integer
minor units everywhere else (fen, cents, avos: all three currencies have two decimals), so
no float ever touches money.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Currency = Literal["CNY", "HKD", "MOP"]
CURRENCIES: tuple[Currency, ...] = ("CNY", "HKD", "MOP")
# before_submission: paid at the kiosk after the signature, before the acceptance number;
# on_approval: paid when the approved result is printed by acceptance number
Due = Literal["before_submission", "on_approval"]
MINOR_PER_MAJOR = 100
# the largest fee a counter takes at a kiosk (QR payments have per-transaction limits)
MAX_MINOR = 5_000_000


class FeeError(ValueError):
    """A fee amount that is not an exact positive amount of at most two decimals."""


def to_minor(amount: str) -> int:
    """``"80.00"`` -> ``8000``; raises :class:`FeeError` saying what is wrong."""
    try:
        value = Decimal(amount)
    except InvalidOperation as exc:
        raise FeeError(f'amount {amount!r} is not a decimal number; write it like "80.00"') from exc
    if not value.is_finite() or value <= 0:
        raise FeeError(f"amount {amount!r} must be more than zero")
    minor = value * MINOR_PER_MAJOR
    if minor != minor.to_integral_value():
        raise FeeError(f"amount {amount!r} has more than two decimals")
    if minor > MAX_MINOR:
        raise FeeError(f"amount {amount!r} is over the kiosk limit of {MAX_MINOR // 100}")
    return int(minor)


def format_amount(minor: int, currency: str) -> str:
    """``8000, "CNY"`` -> ``"CNY 80.00"``: how receipts, screens and reports show money."""
    return f"{currency} {minor // MINOR_PER_MAJOR}.{minor % MINOR_PER_MAJOR:02d}"


class Fee(BaseModel):
    """A service's fee as the catalogue states it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: str = Field(description='exact decimal, e.g. "80.00"')
    currency: Currency
    due: Due

    @field_validator("amount")
    @classmethod
    def _exact(cls, amount: str) -> str:
        to_minor(amount)
        return amount

    @property
    def minor(self) -> int:
        """The amount in minor units (fen, cents, avos)."""
        return to_minor(self.amount)
