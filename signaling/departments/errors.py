"""Errors of the department connectors and the self-service flow.

::

    VcounterError
     └── SignalingError
          └── DepartmentError
               ├── DepartmentUnavailable   the department's system did not answer usably
               │                           (timeout, 5xx, an unsigned or malformed answer)
               ├── DepartmentRefused       it answered: no record, not eligible (its code)
               ├── ConnectorConfigError    a connector's settings or keys are unusable
               ├── NotSelfService          the service is not self-service (or is)
               └── IdentityNotVerified     no verified identity in the session's chain yet
"""

from __future__ import annotations

from signaling.errors import SignalingError


class DepartmentError(SignalingError):
    code = "department_error"


class DepartmentUnavailable(DepartmentError):
    code = "department_unavailable"


class DepartmentRefused(DepartmentError):
    """The department answered and refused; ``reason`` is its code (``no_record``, ...)."""

    code = "department_refused"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ConnectorConfigError(DepartmentError):
    code = "connector_config_error"


class NotSelfService(DepartmentError):
    code = "not_self_service"


class IdentityNotVerified(DepartmentError):
    code = "identity_not_verified"
