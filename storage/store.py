"""What the server reads and writes: clerks, terminals, the catalogue and call sessions.

Plain async functions over a :class:`~storage.db.Database`; each call is one short
transaction. The audit trail of a session is in :mod:`storage.audit`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.errors import DuplicateEntry, InvalidValue, NotFound
from storage.models import CallSession, Clerk, Department, Service, Terminal, utcnow
from storage.routing import ACTIVE_STATES

log = logging.getLogger(__name__)

USERNAME_RULE = re.compile(r"[A-Za-z0-9._-]{1,64}")
MIN_PASSWORD_LENGTH = 8
# a kiosk's "last seen" is kept to this resolution (see find_terminal_by_token)
LAST_SEEN_RESOLUTION = timedelta(minutes=1)

# argon2-cffi's defaults follow RFC 9106's recommendation; a stateless, shared hasher.
_HASHER = PasswordHasher()

# Fields update_session may change; id and created_at identify the row and never move.
SESSION_FIELDS = frozenset(CallSession.__table__.columns.keys()) - {"id", "created_at"}


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@cache
def _dummy_hash() -> str:
    # Verified against when the username is unknown, so a miss costs as much as a bad password
    # and response times do not reveal which usernames exist.
    return _HASHER.hash(secrets.token_urlsafe(16))


def _unknown_user_check(password: str) -> bool:
    # in the worker thread: the first call makes the dummy hash, which is as slow as a check
    return _password_matches(_dummy_hash(), password)


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except InvalidHashError:
        log.error("stored password hash is not an argon2 hash; reset that clerk's password")
        return False
    except VerificationError:
        return False


def _check_length(field: str, value: str, longest: int, shortest: int = 1) -> None:
    if not shortest <= len(value) <= longest:
        raise InvalidValue(f"{field} must be {shortest} to {longest} characters, got {len(value)}")


# --- clerks ---------------------------------------------------------------------------


async def create_clerk(
    db: Database,
    username: str,
    password: str,
    display_name: str,
    departments: list[str],
    role: str = "clerk",
) -> Clerk:
    """Create a clerk account who can sign in; raises :class:`DuplicateEntry` if the name is taken."""
    if not USERNAME_RULE.fullmatch(username):
        raise InvalidValue(
            f"username {username!r} is not allowed: use 1 to 64 letters, digits, '.', '_' or '-'"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidValue(
            f"password is too short ({len(password)} characters): use at least"
            f" {MIN_PASSWORD_LENGTH}"
        )
    _check_length("display_name", display_name, 200)
    _check_length("role", role, 32)
    taken = DuplicateEntry(f"clerk username {username!r} is already taken; choose another username")
    async with db.sessions() as session:
        if await session.scalar(select(Clerk.id).where(Clerk.username == username)) is not None:
            raise taken
    # Hashing takes tens of milliseconds of CPU on purpose: keep it off the event loop, and
    # outside any transaction so no connection idles meanwhile.
    password_hash = await asyncio.to_thread(_HASHER.hash, password)
    clerk = Clerk(
        username=username,
        display_name=display_name,
        password_hash=password_hash,
        departments=list(departments),
        role=role,
    )
    async with db.sessions() as session:
        session.add(clerk)
        try:
            await session.commit()
        except IntegrityError as exc:  # created by someone else since the check above
            raise taken from exc
    log.info("clerk %s created (id %d, role %s)", username, clerk.id, role)
    return clerk


async def authenticate_clerk(
    db: Database, username: str, password: str, executor: Executor | None = None
) -> Clerk | None:
    """The clerk if ``password`` is right and the account enabled, else ``None``; use it for
    every sign-in. The password check runs on ``executor`` (default: asyncio's)."""
    async with db.sessions() as session:
        clerk = await session.scalar(select(Clerk).where(Clerk.username == username))
    loop = asyncio.get_running_loop()
    if clerk is None:
        await loop.run_in_executor(executor, _unknown_user_check, password)
        return None
    if not await loop.run_in_executor(executor, _password_matches, clerk.password_hash, password):
        return None
    if clerk.disabled:
        return None
    if _HASHER.check_needs_rehash(clerk.password_hash):
        # Parameters were raised since this hash was made; upgrade it while we know the password.
        clerk.password_hash = await asyncio.to_thread(_HASHER.hash, password)
        async with db.sessions() as session:
            await session.execute(
                update(Clerk).where(Clerk.id == clerk.id).values(password_hash=clerk.password_hash)
            )
            await session.commit()
        log.info("clerk %s: password rehashed with current parameters", username)
    return clerk


async def get_clerk(db: Database, clerk_id: int) -> Clerk:
    """The clerk with ``clerk_id``; raises :class:`NotFound` (e.g. the account was removed)."""
    async with db.reads() as session:
        clerk = await session.get(Clerk, clerk_id)
    if clerk is None:
        raise NotFound(f"no clerk with id {clerk_id}; sign in again or ask an administrator")
    return clerk


async def find_clerk(db: Database, username: str) -> Clerk:
    """The clerk named ``username``; raises :class:`NotFound` naming the command to list them."""
    async with db.sessions() as session:
        clerk = await session.scalar(select(Clerk).where(Clerk.username == username))
    if clerk is None:
        raise NotFound(f"no clerk {username!r}; `vcounter clerk list` shows the accounts")
    return clerk


async def list_clerks(db: Database) -> list[Clerk]:
    """Every account, by username."""
    async with db.sessions() as session:
        return list(await session.scalars(select(Clerk).order_by(Clerk.username)))


async def set_clerk_disabled(db: Database, username: str, disabled: bool) -> Clerk:
    """Disable (or enable) an account; disabling also revokes every token it holds."""
    clerk = await find_clerk(db, username)
    async with db.sessions() as session:
        await session.execute(
            update(Clerk)
            .where(Clerk.id == clerk.id)
            .values(disabled=disabled, token_version=Clerk.token_version + 1)
        )
        await session.commit()
    log.info("clerk %s %s; its tokens are revoked", username, "disabled" if disabled else "enabled")
    return await get_clerk(db, clerk.id)


async def reset_password(db: Database, username: str, password: str) -> Clerk:
    """Set a new password and revoke every token issued under the old one."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidValue(
            f"password is too short ({len(password)} characters): use at least"
            f" {MIN_PASSWORD_LENGTH}"
        )
    clerk = await find_clerk(db, username)
    password_hash = await asyncio.to_thread(_HASHER.hash, password)
    async with db.sessions() as session:
        await session.execute(
            update(Clerk)
            .where(Clerk.id == clerk.id)
            .values(password_hash=password_hash, token_version=Clerk.token_version + 1)
        )
        await session.commit()
    log.info("clerk %s: password reset; its tokens are revoked", username)
    return await get_clerk(db, clerk.id)


# --- terminals ------------------------------------------------------------------------


async def register_terminal(db: Database, name: str, location: str = "") -> tuple[Terminal, str]:
    """Register kiosk ``name``; returns it and its device token, which is not stored and shown once."""
    _check_length("terminal name", name, 128)
    _check_length("location", location, 200, shortest=0)
    taken = DuplicateEntry(
        f"terminal {name!r} is already registered; pick another name for the new kiosk"
    )
    token = secrets.token_urlsafe(32)
    async with db.sessions() as session:
        if await session.scalar(select(Terminal.id).where(Terminal.name == name)) is not None:
            raise taken
        terminal = Terminal(name=name, token_hash=_hash_token(token), location=location)
        session.add(terminal)
        try:
            await session.commit()
        except IntegrityError as exc:
            raise taken from exc
    log.info("terminal %s registered (id %d)", name, terminal.id)
    return terminal, token


async def find_terminal_by_token(db: Database, token: str) -> Terminal | None:
    """The terminal holding device ``token`` (and mark it seen now), or ``None`` if unknown
    or revoked: call it on every use of a kiosk token (REST and socket connect)."""
    if not token:
        return None
    async with db.sessions() as session:
        terminal = await session.scalar(
            select(Terminal).where(Terminal.token_hash == _hash_token(token))
        )
        if terminal is None or terminal.revoked_at is not None:
            # a revoked kiosk is as unknown as one never registered
            return None
        now = utcnow()
        seen = terminal.last_seen_at
        if seen is None or now - seen >= LAST_SEEN_RESOLUTION:
            # "last seen" is shown to the minute: writing it on every request and socket
            # handshake made each a write transaction (a burst of reconnects queued on it)
            terminal.last_seen_at = now
            await session.commit()
        return terminal


async def list_terminals(db: Database) -> list[Terminal]:
    """Every registered kiosk, by name."""
    async with db.sessions() as session:
        return list(await session.scalars(select(Terminal).order_by(Terminal.name)))


async def _terminal_named(db: Database, name: str) -> Terminal:
    async with db.sessions() as session:
        terminal = await session.scalar(select(Terminal).where(Terminal.name == name))
    if terminal is None:
        raise NotFound(f"no terminal {name!r}; `vcounter terminal list` shows the kiosks")
    return terminal


async def revoke_terminal(db: Database, name: str) -> Terminal:
    """Refuse kiosk ``name``'s token from now on (a stolen or retired device)."""
    terminal = await _terminal_named(db, name)
    async with db.sessions() as session:
        await session.execute(
            update(Terminal).where(Terminal.id == terminal.id).values(revoked_at=utcnow())
        )
        await session.commit()
    log.info("terminal %s revoked", name)
    return await _terminal_named(db, name)


async def rotate_terminal(db: Database, name: str) -> tuple[Terminal, str]:
    """Give kiosk ``name`` a new token (shown once); the old one stops working at once.

    Also un-revokes it: rotation is how a recovered device is put back into service."""
    terminal = await _terminal_named(db, name)
    token = secrets.token_urlsafe(32)
    async with db.sessions() as session:
        await session.execute(
            update(Terminal)
            .where(Terminal.id == terminal.id)
            .values(token_hash=_hash_token(token), revoked_at=None)
        )
        await session.commit()
    log.info("terminal %s: token rotated", name)
    return await _terminal_named(db, name), token


# --- catalogue ------------------------------------------------------------------------


async def terminal_name(db: Database, terminal_id: int) -> str:
    """The kiosk's registered name; raises :class:`NotFound` for an unknown id."""
    # one statement, no transaction around it (a BEGIN and a ROLLBACK fewer on PostgreSQL)
    async with db.reads() as session:
        row = await session.get(Terminal, terminal_id)
    if row is None:
        raise NotFound(f"no terminal with id {terminal_id}; register the kiosk first")
    return row.name


async def terminal_names(db: Database) -> dict[int, str]:
    """Every registered kiosk's name by id."""
    async with db.sessions() as session:
        rows = (await session.execute(select(Terminal.id, Terminal.name))).all()
    return {r[0]: r[1] for r in rows}


async def sync_catalogue(
    db: Database,
    departments: Sequence[tuple[str, Mapping[str, Any]]],
    services: Sequence[tuple[str, str, Mapping[str, Any], Sequence[Any], bool]],
) -> None:
    """Make the stored catalogue match the catalogue file; run at every start.

    ``services`` rows are ``(id, department_id, names, materials, second_approval)``. Entries
    missing from the file are kept, since past sessions still refer to them.
    """
    async with db.sessions() as session, session.begin():
        known_departments = {
            d.id: d
            for d in await session.scalars(
                select(Department).where(Department.id.in_([d for d, _ in departments]))
            )
        }
        for department_id, names in departments:
            department = known_departments.get(department_id)
            if department is None:
                session.add(Department(id=department_id, names=dict(names)))
            else:
                department.names = dict(names)
        # Departments first: services point at them.
        await session.flush()
        known_services = {
            s.id: s
            for s in await session.scalars(
                select(Service).where(Service.id.in_([s[0] for s in services]))
            )
        }
        for service_id, department_id, names, materials, second_approval in services:
            service = known_services.get(service_id)
            if service is None:
                service = Service(id=service_id)
                session.add(service)
            service.department_id = department_id
            service.names = dict(names)
            service.materials = list(materials)
            service.second_approval = second_approval
            # a service moved to another department takes its waiting and live sessions along
            await session.execute(
                update(CallSession)
                .where(
                    CallSession.service_id == service_id,
                    CallSession.state.in_(ACTIVE_STATES),
                    CallSession.department_id.is_distinct_from(department_id),
                    # a transferred one was sent to its department by a clerk
                    CallSession.transfers == 0,
                )
                .values(department_id=department_id)
            )
    log.info("catalogue synced: %d departments, %d services", len(departments), len(services))


# --- sessions -------------------------------------------------------------------------


async def create_session(
    db: Database,
    terminal_id: int,
    service_id: str,
    language: str,
    *,
    care_mode: bool = False,
    session_id: str | None = None,
) -> CallSession:
    """Store a new queued session for a kiosk's request; its id is ``session_id`` or a fresh
    uuid4 hex."""
    async with db.sessions() as session:
        if await session.get(Terminal, terminal_id) is None:
            raise NotFound(f"no terminal with id {terminal_id}; register the kiosk first")
        service = await session.get(Service, service_id)
        if service is None:
            raise NotFound(
                f"no service {service_id!r} in the stored catalogue; restart the server to sync it"
            )
        row = CallSession(
            id=session_id or uuid.uuid4().hex,
            terminal_id=terminal_id,
            service_id=service_id,
            department_id=service.department_id,
            language=language,
            state="queued",
            care_mode=care_mode,
        )
        session.add(row)
        await session.commit()
        return row


def _check_session_field(name: str, value: Any) -> None:
    if name not in SESSION_FIELDS:
        raise InvalidValue(
            f"session field {name!r} cannot be updated; use one of {', '.join(sorted(SESSION_FIELDS))}"
        )
    aware = isinstance(value, datetime) and value.tzinfo is not None
    if name.endswith("_at") and value is not None and not aware:
        raise InvalidValue(f"session field {name!r} needs a timezone-aware datetime, got {value!r}")
    # checked here too so the message names the field instead of a CHECK constraint
    if name == "rating" and value is not None and value not in range(1, 6):
        raise InvalidValue(f"session field 'rating' must be 1 to 5, got {value!r}")


async def update_session(db: Database, session_id: str, **fields: Any) -> None:
    """Change columns of a session row, e.g. ``state="offered", offered_at=now``."""
    for name, value in fields.items():
        _check_session_field(name, value)
    async with db.sessions() as session:
        if not fields:
            found = await session.get(CallSession, session_id) is not None
        else:
            statement = update(CallSession).where(CallSession.id == session_id).values(**fields)
            # an UPDATE yields a CursorResult, which is what carries rowcount
            try:
                result = cast("CursorResult[Any]", await session.execute(statement))
                await session.commit()
            except IntegrityError as exc:
                refs = {k: v for k, v in fields.items() if k.endswith("_id")}
                raise NotFound(
                    f"cannot update session {session_id!r}: {refs} names a row that does not"
                    " exist; create the clerk, terminal or service first"
                ) from exc
            found = result.rowcount == 1
    if not found:
        raise NotFound(f"no session {session_id!r} to update")


async def get_session(db: Database, session_id: str) -> CallSession:
    """The stored session row; raises :class:`NotFound` for an unknown id."""
    async with db.sessions() as session:
        row = await session.get(CallSession, session_id)
    if row is None:
        raise NotFound(f"no session {session_id!r}; it was never created in this database")
    return row
