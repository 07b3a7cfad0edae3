"""How the server reaches one department's system (setting ``department_connectors``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class ConnectorSettings(BaseModel):
    """One department's connector: its API, our signing key, its pinned public key.

    In the environment: ``VCOUNTER_DEPARTMENT_CONNECTORS='{"taxation": {"url": ..., "key":
    ..., "department_key": ...}}'``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://")
    # who we are to the department (it pins our public key under this id)
    client_id: str = Field(default="vcounter", min_length=1, max_length=32)
    # our Ed25519 request-signing key (PEM; made on first start, give its .pub to the department)
    key: Path
    # the department's public key (PEM), pinned: its answers must verify with it
    department_key: Path
    # the whole query, retry included, must be answered within this
    timeout_s: float = Field(default=15.0, gt=0, le=120)
    # after this long the kiosk tells the applicant the department is slow (and keeps waiting)
    slow_after_s: float = Field(default=3.0, gt=0)
    # a failed attempt (no answer, 5xx) is tried again this many times while time is left
    retries: int = Field(default=1, ge=0, le=3)
