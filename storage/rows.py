"""The rows a call's transitions change, read and written in as few round trips as possible.

A transition (queue, accept, a media report, decline, hang-up) locks the session's row (and
its clerk's), changes a few columns and appends a chain event. Through SQLAlchemy's ORM that
was up to seven round trips, and under load about half of a server's CPU was SQLAlchemy's own
work around them (README, "Stop 34"). A :class:`RowTransaction` reads the rows as
:class:`Record` objects and writes what changed, with the events, when it ends:

* on PostgreSQL straight through asyncpg on a connection borrowed from SQLAlchemy's pool: one
  statement reads and locks the session, its clerk, its department and the database's clock;
  one statement writes every change (data-modifying ``WITH``); BEGIN and COMMIT only when a
  row was locked. Values go through the columns' own SQLAlchemy type processors, so what is
  stored is what the ORM would store.
* on SQLite through SQLAlchemy Core inside the :class:`~storage.db.Transaction` every other
  writer uses (one writer at a time there anyway).

The transitions in :mod:`storage.routing` and :mod:`storage.media_breaks` are written once,
against this class.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
from sqlalchemy import Dialect, Executable, Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from storage.audit import EVENT_COLUMNS, GENESIS_HASH, insert_events, link_event
from storage.db import Database, Transaction
from storage.errors import DuplicateEntry
from storage.models import (
    Callback,
    CallSession,
    ClerkPresence,
    ClerkStateLog,
    Service,
    SessionEvent,
    utcnow,
)

SESSIONS = cast(Table, CallSession.__table__)
PRESENCE = cast(Table, ClerkPresence.__table__)
_EVENTS = cast(Table, SessionEvent.__table__)
# clerks' state log rows are inserted along with the presence changes they record
_STATE_LOG = cast(Table, ClerkStateLog.__table__)
# written by storage.callbacks in the same transitions
_CALLBACKS = cast(Table, Callback.__table__)


class Record:
    """A row read (or made) for a change: its columns as attributes; :meth:`changes` says
    which of them were set to something else since."""

    __slots__ = ("_new", "_read", "_values", "table")

    def __init__(self, table: Table, values: dict[str, Any], *, new: bool = False) -> None:
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_new", new)
        object.__setattr__(self, "_read", {} if new else _copied(values))

    @classmethod
    def made(cls, table: Table, **values: Any) -> Record:
        """A new row of ``table``: ``values`` and each other column's default."""
        unknown = set(values) - set(table.columns.keys())
        if unknown:
            raise AttributeError(f"{table.name} has no column {sorted(unknown)[0]!r}")
        row = {c.name: values[c.name] if c.name in values else _default(c) for c in table.columns}
        return cls(table, row, new=True)

    @classmethod
    def written(cls, table: Table, known: dict[str, Any], **writes: Any) -> Record:
        """A stored row known by ``known`` (its key at least), whose ``writes`` are written
        whatever it holds now."""
        row = cls(table, {**known, **writes})
        row._read.update(dict.fromkeys(writes, _UNKNOWN))
        return row

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"{self.table.name} has no column {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._values:
            raise AttributeError(f"{self.table.name} has no column {name!r}")
        self._values[name] = value

    @property
    def new(self) -> bool:
        """Not stored yet: written with an INSERT."""
        return bool(self._new)

    @property
    def key(self) -> tuple[str, Any]:
        """The primary key's column and value."""
        column = self.table.primary_key.columns.values()[0].name
        return column, self._values[column]

    def changes(self) -> dict[str, Any]:
        """Every column of a new row; the columns set to another value since it was read."""
        if self._new:
            return dict(self._values)
        return {k: v for k, v in self._values.items() if v != self._read[k]}


# what a column not read holds, as far as the record knows: unequal to any value
_UNKNOWN = object()


def _copied(values: dict[str, Any]) -> dict[str, Any]:
    # JSON values are copied one level down: a list or dict changed in place still shows
    return {k: (v.copy() if isinstance(v, dict | list) else v) for k, v in values.items()}


def _default(column: Any) -> Any:
    default = column.default
    if default is None:
        return None
    if default.is_callable:
        return default.arg(None)
    return default.arg


@dataclass(frozen=True)
class Query:
    """One read in both forms: SQLAlchemy Core with named parameters (SQLite) and PostgreSQL's
    text for asyncpg, whose ``$n`` are ``params`` in order. Rows come back as dicts by the
    names the statements give their columns; ``core`` None: SQLite needs no such read (its
    writers take turns, so what was read in the turn holds)."""

    core: Executable | None
    pg: str
    params: tuple[str, ...] = ()


