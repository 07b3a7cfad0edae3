"""One identity provider's settings (``eid_providers`` in :class:`signaling.settings.Settings`).

A TOML file lists them (``[[eid_providers]]``); so may ``VCOUNTER_EID_PROVIDERS`` as JSON. The
client secret is never written in the list itself: ``client_secret_file`` names a file (mode
600, like the other keys) or ``client_secret_env`` an environment variable. A setting that
cannot work stops the server at start-up with a sentence naming it.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from signaling.jurisdictions import Jurisdiction

ClaimField = Literal["name", "name_latin", "document_number", "document_type", "birth_date"]
# the mapping the development provider (and many real ones) use
DEFAULT_CLAIMS: dict[ClaimField, str] = {
    "name": "name",
    "name_latin": "name_en",
    "document_number": "document_number",
    "document_type": "document_type",
    "birth_date": "birthdate",
}
PROVIDER_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EidProviderSettings(BaseModel):
    """An OpenID Connect provider the kiosk offers ("Sign in with 智方便")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    # what the kiosk's button says, in each of its languages
    name_zh_hant: str = Field(min_length=1, max_length=40)
    name_zh_hans: str = Field(min_length=1, max_length=40)
    name_en: str = Field(min_length=1, max_length=40)
    # exactly as the provider's discovery document and ID tokens state it
    issuer: str
    client_id: str = Field(min_length=1, max_length=200)
    client_secret_file: Path | None = None
    client_secret_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile"], min_length=1)
    # our field -> the provider's claim; name and document_number are required
    claims: dict[ClaimField, str] = Field(default_factory=lambda: dict(DEFAULT_CLAIMS))
    # an ``acr`` in strong_acr, or all of strong_amr among the ``amr``, counts as a card read
    # plus a face match; anything else is weaker and the clerk must confirm the identity
    strong_acr: list[str] = Field(default_factory=list)
    strong_amr: list[str] = Field(default_factory=list)
    # acr_values asked of the provider (None: ask for none)
    acr_values: str | None = None
    algorithms: list[str] = Field(default_factory=lambda: ["RS256"], min_length=1)
    leeway_s: int = Field(default=30, ge=0, le=300)
    # where the provider's residents stand: kiosks at places in these jurisdictions offer it
    # (智方便 in Hong Kong, 一戶通 in Macau; a mainland kiosk's applicants have neither).
    # Empty: every kiosk; a kiosk at no place on the map offers every provider.
    jurisdictions: list[Jurisdiction] = Field(default_factory=list)
    timeout_s: float = Field(default=10.0, gt=0, le=60)
    _secret: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _sound(self) -> EidProviderSettings:
        where = f"e-ID provider {self.id!r}"
        parts = urlsplit(self.issuer)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(
                f"{where}: issuer {self.issuer!r} is not a URL; use the provider's issuer,"
                " e.g. https://id.example.gov"
            )
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise ValueError(
                f"{where}: issuer {self.issuer!r} is plain http; only a provider on this machine"
                " (loopback) may use http, any other needs https"
            )
        if parts.query or parts.fragment:
            raise ValueError(f"{where}: issuer {self.issuer!r} may have no query or fragment")
        if "openid" not in self.scopes:
            raise ValueError(f"{where}: scopes must include openid (they are {self.scopes})")
        missing = [f for f in ("name", "document_number") if f not in self.claims]
        if missing:
            raise ValueError(f"{where}: claims must say which claim gives {' and '.join(missing)}")
        bad = [a for a in self.algorithms if a not in PROVIDER_ALGORITHMS]
        if bad:
            raise ValueError(
                f"{where}: algorithms {bad} are not accepted; use some of"
                f" {', '.join(PROVIDER_ALGORITHMS)} (never none or an HMAC)"
            )
        if not self.strong_acr and not self.strong_amr:
            raise ValueError(
                f"{where}: say which sign-ins are as strong as a card and face check:"
                ' set strong_acr or strong_amr (e.g. strong_acr = ["urn:...:loa:high"])'
            )
        self._secret = self._read_secret(where)
        return self

    def _read_secret(self, where: str) -> str:
        if (self.client_secret_file is None) == (self.client_secret_env is None):
            raise ValueError(
                f"{where}: set exactly one of client_secret_file and client_secret_env"
            )
        if self.client_secret_env is not None:
            secret = os.environ.get(self.client_secret_env, "")
            if not secret.strip():
                raise ValueError(
                    f"{where}: the environment variable {self.client_secret_env} holding the"
                    " client secret is not set"
                )
            return secret.strip()
        assert self.client_secret_file is not None
        try:
            secret = self.client_secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(
                f"{where}: client_secret_file {self.client_secret_file} cannot be read"
                f" ({exc.strerror}); create it with the secret the provider gave you"
            ) from exc
        if not secret:
            raise ValueError(f"{where}: client_secret_file {self.client_secret_file} is empty")
        return secret

    @property
    def client_secret(self) -> str:
        """The client secret, read from its file or variable at start-up."""
        return self._secret

    def offered_in(self, jurisdiction: Jurisdiction | None) -> bool:
        """Whether a kiosk at a place in ``jurisdiction`` (None: at no place) offers it."""
        return jurisdiction is None or not self.jurisdictions or jurisdiction in self.jurisdictions

    def name(self, language: str) -> str:
        """The provider's name in ``language`` (zh-Hant, zh-Hans or en)."""
        return {"zh-Hant": self.name_zh_hant, "zh-Hans": self.name_zh_hans}.get(
            language, self.name_en
        )
