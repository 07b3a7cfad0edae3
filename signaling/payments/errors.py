"""Errors of fees and payment::

SignalingError                     (signaling.errors)
└── PaymentError                   base of this package
    ├── PaymentConfigError         a key or provider setting is missing or unreadable
    ├── PaymentUnavailable         no provider configured, or it does not answer
    ├── ProviderRefused            the provider answered with an error (``code`` is its)
    ├── BadSignature               a provider message whose signature does not verify
    ├── NotificationRefused        a notification forged, stale, replayed or for no order
    ├── PaymentNotDue              nothing to pay for this session now
    └── PaymentStateError          an order cannot go from its state to the one asked
"""

from __future__ import annotations

from signaling.errors import SignalingError


class PaymentError(SignalingError):
    code = "payment_error"


class PaymentConfigError(PaymentError):
    code = "payment_config"


class PaymentUnavailable(PaymentError):
    code = "payment_unavailable"


class ProviderRefused(PaymentError):
    code = "provider_refused"

    def __init__(self, message: str, provider_code: str = "") -> None:
        super().__init__(message)
        self.provider_code = provider_code


class BadSignature(PaymentError):
    code = "bad_signature"


class NotificationRefused(PaymentError):
    """``reason``: forged, stale, replayed, unknown_order or malformed (logged as such)."""

    code = "notification_refused"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class PaymentNotDue(PaymentError):
    code = "payment_not_due"


class PaymentStateError(PaymentError):
    code = "payment_state"