@dataclass
class Locked:
    """A session's row locked for a change, its department, the clock, and its clerk's row."""

    row: Record
    department_id: str
    now: datetime
    clerk: Record | None


class RowTransaction(ABC):
    """One transition: lock rows, change them, chain events; written when the block ends."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._rows: list[Record] = []
        self._events: list[SessionEvent] = []

    @abstractmethod
    async def hold(self, key: str) -> None:
        """Take the process lock ``key`` until the transaction has ended."""

    async def session(self, session_id: str, *, clerk: bool = False) -> Locked | None:
        """The session's row locked (and its clerk's, with ``clerk``), or None."""
        # The chain's lock first, as every appender takes it: the row holds the chain's head.
        await self.hold(f"audit:{session_id}")
        found = await self._read_session(session_id, clerk)
        if found is None:
            return None
        values, department, now, presence = found
        row = Record(SESSIONS, values)
        clerk_row = Record(PRESENCE, presence) if presence is not None else None
        self._rows.append(row)
        if clerk_row is not None:
            self._rows.append(clerk_row)
        return Locked(row, department, now, clerk_row)

    @property
    @abstractmethod
    def locks_rows(self) -> bool:
        """Whether rows are locked (PostgreSQL); else writers take turns (SQLite)."""

    @abstractmethod
    async def fetch(
        self, query: Query, *, lock: bool = False, **values: Any
    ) -> Sequence[Mapping[str, Any]]:
        """The rows ``query`` reads with ``values``; ``lock``: it locks them (FOR UPDATE),
        in this transaction."""

    def add(self, row: Record) -> None:
        """Write ``row`` (new, from :meth:`Record.made`) with the rest."""
        self._rows.append(row)

    def chain(
        self, row: Record, kind: str, actor: str, payload: dict[str, Any], *, first: bool = False
    ) -> SessionEvent:
        """Append the next event to the chain whose head ``row`` (a session, locked or new)
        holds, and move the head. ``first``: the chain is empty."""
        seq, prev = (1, GENESIS_HASH) if first else (row.chain_seq + 1, row.chain_hash)
        event = link_event(row.id, seq, kind, actor, payload, utcnow(), prev)
        row.chain_seq, row.chain_hash = seq, event.hash
        self._events.append(event)
        return event

    @abstractmethod
    async def clock(self) -> datetime:
        """Now by the database's clock (PostgreSQL's, which every process shares)."""

    @abstractmethod
    async def last_event_at(self, session_id: str, kind: str) -> datetime | None:
        """When the session's last ``kind`` event was made, or None."""

    async def _flush(self) -> None:
        """Write every change, once, as the transition ends (:func:`transaction`)."""
        writes = [(r, changes) for r in self._rows if (changes := r.changes())]
        if writes or self._events:
            await self._write(writes, self._events)

    @abstractmethod
    async def _read_session(
        self, session_id: str, clerk: bool
    ) -> tuple[dict[str, Any], str, datetime, dict[str, Any] | None] | None:
        """The session's row, its department, now, and its clerk's row (``clerk``), locked."""

    @abstractmethod
    async def _write(
        self, writes: list[tuple[Record, dict[str, Any]]], events: list[SessionEvent]
    ) -> None:
        """Insert or update each row with its changes, and insert ``events``."""


# ---------------------------------------------------------------------- SQLite


class _CoreTransaction(RowTransaction):
    """On SQLAlchemy Core, in the writers' :class:`~storage.db.Transaction`."""

    def __init__(self, tx: Transaction) -> None:
        super().__init__(tx.db)
        self.tx = tx

    async def hold(self, key: str) -> None:
        await self.tx.hold(key)

    async def clock(self) -> datetime:
        # one process on SQLite: its own clock is the clock
        return datetime.now(UTC)

    @property
    def locks_rows(self) -> bool:
        return False

    async def fetch(
        self, query: Query, *, lock: bool = False, **values: Any
    ) -> Sequence[Mapping[str, Any]]:
        if query.core is None:
            return []
        result = await self.tx.session.execute(query.core, values)
        return [cast("Mapping[str, Any]", r._mapping) for r in result]

    async def _read_session(
        self, session_id: str, clerk: bool
    ) -> tuple[dict[str, Any], str, datetime, dict[str, Any] | None] | None:
        s = self.tx.session
        found = (
            await s.execute(
                select(
                    SESSIONS,
                    # a transfer gives the session another department than its service's
                    func.coalesce(SESSIONS.c.department_id, Service.department_id).label("dept"),
                )
                .join(Service, Service.id == SESSIONS.c.service_id)
                .where(SESSIONS.c.id == session_id)
            )
        ).first()
        if found is None:
            return None
        values = {c.name: found._mapping[c] for c in SESSIONS.columns}
        presence = None
        if clerk and values["clerk_id"] is not None:
            read = (
                await s.execute(select(PRESENCE).where(PRESENCE.c.clerk_id == values["clerk_id"]))
            ).first()
            presence = dict(read._mapping) if read is not None else None
        return values, found.dept, datetime.now(UTC), presence

    async def last_event_at(self, session_id: str, kind: str) -> datetime | None:
        at = await self.tx.session.scalar(
            select(func.max(SessionEvent.created_at)).where(
                SessionEvent.session_id == session_id, SessionEvent.kind == kind
            )
        )
        return at.astimezone(UTC) if isinstance(at, datetime) else None

    async def _write(
        self, writes: list[tuple[Record, dict[str, Any]]], events: list[SessionEvent]
    ) -> None:
        s = self.tx.session
        try:
            for row, changes in writes:
                if row.new:
                    await s.execute(insert(row.table).values(changes))
                else:
                    column, value = row.key
                    await s.execute(
                        update(row.table).where(row.table.c[column] == value).values(changes)
                    )
            await insert_events(s, events)
        except IntegrityError as exc:
            raise DuplicateEntry(str(exc.orig)) from exc


