"""The tables: catalogue, clerks, terminals, call sessions and their hash-chained events.

Every timestamp is a timezone-aware UTC ``datetime`` on the way in and on the way out, on
SQLite as on PostgreSQL (see :class:`UTCDateTime`). Migrations live in
``storage/migrations``; change a model, then add a revision there.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Named constraints so later migrations can drop or alter them by name on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC; the default for every ``*_at`` column."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A ``timestamptz`` that refuses naive datetimes and always loads aware UTC ones.

    SQLite keeps no offset and hands back naive values; they were stored as UTC, so UTC is
    attached on load.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} given; pass an aware one, e.g. datetime.now(UTC)"
            )
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # {"en": ..., "zh-Hant": ..., ...} as in the catalogue file
    names: Mapped[dict[str, str]] = mapped_column(JSON)


class Service(Base):
    __tablename__ = "services"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), index=True)
    names: Mapped[dict[str, str]] = mapped_column(JSON)
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    second_approval: Mapped[bool] = mapped_column(default=False)


class Clerk(Base):
    __tablename__ = "clerks"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    # argon2id encoded hash (parameters and salt included)
    password_hash: Mapped[str] = mapped_column(String(255))
    departments: Mapped[list[str]] = mapped_column(JSON, default=list)
    # skill name -> level 1-5 ("service:<id>", "dept:<id>", "lang:<code>", "care"; see
    # storage/skills.py); copied to the presence row, where the matcher reads it
    skills: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    role: Mapped[str] = mapped_column(String(32), default="clerk")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # every token carries the version it was issued under; bumping it revokes them all
    token_version: Mapped[int] = mapped_column(default=0, server_default="0")
    disabled: Mapped[bool] = mapped_column(default=False, server_default=false())


class Terminal(Base):
    __tablename__ = "terminals"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    # sha256 hex of the device token: a leaked table does not let anyone connect as a kiosk
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    location: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # a revoked kiosk's token is refused everywhere; `vcounter terminal rotate` issues a new one
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class CallSession(Base):
    """One applicant's request from a kiosk, from queueing to the end of the call."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"), index=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"), index=True)
    # the service's department when the session was queued (kept in step by the catalogue
    # sync while it is active): the matcher reads each department's line by index
    department_id: Mapped[str | None] = mapped_column(String(64), default=None)
    clerk_id: Mapped[int | None] = mapped_column(ForeignKey("clerks.id"), index=True, default=None)
    language: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(32), default="queued")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    end_reason: Mapped[str | None] = mapped_column(String(64), default=None)
    # care mode (关爱模式): the applicant asked for larger type and spoken prompts; kept for reporting
    care_mode: Mapped[bool] = mapped_column(default=False)
    # the applicant's 1-5 rating after the call, once; None until rated
    rating: Mapped[int | None] = mapped_column(default=None)
    rating_comment: Mapped[str | None] = mapped_column(Text, default=None)
    # --- routing of record (migration 0107_routing): any process may route from these
    # higher first: 2 a recall after a lost call, 1 care mode, 0 everyone else
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # when the session joined the queue, by the database's clock (the same for every process)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # the place in line: enqueued_at less the priority's head start (migration 0123)
    rank_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # while offered: when the ringing clerk's chance ends (enforced by any process's sweeper)
    offer_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # +1 on every committed state change; messages carry it so a receiver notices a gap
    version: Mapped[int] = mapped_column(Integer, default=0)
    # [[clerk_id, iso time], ...]: who passed the call on, and when
    declined_by: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)
    # the kiosk's SDP offer made while it waits, for whichever clerk accepts
    early_offer: Mapped[str | None] = mapped_column(Text, default=None)
    offer_shown_to: Mapped[int | None] = mapped_column(Integer, default=None)
    ice_servers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    step: Mapped[int] = mapped_column(Integer, default=1)
    # the lost call this one takes the front of the queue for
    recall_of: Mapped[str | None] = mapped_column(String(32), default=None)
    # the head of the session's event chain: its last event's seq and hash (0 and the genesis
    # hash before the first), written with every append (migration 0120_chain_head)
    chain_seq: Mapped[int] = mapped_column(Integer, default=0)
    chain_hash: Mapped[str] = mapped_column(String(64), default="0" * 64)
    # --- media recovery (migration 0121_media_breaks): while the call's media is broken,
    # since when (any process's sweeper ends the call past the limit) and what each side said
    media_down_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    media_break: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # the call's peer connection: 0 the first, +1 each time the kiosk makes a new one
    media_attempt: Mapped[int] = mapped_column(Integer, default=0)
    # --- transfers (migration 0126_transfers): how often a clerk handed the session on (it
    # keeps its enqueued_at, so its place in the line); while one waits to be taken up, who
    # handed it on, and the clerk it is kept for until reserved_until (then its department's)
    transfers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    transferred_from: Mapped[int | None] = mapped_column(Integer, default=None)
    reserved_for: Mapped[int | None] = mapped_column(Integer, default=None)
    reserved_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # a warm transfer: the clerk consulted (their presence is "consulting", so the matcher
    # never rings them), "ringing" or "talking", and the department they would take it up for
    consult_clerk_id: Mapped[int | None] = mapped_column(Integer, default=None)
    consult_state: Mapped[str | None] = mapped_column(String(16), default=None)
    consult_department: Mapped[str | None] = mapped_column(String(64), default=None)

    # Two rows cannot be active for one clerk or one kiosk: a double assignment is impossible
    # in the database whatever any process believes (partial unique indexes, both backends).
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        Index(
            "uq_sessions_clerk_active",
            "clerk_id",
            unique=True,
            sqlite_where=text("state IN ('offered','connecting','in_call')"),
            postgresql_where=text("state IN ('offered','connecting','in_call')"),
        ),
        Index(
            "uq_sessions_terminal_active",
            "terminal_id",
            unique=True,
            sqlite_where=text("state IN ('queued','offered','connecting','in_call')"),
            postgresql_where=text("state IN ('queued','offered','connecting','in_call')"),
        ),
        Index("ix_sessions_state_queue", "state", "priority", "enqueued_at"),
        # each department's line in order (migrations 0122, 0123): the matcher's heads
        Index(
            "ix_sessions_queued_line",
            "department_id",
            "rank_at",
            "id",
            sqlite_where=text("state = 'queued'"),
            postgresql_where=text("state = 'queued'"),
        ),
    )


