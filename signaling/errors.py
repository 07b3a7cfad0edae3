"""Errors of the signalling server; the tree is drawn in :mod:`storage.errors`."""

from __future__ import annotations

from storage.errors import VcounterError


class SignalingError(VcounterError):
    code = "signaling_error"


class AuthError(SignalingError):
    code = "unauthorized"


class SignInExpired(AuthError):
    """The clerk's token has run out: not a fault, they sign in again (the console says so)."""

    code = "sign_in_expired"


class InvalidMessage(SignalingError):
    """A payload failed validation; ``field`` names the first offending field."""

    code = "invalid_message"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotYourSession(SignalingError):
    code = "not_your_session"


class IllegalTransition(SignalingError):
    code = "illegal_transition"


class UnknownService(SignalingError):
    code = "unknown_service"


class RateLimited(SignalingError):
    code = "rate_limited"


class ConfigError(SignalingError):
    code = "config_error"


class ServerDraining(SignalingError):
    """This process is stopping; clients reconnect (through the proxy) to another one."""

    code = "server_draining"


class ServerBusy(SignalingError):
    """Too many handshakes at once here; the client retries after a short, random pause."""

    code = "server_busy"


class InvalidPlace(SignalingError):
    """A place for the service map that cannot be saved: the message names the field and why."""

    code = "invalid_place"


class ServiceNotHere(SignalingError):
    """A kiosk asked for a service of a direction its place does not serve (a mainland kiosk
    for a mainland department's service, say): the message names the place and its directions."""

    code = "service_not_here"
