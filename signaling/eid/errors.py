"""Errors of e-ID sign-in::

SignalingError                     (signaling.errors)
└── EidError                       base of this package; ``code`` names the refusal
    ├── EidConfigError             a provider setting is missing, unreadable or unsafe
    ├── ProviderUnavailable        the provider does not answer, or answers nonsense
    ├── AttemptRefused             the sign-in attempt is unknown, used or expired
    ├── ProviderDenied             the provider sent an error (the applicant said no)
    └── TokenRefused               the ID token failed a check (issuer, signature, time,
                                   nonce, audience, at_hash, claims)

Each message is a sentence for the applicant's phone and the log; ``code`` is stable and is
what the chain event, the kiosk and the tests use.
"""

from __future__ import annotations

from signaling.errors import SignalingError


class EidError(SignalingError):
    code = "eid_error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class EidConfigError(EidError):
    code = "eid_config"


class ProviderUnavailable(EidError):
    code = "eid_provider_unavailable"


class AttemptRefused(EidError):
    """``code``: eid_unknown_attempt, eid_replayed_state, eid_attempt_expired, eid_link_used."""

    code = "eid_attempt_refused"


class ProviderDenied(EidError):
    code = "eid_denied"


class TokenRefused(EidError):
    """``code``: eid_bad_issuer, eid_bad_signature, eid_expired_token, eid_bad_nonce,
    eid_bad_audience, eid_bad_at_hash, eid_missing_claims, eid_bad_token."""

    code = "eid_bad_token"