class Callback(Base):
    """An applicant who left a phone number instead of waiting: a clerk calls them back
    (migration 0125_callbacks). Every change is an event in the originating session's chain."""

    __tablename__ = "callbacks"

    # what the applicant is shown and a clerk reads out: short, no look-alike characters
    reference: Mapped[str] = mapped_column(String(16), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), unique=True)
    department_id: Mapped[str] = mapped_column(String(64))
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"))
    language: Mapped[str] = mapped_column(String(16))
    # personal data (E.164): shown only to the clerk who took the task, never logged
    phone: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    taken_by: Mapped[int | None] = mapped_column(ForeignKey("clerks.id"), default=None)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    # the open tasks of a department, oldest first: what every clerk's panel reads
    __table_args__ = (Index("ix_callbacks_line", "state", "department_id", "created_at"),)


class ClerkPresence(Base):
    """A clerk's work state and where their console is connected; the routing's view of them."""

    __tablename__ = "clerk_presence"

    clerk_id: Mapped[int] = mapped_column(ForeignKey("clerks.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="offline")
    state_since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    idle_since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    session_id: Mapped[str | None] = mapped_column(String(32), default=None)
    departments: Mapped[list[str]] = mapped_column(JSON, default=list)
    skills: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # the process whose socket.io server holds the console's socket, and that socket
    process_id: Mapped[str | None] = mapped_column(String(40), default=None)
    sid: Mapped[str | None] = mapped_column(String(64), default=None)
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    # set when the socket dropped (or its process died): the grace period runs from here
    disconnected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    resume_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    version: Mapped[int] = mapped_column(Integer, default=0)
    # why the clerk stepped away (one of the away_reasons setting), while away
    away_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    # in wrap-up: the call it is for and when its time is up (extended by the clerk)
    wrap_up_session_id: Mapped[str | None] = mapped_column(String(32), default=None)
    wrap_up_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


def _log_id() -> str:
    return uuid.uuid4().hex


class ClerkStateLog(Base):
    """One clerk's work state from ``started_at`` until their next row: the work report's
    record, written in the transaction that changes the state."""

    __tablename__ = "clerk_state_log"
    __table_args__ = (Index("ix_clerk_state_log_clerk_started", "clerk_id", "started_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_log_id)
    clerk_id: Mapped[int] = mapped_column(ForeignKey("clerks.id"))
    state: Mapped[str] = mapped_column(String(16))
    # the away reason while away; the call while ringing, busy or in its wrap-up
    reason: Mapped[str | None] = mapped_column(String(32), default=None)
    session_id: Mapped[str | None] = mapped_column(String(32), default=None)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class TerminalPresence(Base):
    """Where a kiosk's socket is connected; its grace period after a drop."""

    __tablename__ = "terminal_presence"

    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"), primary_key=True)
    process_id: Mapped[str | None] = mapped_column(String(40), default=None)
    sid: Mapped[str | None] = mapped_column(String(64), default=None)
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    disconnected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    resume_hash: Mapped[str | None] = mapped_column(String(64), default=None)


class ServerProcess(Base):
    """A running server process and its lease: a process whose heartbeat is old is dead."""

    __tablename__ = "server_processes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    host: Mapped[str] = mapped_column(String(200), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    draining: Mapped[bool] = mapped_column(Boolean, default=False)


class SessionEvent(Base):
    """One entry of a session's audit trail; ``hash`` chains it to the entry before.

    Rows are append-only: database triggers refuse UPDATE and DELETE (migration 0001).
    """

    __tablename__ = "session_events"
    __table_args__ = (UniqueConstraint("session_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"))
    # 1, 2, 3, ... per session with no gaps; the unique constraint stops two writers forking
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ChainCheckpoint(Base):
    """The heads of every chain at one moment, signed; checkpoints chain to each other.

    Append-only (triggers, migration 0119). ``seq`` is NULL only on rows signed before the
    checkpoints were chained; those count for nothing.
    """

    __tablename__ = "chain_checkpoints"
    __table_args__ = (Index("uq_chain_checkpoints_seq", "seq", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # {session_id: [event count, hash of the last event]}
    heads: Mapped[dict[str, Any]] = mapped_column(JSON)
    # fingerprint (SHA-256 of the raw Ed25519 public key) of the key that signed it
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)
    # 1, 2, 3, ... with no gaps; unique, so two processes cannot both sign the next one
    seq: Mapped[int | None] = mapped_column(default=None)
    prev_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    hash: Mapped[str | None] = mapped_column(String(64), default=None)
    # [event count, hash of the last event] of the staff log
    staff_head: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    # the raw public key, base64; trusted only if its fingerprint is pinned by the verifier
    public_key: Mapped[str | None] = mapped_column(Text, default=None)
    # RFC 3161 time-stamp token (DER, base64) over ``hash``, when a TSA is configured
    timestamp_token: Mapped[str | None] = mapped_column(Text, default=None)


class StaffEvent(Base):
    """One supervisor action (a dashboard opened, a replay watched, an export), hash-chained.

    One chain for the whole store, append-only like ``session_events`` (migration 0003).
    """

    __tablename__ = "staff_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(unique=True)
    actor: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    # the session a replay or an export was about; None for queue views and figures
    session_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AcceptanceNumber(Base):
    """An issued acceptance number (受理号): one per submitted application, never reused.

    The index that finds a session by the number on a receipt; the number itself is also in
    the session's ``application.submitted`` event (migration 0106_sign).
    """

    __tablename__ = "acceptance_numbers"
    __table_args__ = (UniqueConstraint("day", "serial"),)

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), unique=True)
    # the UTC day (YYYYMMDD) and that day's running number the acceptance number encodes
    day: Mapped[str] = mapped_column(String(8))
    serial: Mapped[int]
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- appointments (migration 0128_appointments) ----------------------------------------------


class Appointment(Base):
    """A booked slot of a service (办事预约): booked on the phone page, checked in at a kiosk.

    ``state`` moves ``booked -> cancelled | checked_in | late | no_show``, ``no_show -> late``
    (storage/appointments.py). The person is ``person_key``, a keyed hash of their document
    number: the number itself is never stored.
    """

    __tablename__ = "appointments"

    # AP + 10 digits + a check character (signaling/appointment_numbers.py)
    number: Mapped[str] = mapped_column(String(16), primary_key=True)
    department_id: Mapped[str] = mapped_column(String(64))
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"))
    slot_start: Mapped[datetime] = mapped_column(UTCDateTime)
    slot_end: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="booked")
    person_key: Mapped[str] = mapped_column(String(64), index=True)
    # personal data: shown to the person who books, masked to clerks, never logged
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    language: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    checked_in_terminal: Mapped[int | None] = mapped_column(Integer, default=None)
    no_show_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # the call the booking was taken up by (with priority, or as a walk-in when late)
    session_id: Mapped[str | None] = mapped_column(String(32), default=None)

    __table_args__ = (
        # a slot's bookings (capacity), and a day's bookings of a department (the panels)
        Index("ix_appointments_slot", "service_id", "slot_start", "state"),
        Index("ix_appointments_day", "department_id", "slot_start"),
    )


# --- the service map (migration 0129_places) -------------------------------------------


class Place(Base):
    """A place that serves applicants: a kiosk (one terminal) or a staffed window (服务窗口).

    ``slug`` is what the public map and the CLI call it; the row id never leaves the server.
    Names and addresses are {language: text} for zh-Hant, zh-Hans and en.
    """

    __tablename__ = "places"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    names: Mapped[dict[str, str]] = mapped_column(JSON)
    addresses: Mapped[dict[str, str]] = mapped_column(JSON)
    city: Mapped[str] = mapped_column(String(32), index=True)
    # WGS84 degrees, as a phone's Geolocation API reports them
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    # opening hours, e.g. "Mo-Fr 09:00-18:00; Sa 09:00-12:00" (Asia/Shanghai time)
    hours: Mapped[str] = mapped_column(String(200))
    directions: Mapped[list[str]] = mapped_column(JSON)
    services: Mapped[list[str]] = mapped_column(JSON)
    phone: Mapped[str] = mapped_column(String(32), default="")
    # the kiosk's terminal (kiosks only); one place per terminal
    terminal_id: Mapped[int | None] = mapped_column(
        ForeignKey("terminals.id"), unique=True, default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TerminalPrinter(Base):
    """The newest printer report of a kiosk (from its ``print.reported``): the map's
    "out of paper" without reading every session's chain."""

    __tablename__ = "terminal_printers"

    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"), primary_key=True)
    # printed | retrying | failed, and the printer's error code when not printed
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str] = mapped_column(String(64), default="")
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KioskQuiet(Base):
    """A kiosk socket that stopped answering pings (its pong is overdue) but is not closed
    yet: the map shows the kiosk offline at once, while the socket keeps its grace to come
    back. ``sid`` ties it to that socket: a reconnected kiosk is not quiet."""

    __tablename__ = "kiosk_quiet"

    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"), primary_key=True)
    sid: Mapped[str] = mapped_column(String(64))
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# ---------------------------------------------------------------------- payments (0127_payments)


class Payment(Base):
    """One payment order of a session's fee, from its creation to paid, refunded or closed.

    ``id`` is our order number at the provider (``out_trade_no``); ``idempotency_key`` makes
    a retried create return the provider's same order. Amounts are minor units copied from
    the catalogue by the server, never taken from a kiosk. States: ``storage.payments``.
    """

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("session_id", "purpose", "attempt"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    # submission (due before the acceptance number) or result (due when it is printed)
    purpose: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int]
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    provider: Mapped[str] = mapped_column(String(32))
    # the kiosk that shows the order's QR code (a result may be paid at another kiosk)
    terminal_id: Mapped[int | None] = mapped_column(ForeignKey("terminals.id"), default=None)
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    state: Mapped[str] = mapped_column(String(16), index=True)
    provider_order_id: Mapped[str | None] = mapped_column(String(64), default=None)
    transaction_id: Mapped[str | None] = mapped_column(String(64), default=None)
    code_url: Mapped[str | None] = mapped_column(Text, default=None)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    refund_id: Mapped[str | None] = mapped_column(String(64), default=None)
    refunded_minor: Mapped[int] = mapped_column(default=0)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaymentNotice(Base):
    """A provider notification's nonce, kept while its timestamp is inside the window: a
    second notification with the same nonce is a replay and is refused."""

    __tablename__ = "payment_notices"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


# ---------------------------------------------------------------- complaints (issue 17)


class Complaint(Base):
    """A complaint filed at a kiosk after a session: a ticket for the session's department,
    answered and closed by its supervisors (migration 0130_complaints). Every change is an
    event in the session's chain (``complaint.*``)."""

    __tablename__ = "complaints"
    __table_args__ = (
        UniqueConstraint("day", "serial"),
        # a department's tickets by state, due first: what the supervisors' tab reads
        Index("ix_complaints_line", "department_id", "state", "due_on"),
    )

    # what the applicant types to look it up: day, running number and a check character
    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[str] = mapped_column(String(8))
    serial: Mapped[int] = mapped_column(Integer)
    # keyed hash (HMAC-SHA256 with the server's key) of number and access code: a copy of the
    # database does not give away the codes
    code_hash: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), unique=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"))
    department_id: Mapped[str] = mapped_column(String(64))
    service_id: Mapped[str] = mapped_column(String(64))
    # the clerk who served, when the complaint follows a call
    clerk_id: Mapped[int | None] = mapped_column(ForeignKey("clerks.id"), default=None)
    language: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    # personal data: kept with the ticket, never put in a chain event or a log line
    text: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    state: Mapped[str] = mapped_column(String(16), default="open")
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the last working day the department has to answer (the kiosk's local calendar)
    due_on: Mapped[date] = mapped_column(Date)
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("clerks.id"), default=None)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    answer: Mapped[str | None] = mapped_column(Text, default=None)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("clerks.id"), default=None)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


