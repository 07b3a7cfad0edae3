"""Server settings: ``VCOUNTER_*`` environment variables over an optional TOML file.

Precedence (highest first): constructor arguments, environment, the TOML file named by
``VCOUNTER_CONFIG`` (or ``--config``), defaults. Defaults are the embedded mode: SQLite and
files under ``./.data``, one process, no TURN.
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from signaling.departments.config import ConnectorSettings
from signaling.eid.config import EidProviderSettings
from signaling.errors import ConfigError
from signaling.messages import IcePolicy, IceServer
from signaling.paperwork.seal_keys import SealFiles
from storage.db import default_sqlite_url


class Settings(BaseSettings):
    """Everything the server reads at start; one instance per process."""

    model_config = SettingsConfigDict(env_prefix="VCOUNTER_", extra="forbid")

    data_dir: Path = Path(".data")
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # the address clients use (https://counter.example.gov); links are built from it only
    public_url: str | None = None
    # further origins whose pages may open the consoles' sockets (besides public_url's)
    allowed_origins: list[str] = Field(default_factory=list)
    # Loopback needs no STUN; an explicit empty list also stops aiortc's public STUN fallback.
    ice_servers: list[IceServer] = Field(default_factory=list)
    turn_urls: list[str] = Field(default_factory=list)
    turn_secret: str | None = None
    turn_ttl_s: int = Field(default=3600, ge=60)
    # "relay": both ends send media only through TURN (turn_urls and turn_secret, or a turn:
    # URL among ice_servers, needed)
    ice_transport_policy: IcePolicy = "all"
    secret_key: str | None = None
    # short: the consoles refresh their token at half its life (POST /api/token/refresh)
    token_ttl_s: int = Field(default=1800, ge=60)
    offer_timeout_s: float = Field(default=20.0, gt=0)
    events_per_second: float = Field(default=30.0, gt=0)
    event_burst: int = Field(default=100, ge=1)
    # a socket that has not signed in to a namespace this long after opening is closed, and
    # one address may hold at most this many such sockets at once
    socket_auth_timeout_s: float = Field(default=10.0, gt=0)
    unauthenticated_sockets_per_address: int = Field(default=20, ge=1)
    # what may wait in one socket's send queue; a client that stops reading is dropped
    # beyond it (it reconnects with its resume token and gets a snapshot)
    socket_send_queue_bytes: int = Field(default=1024 * 1024, ge=4096)
    log_level: str = "INFO"
    # the service catalogue (departments, services, materials, skill rules); None: the one
    # shipped in signaling/data/catalogue.json. Every process of a deployment reads the same.
    catalogue_file: Path | None = None
    # sign-in throttling: failed attempts allowed per account / per address, and for how long
    # they count (a success clears the account's count)
    login_failures_per_account: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=10, ge=1)
    login_window_s: float = Field(default=900.0, gt=0)
    # password checks a minute for addresses that have not signed in before, all together:
    # past it they are told "busy" at no cost (a clerk at a known desk is never held up)
    login_checks_per_minute: float = Field(default=30.0, gt=0)
    # and how many of them may come at once before that rate applies
    login_checks_burst: int = Field(default=5, ge=1)
    # public /verify: requests per minute per address
    verify_per_minute: float = Field(default=20.0, gt=0)
    # callbacks: a kiosk whose estimated wait exceeds this (or with nobody on duty) offers to
    # leave a phone number instead; a task closes as unreachable after this many unanswered
    # attempts; the applicant is told to expect the call within callback_expect_within_s
    callback_offer_after_s: float = Field(default=600.0, ge=0)
    callback_max_attempts: int = Field(default=3, ge=1)
    callback_expect_within_s: int = Field(default=4 * 3600, ge=60)
    # appointments (README "Appointments"): the public booking page's requests per address
    # a minute (reads: the slots; changes: book, look up, cancel, and a kiosk's check-ins),
    # and how often no-shows are recorded and early arrivals' kiosks told their slot began
    appointment_reads_per_minute: float = Field(default=60.0, gt=0)
    appointment_changes_per_minute: float = Field(default=12.0, gt=0)
    appointment_sweep_s: float = Field(default=5.0, gt=0)
    # complaints: the department answers within this many working days (Monday to Friday,
    # not complaint_holidays) after the day of filing, on the calendar of complaint_timezone;
    # status lookups by number and access code allowed per minute per kiosk or address, and
    # per complaint number per hour (whoever asks: guessing one number's code gets nowhere)
    complaint_working_days: int = Field(default=10, ge=1, le=60)
    complaint_holidays: list[date] = Field(default_factory=list)
    complaint_timezone: str = "Asia/Hong_Kong"
    complaint_lookups_per_minute: float = Field(default=10.0, gt=0)
    complaint_number_lookups_per_hour: int = Field(default=10, ge=1)

    # materials to follow (容缺受理): the due date is this many working days after acceptance
    # when the catalogue names none, at most to_follow_max_days (the clerk may shorten it);
    # working days are Monday to Friday, not to_follow_holidays, on to_follow_timezone's
    # calendar. The reminder is recorded to_follow_reminder_days before the due date; lookups
    # at the kiosk are limited per kiosk per minute; the sweep runs every to_follow_sweep_s
    to_follow_days: int = Field(default=5, ge=1, le=30)
    to_follow_max_days: int = Field(default=30, ge=1, le=60)
    to_follow_reminder_days: int = Field(default=2, ge=0, le=30)
    to_follow_holidays: list[date] = Field(default_factory=list)
    to_follow_timezone: str = "Asia/Hong_Kong"
    to_follow_lookups_per_minute: float = Field(default=6.0, gt=0)
    to_follow_sweep_s: float = Field(default=60.0, gt=0)

    @field_validator("complaint_timezone", "to_follow_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"{value!r} is not a time zone name; use one like Asia/Hong_Kong or Asia/Macau"
            ) from exc
        return value

    # how long a signed media link (a recording, a file in a new tab) works
    media_url_ttl_s: int = Field(default=300, ge=10)
    # partial uploads: how long one may wait for its rest, and how many one kiosk may hold
    upload_max_age_s: float = Field(default=6 * 3600.0, gt=0)
    uploads_per_kiosk: int = Field(default=20, ge=1)
    # how often the server signs every session chain's head (0: never; `vcounter audit checkpoint`)
    checkpoint_interval_s: float = Field(default=300.0, ge=0)
    # the checkpoint signing key (Ed25519 PEM, made on first use): keep it outside data_dir,
    # readable only by the server, so a copy of the data cannot sign; processes share it
    checkpoint_key_file: Path | None = None
    # verification allows checkpoint_interval_s x checkpoint_slack between an event and the
    # checkpoint that covers it; beyond that checkpoints count as missing
    checkpoint_slack: float = Field(default=2.0, ge=1.0)
    # the checkpoint keys a verifier trusts: fingerprints (64 hex) or PEM public key files
    audit_public_keys: list[str] = Field(default_factory=list)
    # where every checkpoint is also published: an append-only directory or an http(s) URL
    audit_witness: str | None = None
    # RFC 3161 time-stamping authority for checkpoints and seals (PAdES B-T); its roots
    tsa_url: str | None = None
    tsa_roots: list[Path] = Field(default_factory=list)
    # real seal key/certificate per department id; others use the development seal in data_dir
    seals: dict[str, SealFiles] = Field(default_factory=dict)
    # several processes (README "Running several processes"): python-socketio's Redis manager
    # carries messages between them when set; the channel keeps deployments sharing one Redis
    # (or tests running side by side) apart
    redis_url: str | None = None
    redis_channel: str = "vcounter"
    # how long a dropped kiosk or console may take to come back with its resume token
    grace_s: float = Field(default=30.0, gt=0)
    # how long a call's media may stay broken (a network cut) while both ends try to get it
    # back within the session; past it the call ends and the applicant is offered the front
    # of the queue
    media_recovery_s: float = Field(default=60.0, gt=0)
    # a break this old (or this long after the last try) gets a new peer connection: a
    # browser's ICE may stay dead after the path is back
    media_restart_s: float = Field(default=8.0, gt=0)
    # a process that has not renewed its lease for this long is dead (its sockets are dropped)
    process_lease_s: float = Field(default=10.0, gt=0)
    # how often each process renews its lease and resolves what the store says is overdue
    sweep_interval_s: float = Field(default=1.0, gt=0)
    # a clerk who passed on a call gets it again after this pause if nobody else can take it
    decline_pause_s: float = Field(default=10.0, ge=0)
    # the most a call waits behind calls that came after it: a recall's head start in line (a
    # care-mode call gets half); waiting ages every call alike (storage/routing.rank_time)
    aging_ceiling_s: float = Field(default=300.0, ge=0)
    # a call transferred to a named clerk rings only them this long (also after they pass on
    # it or it rings out), then any clerk of their department
    transfer_reserve_s: float = Field(default=60.0, ge=0)
    # at SIGTERM: readiness goes false at once, and the process keeps serving this long before
    # it closes its sockets, so the proxy's health check takes it out of rotation first
    drain_s: float = Field(default=0.0, ge=0)
    # `vcounter serve`'s garbage collector (signaling/collector.py): survivors are frozen
    # this often, and a full pass (one pause) runs this often
    gc_freeze_interval_s: float = Field(default=10.0, gt=0)
    gc_full_interval_s: float = Field(default=900.0, gt=0)
    # /readyz gives the database (and Redis) this long to answer
    ready_timeout_s: float = Field(default=2.0, gt=0)
    # proxies whose X-Forwarded-For names the client (e.g. ["127.0.0.1"] behind a local HAProxy)
    trusted_proxies: list[str] = Field(default_factory=list)
    # socket handshakes per client address: a hall's kiosks behind one NAT reconnect together
    # after a server dies, so size this for the largest hall
    socket_connects_per_minute: float = Field(default=600.0, gt=0)
    socket_connect_burst: int = Field(default=300, ge=1)
    # socket handshakes doing their database work at once in this process, and how long
    # another waits for a turn before it is refused as busy (the client retries by itself;
    # signaling/admission.py says why)
    handshakes_at_once: int = Field(default=16, ge=1)
    handshake_wait_s: float = Field(default=15.0, gt=0)
    # sockets closed for junk frames, per client address and window: past it
    # that address's handshakes are refused until its oldest strike leaves the window
    socket_strikes_per_address: int = Field(default=10, ge=1)
    socket_strike_window_s: float = Field(default=60.0, gt=0)
    # how long a throttled caller (429) waits for its refusal, at most its Retry-After: a
    # script that asks again at once then asks a few times a minute (0: answer at once)
    refusal_delay_s: float = Field(default=2.0, ge=0)
    # after each call the clerk is in wrap-up, not rung, until they file the call's
    # disposition; this long before the console says the time is over (0: no wrap-up, the
    # clerk is available at once, as the load generator and most tests run)
    wrap_up_s: float = Field(default=60.0, ge=0)
    # each press of "more time" adds this much, up to wrap_up_max_s from the start in all
    wrap_up_extend_s: float = Field(default=30.0, gt=0)
    wrap_up_max_s: float = Field(default=300.0, gt=0)
    # what a clerk stepping away says why (ids; the consoles name the default ones)
    away_reasons: list[str] = Field(
        default_factory=lambda: ["break", "meal", "training", "meeting"], min_length=1
    )
    # --- the service map (signaling/places.py) ---
    # socket.io pings: a kiosk whose pong is 1.5 s overdue is offline on the map
    # (signaling/kiosk_liveness.py), so pings go often; a socket silent for their sum is
    # closed (45 s, as the library's 25 + 20 s: a call survives a short cut). Every ping
    # costs both ends: under bench.load's 2,200 sockets relay p99 was 32 ms at 25 s,
    # 52 ms at 3 s and 70 ms at 2 s
    socket_ping_interval_s: float = Field(default=5.0, gt=0)
    socket_ping_timeout_s: float = Field(default=40.0, gt=0)
    # the public map's list per client address (a page polls it every 1.5 s while shown)
    places_per_minute: float = Field(default=300.0, gt=0)
    places_burst: int = Field(default=60, ge=1)
    # fees and payment (signaling/payments): the provider's API (None: fees cannot be taken,
    # and a service with a fee stops at payment with a sentence saying so); its name is the
    # last part of the notify URL, /api/payments/notify/<name>
    payments_url: str | None = None
    payments_provider: str = Field(default="sandbox", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    payments_merchant_id: str = Field(default="vcounter", min_length=1, max_length=32)
    # our Ed25519 request-signing key (made on first start; give its .pub to the provider)
    payments_merchant_key: Path | None = None
    # the provider's public key (PEM), pinned: notifications and answers must verify with it
    payments_provider_public_key: Path | None = None
    payments_order_ttl_s: int = Field(default=300, ge=30, le=7200)
    # a notification's timestamp must be this close to our clock; its nonce is kept as long
    payments_notify_window_s: float = Field(default=300.0, ge=10)
    # self-service (signaling/self_service): each department's system, by department id;
    # none: the catalogue's self-service services are not offered
    department_connectors: dict[str, ConnectorSettings] = Field(default_factory=dict)
    # a self-service session still open this long after it began was left by its applicant
    # and its kiosk (a kiosk that died mid-way): any process's sweep ends it ("abandoned")
    self_service_abandon_s: float = Field(default=1800.0, gt=0)

    # e-ID sign-in (signaling/eid): the OpenID Connect providers the kiosk offers, how long
    # a sign-in QR code works, and the phone routes' requests per address a minute
    eid_providers: list[EidProviderSettings] = Field(default_factory=list)
    eid_attempt_ttl_s: int = Field(default=300, ge=30, le=1800)
    eid_per_minute: float = Field(default=30.0, gt=0)

    @field_validator("eid_providers")
    @classmethod
    def _eid_ids_unique(cls, providers: list[EidProviderSettings]) -> list[EidProviderSettings]:
        ids = [p.id for p in providers]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"e-ID provider ids must differ; {', '.join(twice)} is used twice")
        return providers

    @field_validator("away_reasons")
    @classmethod
    def _reason_ids(cls, reasons: list[str]) -> list[str]:
        for reason in reasons:
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", reason):
                raise ValueError(
                    f"{reason!r} is not a reason id; use lowercase letters, digits, - and _"
                    " (at most 32), e.g. break"
                )
        return reasons

    @field_validator("public_url")
    @classmethod
    def _public_scheme(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} is not an http(s) URL; use e.g. https://counter.example.gov")
        return url

    @field_validator("turn_urls")
    @classmethod
    def _turn_scheme(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("turn:", "turns:")):
                raise ValueError(f"{url!r} is not a TURN URL; use turn:host:port or turns:...")
        return urls

    @model_validator(mode="after")
    def _relay_needs_turn(self) -> Settings:
        turn = (self.turn_urls and self.turn_secret) or any(
            url.startswith(("turn:", "turns:"))
            for server in self.ice_servers
            for url in server.urls
        )
        if self.ice_transport_policy == "relay" and not turn:
            raise ValueError(
                "ice_transport_policy is relay but no TURN server is configured; set turn_urls"
                " and turn_secret (or put a turn: URL in ice_servers), or use all"
            )
        return self

    @model_validator(mode="after")
    def _wrap_up_fits(self) -> Settings:
        if self.wrap_up_max_s < self.wrap_up_s:
            raise ValueError(
                f"wrap_up_max_s ({self.wrap_up_max_s:g}) is shorter than wrap_up_s"
                f" ({self.wrap_up_s:g}); make the longest wrap-up at least the first one"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config = os.environ.get("VCOUNTER_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config)))
        return tuple(sources)

    @property
    def payments_merchant_key_path(self) -> Path:
        """Our payment request-signing key: ``payments_merchant_key`` or under ``data_dir``."""
        return self.payments_merchant_key or self.data_dir / "payments-merchant.pem"

    @property
    def db_url(self) -> str:
        """The database URL in force: the configured one or SQLite under ``data_dir``."""
        return self.database_url or default_sqlite_url(self.data_dir)

    @property
    def checkpoint_key_path(self) -> Path:
        """The checkpoint signing key: ``checkpoint_key_file`` or ``data_dir/audit-signing.pem``."""
        return self.checkpoint_key_file or self.data_dir / "audit-signing.pem"

    @property
    def checkpoint_max_gap_s(self) -> float | None:
        """The longest an event may wait for a checkpoint (None when checkpoints are manual)."""
        interval = self.checkpoint_interval_s
        return interval * self.checkpoint_slack if interval > 0 else None

    def signing_key(self) -> str:
        """The token-signing key; generated once into ``data_dir`` so tokens survive restarts."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key, encoding="utf-8")
        path.chmod(0o600)
        return key


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read settings, turning a bad value into a :class:`ConfigError` that names it."""
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(f"config file {config_file} does not exist; check --config")
        os.environ["VCOUNTER_CONFIG"] = str(config_file)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        if not where:  # a rule across several settings: its message names them
            raise ConfigError(f"settings do not fit together: {first['msg']}") from exc
        raise ConfigError(f"setting {where!r} is invalid: {first['msg']}") from exc
