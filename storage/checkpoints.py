"""Signed checkpoints: a hash chain of signed statements of every chain's head.

A hash chain shows an edited or removed event in the middle, but not a removed *tail*, nor
a chain rewritten from some point on with fresh hashes. A checkpoint records, for every
session, how many events its chain had and the last one's hash, and the staff log's head;
it is signed with the server's Ed25519 key and carries the hash of the checkpoint before
it, so checkpoints form their own chain (append-only in the database, migration 0119).

A new checkpoint is signed only when every chain *extends* what the previous checkpoint
covered: same event at the covered head, new events that link. Otherwise
:func:`make_checkpoint` refuses with :class:`CheckpointRefused` and logs it, so a rewritten
chain never gets a fresh signature. Every checkpoint can also be published to a witness
(:mod:`storage.witness`) and time-stamped by an RFC 3161 authority
(:mod:`storage.timestamps`). Verification is in :mod:`storage.trail`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import GENESIS_HASH, _utc_iso, event_hash
from storage.checkpoint_keys import fingerprint, public_from_b64, raw_public
from storage.db import Database
from storage.errors import StorageError
from storage.models import ChainCheckpoint, SessionEvent, StaffEvent, utcnow
from storage.staff_audit import staff_event_hash
from storage.witness import Witness, WitnessError

log = logging.getLogger(__name__)

FORMAT = 2
# pg_advisory_xact_lock key: one signer at a time across every server process
ADVISORY_LOCK = 0x76636B70  # "vckp"

Head = list[Any]  # [event count, hash of the last event]
# asks a TSA for a token over a digest; None when it could not (the checkpoint is signed anyway)
Timestamper = Callable[[bytes], Awaitable[str | None]]


class CheckpointRefused(StorageError):
    """A chain no longer extends what the last checkpoint covered: nothing is signed."""

    code = "checkpoint_refused"


def signed_bytes(
    seq: int, prev_hash: str, created_at: str, heads: dict[str, Any], staff: Head, key_id: str
) -> bytes:
    """Exactly what a checkpoint's hash and signature cover."""
    document = {
        "v": FORMAT,
        "seq": seq,
        "prev_hash": prev_hash,
        "created_at": created_at,
        "heads": heads,
        "staff": staff,
        "key_id": key_id,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint as stored, exported or witnessed."""

    seq: int
    prev_hash: str
    created_at: str
    heads: dict[str, Head]
    staff: Head
    key_id: str
    public_key: str
    signature: str
    hash: str
    timestamp_token: str | None = None
    id: int = field(default=0, compare=False)

    def signed_bytes(self) -> bytes:
        return signed_bytes(
            self.seq, self.prev_hash, self.created_at, self.heads, self.staff, self.key_id
        )

    def computed_hash(self) -> str:
        """The hash of what the checkpoint says (``hash`` must equal it)."""
        return hashlib.sha256(self.signed_bytes()).hexdigest()

    def hash_ok(self) -> bool:
        """True if ``hash`` is the hash of what the checkpoint says."""
        return self.computed_hash() == self.hash

    def signature_ok(self) -> bool:
        """True if the embedded key has this fingerprint and signed exactly this checkpoint."""
        try:
            public = public_from_b64(self.public_key)
            if fingerprint(public) != self.key_id:
                return False
            public.verify(base64.b64decode(self.signature), self.signed_bytes())
        except (InvalidSignature, ValueError):
            return False
        return True

    def record(self) -> dict[str, Any]:
        """The checkpoint as JSON-ready data (bundle, witness)."""
        return {
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "created_at": self.created_at,
            "heads": self.heads,
            "staff": self.staff,
            "key_id": self.key_id,
            "public_key": self.public_key,
            "signature": self.signature,
            "hash": self.hash,
            "timestamp_token": self.timestamp_token,
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Checkpoint:
        """Read back :meth:`record`; raises KeyError/TypeError/ValueError when malformed."""
        return cls(
            seq=int(data["seq"]),
            prev_hash=str(data["prev_hash"]),
            created_at=str(data["created_at"]),
            heads={str(k): list(v) for k, v in dict(data["heads"]).items()},
            staff=list(data["staff"]),
            key_id=str(data["key_id"]),
            public_key=str(data["public_key"]),
            signature=str(data["signature"]),
            hash=str(data["hash"]),
            timestamp_token=data.get("timestamp_token"),
        )

    @classmethod
    def from_row(cls, row: ChainCheckpoint) -> Checkpoint:
        return cls(
            seq=int(row.seq or 0),
            prev_hash=row.prev_hash or "",
            created_at=_utc_iso(row.created_at),
            heads=row.heads,
            staff=list(row.staff_head or [0, GENESIS_HASH]),
            key_id=row.key_id,
            public_key=row.public_key or "",
            signature=row.signature,
            hash=row.hash or "",
            timestamp_token=row.timestamp_token,
            id=row.id,
        )


async def chain_heads(db: Database | AsyncSession) -> dict[str, Head]:
    """For every session with events: ``[event count, last event's hash]``."""
    last = (
        select(SessionEvent.session_id, func.max(SessionEvent.seq).label("seq"))
        .group_by(SessionEvent.session_id)
        .subquery()
    )
    query = select(SessionEvent.session_id, SessionEvent.seq, SessionEvent.hash).join(
        last, (SessionEvent.session_id == last.c.session_id) & (SessionEvent.seq == last.c.seq)
    )
    if isinstance(db, AsyncSession):
        return {r.session_id: [r.seq, r.hash] for r in await db.execute(query)}
    async with db.sessions() as session:
        return {r.session_id: [r.seq, r.hash] for r in await session.execute(query)}


async def staff_head(session: AsyncSession) -> Head:
    """``[event count, last hash]`` of the staff log (``[0, GENESIS]`` when empty)."""
    row = (
        await session.execute(
            select(StaffEvent.seq, StaffEvent.hash).order_by(StaffEvent.seq.desc()).limit(1)
        )
    ).first()
    return [row.seq, row.hash] if row else [0, GENESIS_HASH]


async def all_checkpoints(db: Database) -> list[Checkpoint]:
    """Every chained checkpoint in seq order (rows from before the chain are left out)."""
    async with db.sessions() as session:
        rows = await session.scalars(
            select(ChainCheckpoint)
            .where(ChainCheckpoint.seq.is_not(None))
            .order_by(ChainCheckpoint.seq)
        )
        return [Checkpoint.from_row(row) for row in rows]


async def latest_checkpoint(db: Database | AsyncSession) -> Checkpoint | None:
    """The newest chained checkpoint, or ``None`` before the first."""
    query = (
        select(ChainCheckpoint)
        .where(ChainCheckpoint.seq.is_not(None))
        .order_by(ChainCheckpoint.seq.desc())
        .limit(1)
    )
    if isinstance(db, AsyncSession):
        row = await db.scalar(query)
    else:
        async with db.sessions() as session:
            row = await session.scalar(query)
    return Checkpoint.from_row(row) if row is not None else None


def _link_problem(
    name: str, rows: Sequence[tuple[int, str, str, str]], start_seq: int, start_prev: str
) -> str | None:
    """First break in ``rows`` of ``(seq, prev_hash, hash, recomputed)`` from ``start_seq``."""
    expected, prev = start_seq, start_prev
    for seq, prev_hash, stored, recomputed in rows:
        if seq != expected:
            return f"{name}: event {expected} is missing (found {seq})"
        if prev_hash != prev:
            return f"{name}: event {seq} does not link to the event before it"
        if recomputed != stored:
            return f"{name}: event {seq} was changed (its hash does not match its content)"
        expected, prev = seq + 1, stored
    return None


async def _session_extension(
    session: AsyncSession, sid: str, covered: Head | None, now: Head | None
) -> str | None:
    name = f"session {sid}"
    if now is None:
        return f"{name}: the chain is gone, yet checkpoint covered {covered[0] if covered else 0} events"
    count = int(covered[0]) if covered else 0
    if covered is not None and int(now[0]) < count:
        return f"{name}: the chain has {now[0]} events, the last checkpoint covered {count}"
    if covered is not None and now == covered:
        return None
    events = list(
        await session.scalars(
            select(SessionEvent)
            .where((SessionEvent.session_id == sid) & (SessionEvent.seq >= max(count, 1)))
            .order_by(SessionEvent.seq)
        )
    )
    start_prev = GENESIS_HASH
    if covered is not None and count > 0:
        if not events or events[0].seq != count or events[0].hash != covered[1]:
            return f"{name}: event {count} is not the one the last checkpoint covered (rewritten)"
        start_prev, events = events[0].hash, events[1:]
    rows = []
    for e in events:
        try:
            recomputed = event_hash(
                e.session_id, e.seq, e.kind, e.actor, e.payload, e.created_at, e.prev_hash
            )
        except (TypeError, ValueError):
            recomputed = ""
        rows.append((e.seq, e.prev_hash, e.hash, recomputed))
    return _link_problem(name, rows, count + 1, start_prev)


async def _staff_extension(session: AsyncSession, covered: Head, now: Head) -> str | None:
    count = int(covered[0])
    if int(now[0]) < count:
        return f"staff log: it has {now[0]} events, the last checkpoint covered {count}"
    if now == covered:
        return None
    events = list(
        await session.scalars(
            select(StaffEvent).where(StaffEvent.seq >= max(count, 1)).order_by(StaffEvent.seq)
        )
    )
    start_prev = GENESIS_HASH
    if count > 0:
        if not events or events[0].seq != count or events[0].hash != covered[1]:
            return (
                f"staff log: event {count} is not the one the last checkpoint covered (rewritten)"
            )
        start_prev, events = events[0].hash, events[1:]
    rows = [(e.seq, e.prev_hash, e.hash, staff_event_hash(e.seq, e)) for e in events]
    return _link_problem("staff log", rows, count + 1, start_prev)


async def extension_problems(
    session: AsyncSession, prev: Checkpoint | None, heads: dict[str, Head], staff: Head
) -> list[str]:
    """Why the chains as they are now do not extend what ``prev`` covered (empty: they do)."""
    covered = prev.heads if prev else {}
    problems = []
    for sid in sorted(set(covered) | set(heads)):
        found = await _session_extension(session, sid, covered.get(sid), heads.get(sid))
        if found:
            problems.append(found)
    found = await _staff_extension(session, prev.staff if prev else [0, GENESIS_HASH], staff)
    if found:
        problems.append(found)
    return problems


async def _oldest_event(session: AsyncSession) -> datetime | None:
    first = await session.scalar(select(func.min(SessionEvent.created_at)))
    staff = await session.scalar(select(func.min(StaffEvent.created_at)))
    found = [_aware(t) for t in (first, staff) if t is not None]
    return min(found) if found else None


def _aware(moment: datetime | str) -> datetime:
    # func.min bypasses the column type: SQLite hands back text, PostgreSQL an aware datetime
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _check_previous(prev: Checkpoint, own: str, trusted: frozenset[str]) -> str | None:
    if not prev.hash_ok():
        return f"checkpoint {prev.seq} in the database was changed (its hash does not match)"
    if not prev.signature_ok():
        return f"checkpoint {prev.seq} in the database has a signature that does not verify"
    if prev.key_id != own and prev.key_id not in trusted:
        return (
            f"checkpoint {prev.seq} was signed by key {prev.key_id[:16]}…, which is neither this"
            " server's key nor a pinned one (audit_public_keys)"
        )
    return None


async def _witness_problem(witness: Witness, prev: Checkpoint | None) -> str | None:
    kept = await witness.records()
    if not kept:
        return None
    last = kept[-1]
    at = prev.seq if prev else 0
    if int(last["seq"]) > at:
        return (
            f"the witness holds checkpoint {last['seq']} but the database ends at {at}:"
            " checkpoints were deleted from the database"
        )
    if prev is not None:
        same = next((r for r in kept if int(r["seq"]) == prev.seq), None)
        if same is not None and same.get("hash") != prev.hash:
            return f"checkpoint {prev.seq} in the database differs from the witness's copy"
    return None


async def make_checkpoint(
    db: Database,
    key: Ed25519PrivateKey,
    *,
    trusted: frozenset[str] = frozenset(),
    witness: Witness | None = None,
    timestamper: Timestamper | None = None,
    only_if_changed: bool = False,
    first_max_age_s: float | None = None,
) -> Checkpoint | None:
    """Sign and store the heads of every chain as the next checkpoint.

    ``first_max_age_s``: refuse a *first* checkpoint over events older than this (they
    should have been covered already: the checkpoints were deleted); None adopts them, which
    is what the first start after an upgrade needs (`vcounter audit checkpoint --adopt-existing`).

    Raises :class:`CheckpointRefused` (and logs it) when a chain does not extend what the
    previous checkpoint covered, the previous checkpoint does not verify, or the witness
    knows of later checkpoints. Returns ``None`` when ``only_if_changed`` and nothing
    changed, or when another process signed the same place first.
    """
    try:
        checkpoint = await _sign_next(
            db, key, trusted, witness, timestamper, only_if_changed, first_max_age_s
        )
    except IntegrityError:
        # another process signed the same seq first (SQLite has no advisory lock); its
        # checkpoint covers what this one would have
        log.info("checkpoint: another process signed the next one first")
        return None
    if checkpoint is None:
        return None
    log.info(
        "checkpoint %d signed: %d session chains, staff log at %d%s",
        checkpoint.seq, len(checkpoint.heads), checkpoint.staff[0],
        ", time-stamped" if checkpoint.timestamp_token else "",
    )  # fmt: skip
    if witness is not None:
        try:
            await witness.publish(checkpoint.record())
        except WitnessError as exc:
            # the checkpoint stands; verification with the witness will name the gap
            log.error("checkpoint %d not published to the witness: %s", checkpoint.seq, exc.message)
    return checkpoint


async def _sign_next(
    db: Database,
    key: Ed25519PrivateKey,
    trusted: frozenset[str],
    witness: Witness | None,
    timestamper: Timestamper | None,
    only_if_changed: bool,
    first_max_age_s: float | None,
) -> Checkpoint | None:
    own = fingerprint(key)
    async with db.lock("audit:checkpoint"), db.sessions() as session, session.begin():
        if db.dialect == "postgresql":
            # one signer at a time across every server process on this database
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK})
        prev = await latest_checkpoint(session)
        heads = await chain_heads(session)
        staff = await staff_head(session)
        if only_if_changed and prev is not None and prev.heads == heads and prev.staff == staff:
            return None
        problems = []
        if prev is not None and (bad := _check_previous(prev, own, trusted)):
            problems.append(bad)
        if witness is not None:
            try:
                if bad := await _witness_problem(witness, prev):
                    problems.append(bad)
            except WitnessError as exc:
                problems.append(exc.message)
        problems += await extension_problems(session, prev, heads, staff)
        old = await _oldest_event(session) if prev is None else None
        if (
            old
            and first_max_age_s is not None
            and (utcnow() - old).total_seconds() > first_max_age_s
        ):
            problems.append(
                f"no checkpoint exists, yet events date from {old.isoformat()}, older than"
                f" {first_max_age_s:g} s: the checkpoints were deleted (if this is the first"
                " start after upgrading, run `vcounter audit checkpoint --adopt-existing`)"
            )
        if problems:
            log.error("checkpoint REFUSED, nothing signed: %s", "; ".join(problems))
            raise CheckpointRefused(
                "refusing to sign a checkpoint: "
                + "; ".join(problems[:5])
                + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
                + ". The audit trail was changed outside vcounter; run `vcounter audit verify"
                " --all` with the pinned key and restore the database from a verified backup"
            )
        seq = prev.seq + 1 if prev else 1
        created = utcnow()
        stamp = _utc_iso(created)
        body = signed_bytes(seq, prev.hash if prev else GENESIS_HASH, stamp, heads, staff, own)
        digest = hashlib.sha256(body).digest()
        token = await timestamper(digest) if timestamper is not None else None
        checkpoint = Checkpoint(
            seq=seq,
            prev_hash=prev.hash if prev else GENESIS_HASH,
            created_at=stamp,
            heads=heads,
            staff=staff,
            key_id=own,
            public_key=base64.b64encode(raw_public(key)).decode(),
            signature=base64.b64encode(key.sign(body)).decode(),
            hash=digest.hex(),
            timestamp_token=token,
        )
        row = ChainCheckpoint(
            created_at=created,
            heads=heads,
            key_id=own,
            signature=checkpoint.signature,
            seq=seq,
            prev_hash=checkpoint.prev_hash,
            hash=checkpoint.hash,
            staff_head=staff,
            public_key=checkpoint.public_key,
            timestamp_token=token,
        )
        session.add(row)
    return checkpoint