# ---------------------------------------------------------------- materials to follow (issue 18)


class MaterialToFollow(Base):
    """A material accepted "to follow" (容缺受理) with its due date (migration
    0134_materials_to_follow). The chain says what happened (``material.deferred``,
    ``material.supplied``, ``material.reminder_sent``, ``material.lapsed``); this row is the
    sweep's index and makes each reminder and lapse happen once, whichever process sweeps."""

    __tablename__ = "materials_to_follow"
    __table_args__ = (
        # the sweep's question: which open ones fall due by a day
        Index("ix_materials_to_follow_due", "due_on"),
    )

    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), primary_key=True)
    material_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    department_id: Mapped[str] = mapped_column(String(64))
    # the last day the applicant may bring it, on the department's local calendar
    due_on: Mapped[date] = mapped_column(Date)
    deferred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    supplied_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    lapsed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class EidAttempt(Base):
    """One e-ID sign-in of a session (signaling/eid): from the kiosk's QR code to the
    provider's answer. Kept in the store so any server process can finish it; single use.

    ``link`` is the short URL's token the phone opens; ``state``, ``nonce`` and ``verifier``
    (PKCE) never leave the server except as the provider needs them. States: ``storage.eid``.
    """

    __tablename__ = "eid_attempts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: uuid.uuid4().hex)
    link: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(64))
    verifier: Mapped[str] = mapped_column(String(128))
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"))
    provider: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="started")
    # the refusal's code (eid_bad_signature, ...) when it ended refused
    outcome: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
