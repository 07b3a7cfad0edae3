"""Verifying the checkpoint chain and holding every event chain against it.

What an auditor runs (``vcounter audit verify``, ``vcounter verify FILE.pdf``, bundles), with
a :class:`Policy` given from *outside* the data being checked:

* the pinned keys: a checkpoint signed by any other key counts as a problem, not as proof;
* the longest allowed gap (``checkpoint_interval_s`` × ``checkpoint_slack``): an event no
  checkpoint covers although it is older than that, or one first covered much later than the
  checkpoint before, means checkpoints are missing;
* the witness's copies of the checkpoints, and whether RFC 3161 time stamps are required.

Every problem is a :class:`storage.verify.Problem` whose sentence names what is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from asn1crypto import x509

from storage.checkpoint_keys import PinnedKeys
from storage.checkpoints import Checkpoint, Head
from storage.problems import Problem
from storage.timestamps import check_token

# how far a TSA's time may be from the checkpoint's own created_at (clock skew, TSA latency)
TSA_SKEW_S = 120.0


@dataclass(frozen=True)
class Policy:
    """What the verifier brings from outside the store."""

    pinned: PinnedKeys
    max_gap_s: float | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    witness: list[dict[str, Any]] | None = None
    require_timestamps: bool = False
    tsa_roots: tuple[x509.Certificate, ...] = ()


@dataclass(frozen=True)
class ChainEvent:
    """What the checkpoint checks need of one event: its place, hash and time."""

    seq: int
    hash: str
    created_at: datetime


def _where(cp: Checkpoint) -> str:
    return f"checkpoint {cp.seq} of {cp.created_at}"


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def check_checkpoints(
    checkpoints: Sequence[Checkpoint], policy: Policy, *, from_start: bool = True
) -> list[Problem]:
    """The checkpoint chain itself: links, hashes, pinned signatures, growth, witness, TSA.

    ``from_start``: the list must begin at checkpoint 1 (False for a bundle's excerpt).
    """
    problems: list[Problem] = []
    if not policy.pinned:
        problems.append(
            Problem(
                "checkpoints", "no pinned audit key to check signatures with",
                "--key FILE, --fingerprint HEX or the audit_public_keys setting", "none",
            )
        )  # fmt: skip
    prev: Checkpoint | None = None
    for cp in checkpoints:
        where = _where(cp)
        if prev is None:
            if from_start and cp.seq != 1:
                problems.append(
                    Problem(
                        where, "checkpoints deleted from the start", "checkpoint 1", f"{cp.seq}"
                    )
                )
        elif cp.seq != prev.seq + 1:
            problems.append(
                Problem(where, "checkpoints deleted", f"checkpoint {prev.seq + 1}", f"{cp.seq}")
            )
        elif cp.prev_hash != prev.hash:
            problems.append(
                Problem(where, "does not link to the checkpoint before it", prev.hash, cp.prev_hash)
            )
        if not cp.hash_ok():
            problems.append(
                Problem(where, "changed after signing (hash mismatch)", cp.computed_hash(), cp.hash)
            )
        elif policy.pinned and cp.key_id not in policy.pinned:
            problems.append(
                Problem(
                    where, "signed by a key that is not pinned",
                    f"one of {policy.pinned.describe()}", f"{cp.key_id[:16]}…",
                )
            )  # fmt: skip
        elif not cp.signature_ok():
            problems.append(
                Problem(where, "signature does not verify", "a valid signature", "a bad one")
            )
        if prev is not None:
            problems += _grows(prev, cp)
        problems += await _timestamp(cp, policy)
        prev = cp
    if policy.witness is not None:
        problems += _against_witness(checkpoints, policy.witness)
    return problems


def _grows(prev: Checkpoint, cp: Checkpoint) -> list[Problem]:
    where = _where(cp)
    for sid, (count, _) in prev.heads.items():
        now = cp.heads.get(sid)
        if now is None or int(now[0]) < int(count):
            found = "nothing" if now is None else f"{now[0]} events"
            return [
                Problem(where, f"covers less of session {sid} than the one before",
                        f"at least {count} events", found)
            ]  # fmt: skip
    if int(cp.staff[0]) < int(prev.staff[0]):
        return [
            Problem(where, "covers less of the staff log than the one before",
                    f"at least {prev.staff[0]} events", f"{cp.staff[0]}")
        ]  # fmt: skip
    return []


async def _timestamp(cp: Checkpoint, policy: Policy) -> list[Problem]:
    where = _where(cp)
    if cp.timestamp_token is None:
        if policy.require_timestamps:
            return [Problem(where, "has no RFC 3161 time stamp", "a TSA token", "none")]
        return []
    result = await check_token(cp.timestamp_token, bytes.fromhex(cp.hash), list(policy.tsa_roots))
    if not result.ok:
        return [Problem(where, "time stamp does not hold", "a token over its hash", result.problem)]
    if result.gen_time is not None:
        skew = abs((result.gen_time - _when(cp.created_at)).total_seconds())
        if skew > TSA_SKEW_S:
            return [
                Problem(where, "its time is not the time-stamping authority's",
                        cp.created_at, f"TSA time {result.gen_time.isoformat()}")
            ]  # fmt: skip
    return []


def _against_witness(
    checkpoints: Sequence[Checkpoint], witness: list[dict[str, Any]]
) -> list[Problem]:
    problems: list[Problem] = []
    ours = {cp.seq: cp for cp in checkpoints}
    last = max(ours) if ours else 0
    for record in witness:
        seq = int(record.get("seq", 0))
        kept = ours.get(seq)
        if kept is None:
            problems.append(
                Problem(f"checkpoint {seq}", "the witness holds it but the store does not",
                        f"checkpoint {seq} (hash {str(record.get('hash'))[:16]}…)",
                        f"the store ends at {last}" if seq > last else "nothing")
            )  # fmt: skip
        elif kept.hash != record.get("hash"):
            problems.append(
                Problem(_where(kept), "differs from the witness's copy",
                        str(record.get("hash")), kept.hash)
            )  # fmt: skip
    if witness:
        first = min(int(r.get("seq", 0)) for r in witness)
        held = {int(r.get("seq", 0)) for r in witness}
        for cp in checkpoints:
            if cp.seq > first and cp.seq not in held:
                problems.append(
                    Problem(_where(cp), "was never published to the witness",
                            "a copy in the witness", "none")
                )  # fmt: skip
    return problems


def vouching(checkpoints: Sequence[Checkpoint], policy: Policy) -> list[Checkpoint]:
    """The checkpoints that vouch for chains: intact and signed by a pinned key, from the store
    and, where the store lacks one or holds another, the witness's copy."""

    def good(cp: Checkpoint) -> bool:
        return cp.hash_ok() and cp.key_id in policy.pinned and cp.signature_ok()

    found = [cp for cp in checkpoints if good(cp)]
    stored = {(cp.seq, cp.hash) for cp in checkpoints}
    for record in policy.witness or []:
        try:
            copy = Checkpoint.from_record(record)
        except (KeyError, TypeError, ValueError):
            continue  # named by check_checkpoints as differing from the store
        if (copy.seq, copy.hash) not in stored and good(copy):
            found.append(copy)
    return sorted(found, key=lambda cp: cp.seq)


def chain_against(
    name: str,
    chain_id: str | None,
    events: Sequence[ChainEvent],
    checkpoints: Sequence[Checkpoint],
    policy: Policy,
) -> list[Problem]:
    """One chain (a session's, or the staff log's with ``chain_id`` None) against every
    checkpoint that vouches (:func:`vouching`).

    Finds a tail deleted or rewritten after a checkpoint covered it, and events the
    checkpoints should have covered by now but did not.
    """

    def head_of(cp: Checkpoint) -> Head | None:
        return cp.staff if chain_id is None else cp.heads.get(chain_id)

    checkpoints = vouching(checkpoints, policy)
    problems: list[Problem] = []
    for cp in checkpoints:
        head = head_of(cp)
        if head is None or int(head[0]) == 0:
            continue
        count, head_hash = int(head[0]), str(head[1])
        if len(events) < count:
            last = events[-1].seq if events else 0
            problems.append(
                Problem(
                    _where(cp), f"events deleted from the end of the {name}",
                    f"at least {count} events (last hash {head_hash[:16]}…)",
                    f"{len(events)} (last seq {last})",
                )
            )  # fmt: skip
            return problems
        at = events[count - 1]
        if at.hash != head_hash:
            problems.append(
                Problem(f"{name} event {at.seq}", f"differs from signed {_where(cp)}",
                        head_hash, at.hash)
            )  # fmt: skip
            return problems
    if policy.max_gap_s is not None:
        problems += _coverage(name, events, [(cp, head_of(cp)) for cp in checkpoints], policy)
    return problems


def _coverage(
    name: str,
    events: Sequence[ChainEvent],
    heads: list[tuple[Checkpoint, Head | None]],
    policy: Policy,
) -> list[Problem]:
    assert policy.max_gap_s is not None
    gap = timedelta(seconds=policy.max_gap_s)
    index = 0  # the first checkpoint that may cover the next event
    for event in events:
        while index < len(heads) and int((heads[index][1] or [0])[0]) < event.seq:
            index += 1
        if index == len(heads):
            if event.created_at < policy.now - gap:
                newest = heads[-1][0] if heads else None
                found = f"none (newest is {_where(newest)})" if newest else "no checkpoint at all"
                return [
                    Problem(f"{name} event {event.seq}",
                            "no checkpoint covers it: checkpoints are missing",
                            f"a checkpoint within {policy.max_gap_s:g} s of {event.created_at.isoformat()}",
                            found)
                ]  # fmt: skip
            return []
        if index == 0:
            continue  # the first checkpoint ever adopts what came before it
        cp, before = heads[index][0], heads[index - 1][0]
        waited = _when(cp.created_at) - max(event.created_at, _when(before.created_at))
        if waited > gap:
            return [
                Problem(f"{name} event {event.seq}",
                        "first covered too late: checkpoints are missing before it",
                        f"within {policy.max_gap_s:g} s",
                        f"{waited.total_seconds():.0f} s later, by {_where(cp)}")
            ]  # fmt: skip
    return []
