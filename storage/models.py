"""The tables: catalogue, clerks, terminals, call sessions and their hash-chained events.

Every timestamp is a timezone-aware UTC ``datetime`` on the way in and on the way out, on
SQLite as on PostgreSQL (see :class:`UTCDateTime`). Migrations live in
``storage/migrations``; change a model, then add a revision there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
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
    __table_args__ = (CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"), index=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"), index=True)
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
    """The heads of every session's chain at one moment, signed with the server's key."""

    __tablename__ = "chain_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # {session_id: [event count, hash of the last event]}
    heads: Mapped[dict[str, Any]] = mapped_column(JSON)
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)


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