# ---------------------------------------------------------------------- PostgreSQL


def _columns(table: Table, alias: str) -> str:
    return ", ".join(f'{alias}."{c.name}"' for c in table.columns)


_READ_SESSION = (
    "WITH s AS (SELECT * FROM sessions WHERE id = $1 FOR UPDATE) "
    f"SELECT {_columns(SESSIONS, 's')}, coalesce(s.department_id, v.department_id), clock_timestamp() "
    "FROM s JOIN services v ON v.id = s.service_id"
)
# the clerk's row locked after the session's, as every writer of both does (no deadlock)
_READ_SESSION_AND_CLERK = (
    "WITH s AS (SELECT * FROM sessions WHERE id = $1 FOR UPDATE), "
    "p AS (SELECT * FROM clerk_presence WHERE clerk_id = (SELECT clerk_id FROM s) FOR UPDATE) "
    f"SELECT {_columns(SESSIONS, 's')}, coalesce(s.department_id, v.department_id), clock_timestamp(), "
    f"{_columns(PRESENCE, 'p')} "
    "FROM s JOIN services v ON v.id = s.service_id LEFT JOIN p ON true"
)
_LAST_EVENT_AT = "SELECT max(created_at) FROM session_events WHERE session_id = $1 AND kind = $2"


class _Types:
    """SQLAlchemy's own bind and result processing of each column, for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.bind: dict[tuple[str, str], Callable[[Any], Any] | None] = {}
        self.result: dict[str, list[Callable[[Any], Any] | None]] = {}
        self.names = {t.name: [c.name for c in t.columns] for t in (SESSIONS, PRESENCE)}
        for table in (SESSIONS, PRESENCE, _EVENTS, _STATE_LOG, _CALLBACKS):
            for c in table.columns:
                self.bind[(table.name, c.name)] = c.type.bind_processor(dialect)
            self.result[table.name] = [
                c.type.result_processor(dialect, None) for c in table.columns
            ]

    def row(self, table: Table, values: Sequence[Any]) -> dict[str, Any]:
        procs = self.result[table.name]
        return {
            name: (proc(value) if proc is not None else value)
            for name, proc, value in zip(self.names[table.name], procs, values, strict=True)
        }

    def param(self, table: str, column: str, value: Any) -> Any:
        proc = self.bind[(table, column)]
        return proc(value) if proc is not None else value


_TYPES: dict[int, _Types] = {}


class _PgTransaction(RowTransaction):
    """On asyncpg directly; a transaction is begun only when a row is locked."""

    def __init__(self, db: Database, locks: AsyncExitStack, conn: asyncpg.Connection[Any]) -> None:
        super().__init__(db)
        self._locks = locks
        self._held: set[str] = set()
        self.conn = conn
        self.began = False
        dialect = db.engine.dialect
        types = _TYPES.get(id(dialect))
        if types is None:
            types = _TYPES[id(dialect)] = _Types(dialect)
        self.types = types

    async def hold(self, key: str) -> None:
        if key not in self._held:
            self._held.add(key)
            await self._locks.enter_async_context(self.db.lock(key))

    async def _run(self, how: str, statement: str, *params: Any) -> Any:
        """One statement through asyncpg (``how``: execute, fetchrow, fetchval), timed for
        whoever watches the database's statements (metrics, tests' counts)."""
        started = time.perf_counter()
        result = await getattr(self.conn, how)(statement, *params)
        elapsed = time.perf_counter() - started
        for observe in self.db.direct_statements:
            observe(statement, elapsed)
        return result

    async def _begin(self) -> None:
        if not self.began:
            await self._run("execute", "BEGIN")
            self.began = True

    async def clock(self) -> datetime:
        now = await self._run("fetchval", "SELECT clock_timestamp()")
        assert isinstance(now, datetime)
        return now.astimezone(UTC)

    @property
    def locks_rows(self) -> bool:
        return True

    async def fetch(
        self, query: Query, *, lock: bool = False, **values: Any
    ) -> Sequence[Mapping[str, Any]]:
        if lock:
            await self._begin()
        # asyncpg's records are read by column name as they are: no dict made of each
        found: list[Mapping[str, Any]] = await self._run(
            "fetch", query.pg, *(values[p] for p in query.params)
        )
        return found

    async def _read_session(
        self, session_id: str, clerk: bool
    ) -> tuple[dict[str, Any], str, datetime, dict[str, Any] | None] | None:
        await self._begin()
        statement = _READ_SESSION_AND_CLERK if clerk else _READ_SESSION
        found = await self._run("fetchrow", statement, session_id)
        if found is None:
            return None
        values = tuple(found)
        n = len(SESSIONS.columns)
        row = self.types.row(SESSIONS, values[:n])
        department, now = values[n], values[n + 1]
        presence = None
        if clerk and values[n + 2] is not None:
            presence = self.types.row(PRESENCE, values[n + 2 :])
        return row, department, now.astimezone(UTC), presence

    async def last_event_at(self, session_id: str, kind: str) -> datetime | None:
        at = await self._run("fetchval", _LAST_EVENT_AT, session_id, kind)
        return at.astimezone(UTC) if isinstance(at, datetime) else None

    async def _write(
        self, writes: list[tuple[Record, dict[str, Any]]], events: list[SessionEvent]
    ) -> None:
        parts: list[str] = []
        params: list[Any] = []

        def slot(table: str, column: str, value: Any) -> str:
            params.append(self.types.param(table, column, value))
            return f"${len(params)}"

        for row, changes in writes:
            name = row.table.name
            if row.new:
                columns = ", ".join(f'"{c}"' for c in changes)
                values = ", ".join(slot(name, c, v) for c, v in changes.items())
                parts.append(f"INSERT INTO {name} ({columns}) VALUES ({values})")
            else:
                sets = ", ".join(f'"{c}" = {slot(name, c, v)}' for c, v in changes.items())
                column, key = row.key
                parts.append(
                    f'UPDATE {name} SET {sets} WHERE "{column}" = {slot(name, column, key)}'
                )
        if events:
            tuples = ", ".join(
                "("
                + ", ".join(slot("session_events", c, getattr(e, c)) for c in EVENT_COLUMNS)
                + ")"
                for e in events
            )
            columns = ", ".join(EVENT_COLUMNS)
            parts.append(f"INSERT INTO session_events ({columns}) VALUES {tuples}")
        # one statement: the writes but the last as data-modifying WITH queries; all of it
        # happens or none (a single statement is atomic even outside a transaction)
        statement = parts[-1]
        if len(parts) > 1:
            queries = ", ".join(f"w{i} AS ({p})" for i, p in enumerate(parts[:-1]))
            statement = f"WITH {queries} {statement}"
        try:
            await self._run("execute", statement, *params)
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateEntry(str(exc)) from exc

    async def _end(self, ok: bool) -> None:
        if self.began:
            await self._run("execute", "COMMIT" if ok else "ROLLBACK")
            self.began = False


@asynccontextmanager
async def transaction(db: Database) -> AsyncIterator[RowTransaction]:
    """One transition; its changes are written, and committed, when the block ends without
    an exception (an exception writes nothing)."""
    if db.dialect != "postgresql":
        async with db.transaction() as tx:
            core = _CoreTransaction(tx)
            yield core
            await core._flush()
        return
    # Process locks outlive the commit (see Database.transaction): nobody here appends to a
    # chain between our read of its head and our commit.
    async with AsyncExitStack() as locks:
        pooled = await db.engine.raw_connection()
        try:
            conn = cast("asyncpg.Connection[Any]", pooled.driver_connection)
            pg = _PgTransaction(db, locks, conn)
            try:
                yield pg
                await pg._flush()
            except BaseException:
                try:
                    await pg._end(ok=False)
                except BaseException:
                    # a connection that cannot even roll back (cancelled mid-query, or
                    # lost) is closed, and replaced when the pool next hands it out
                    conn.terminate()
                    pooled.invalidate(soft=True)
                    raise
                raise
            await pg._end(ok=True)
        finally:
            pooled.close()
