"""An audit bundle: one session's events, files and signed checkpoint, checkable offline.

Layout of the folder ``export_bundle`` writes::

    events.json        every event with seq, kind, actor, payload, created_at, hashes
    files/<sha256>     every file the events name (recording segments, documents, PDFs)
    checkpoints.json   the signed checkpoints from the first that covers the session to the
                       newest (made at export), each whole: their signatures cover every head
    report.json        the verification done at export time

:func:`verify_bundle` needs the folder and the pinned keys (never a key from the bundle):
it recomputes the chain, re-hashes the files, checks that the checkpoints link and were
signed by a pinned key, and that they cover the whole chain. A bundle without checkpoints
does not verify.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from storage.audit import GENESIS_HASH, AuditLog, event_hash
from storage.blobs import FileBlobStore, sha256_hex
from storage.checkpoints import Checkpoint
from storage.db import Database
from storage.errors import InvalidValue
from storage.trail import ChainEvent, Policy, chain_against, check_checkpoints
from storage.verify import Problem, blob_refs, verify_session


async def export_bundle(
    db: Database,
    blobs: FileBlobStore,
    session_id: str,
    target: Path,
    checkpoints: list[Checkpoint],
    policy: Policy,
) -> list[Problem]:
    """Write ``session_id``'s bundle into the folder ``target``; returns what did not verify."""
    events = await AuditLog(db).events(session_id)
    if not events:
        raise InvalidValue(f"session {session_id} has no events to export; check the id")
    report = await verify_session(db, blobs, session_id, checkpoints, policy)
    files = target / "files"
    files.mkdir(parents=True, exist_ok=True)
    rows = []
    for event in events:
        rows.append(
            {
                "session_id": event.session_id,
                "seq": event.seq,
                "kind": event.kind,
                "actor": event.actor,
                "payload": event.payload,
                "created_at": event.created_at.isoformat(),
                "prev_hash": event.prev_hash,
                "hash": event.hash,
            }
        )
        for _, digest in blob_refs(event.kind, event.payload):
            source = blobs.path(digest)
            if source.exists():
                shutil.copyfile(source, files / digest)
    _write(target / "events.json", rows)
    first = next((i for i, cp in enumerate(checkpoints) if session_id in cp.heads), None)
    if first is not None:
        _write(target / "checkpoints.json", [cp.record() for cp in checkpoints[first:]])
    _write(
        target / "report.json",
        {
            "session_id": session_id,
            "events": report.events,
            "files": report.blobs,
            "ok": report.ok,
            "problems": [str(p) for p in report.problems],
        },
    )
    return report.problems


async def verify_bundle(folder: Path, policy: Policy) -> tuple[str, list[Problem]]:
    """Check a bundle with its files and the pinned keys; returns the session id and problems."""
    try:
        rows: list[dict[str, Any]] = json.loads((folder / "events.json").read_text())
    except FileNotFoundError as exc:
        raise InvalidValue(f"{folder} is not an audit bundle: no events.json in it") from exc
    if not rows:
        raise InvalidValue(f"{folder}/events.json holds no events")
    session_id = str(rows[0]["session_id"])
    problems: list[Problem] = []
    prev = GENESIS_HASH
    for expected_seq, row in enumerate(rows, start=1):
        where = f"event {row['seq']}"
        recomputed = event_hash(
            session_id, row["seq"], row["kind"], row["actor"], row["payload"],
            datetime.fromisoformat(row["created_at"]), row["prev_hash"],
        )  # fmt: skip
        if recomputed != row["hash"]:
            problems.append(Problem(where, "hash mismatch", recomputed, row["hash"]))
            break
        if row["seq"] != expected_seq:
            problems.append(Problem(where, "sequence gap", str(expected_seq), str(row["seq"])))
            break
        if row["prev_hash"] != prev:
            problems.append(Problem(where, "prev_hash does not link", prev, row["prev_hash"]))
            break
        prev = row["hash"]
        for description, digest in blob_refs(row["kind"], row["payload"]):
            path = folder / "files" / digest
            if not path.exists():
                problems.append(
                    Problem(f"{description} ({where})", "file missing", digest, "nothing")
                )
            elif (found := sha256_hex(path.read_bytes())) != digest:
                problems.append(Problem(f"{description} ({where})", "file changed", digest, found))
    problems += await _check_checkpoints(folder, session_id, rows, policy)
    return session_id, problems


async def _check_checkpoints(
    folder: Path, session_id: str, rows: list[dict[str, Any]], policy: Policy
) -> list[Problem]:
    path = folder / "checkpoints.json"
    if not path.exists():
        return [
            Problem(
                "bundle", "holds no signed checkpoint, so nothing vouches for its chain",
                "checkpoints.json", "nothing",
            )
        ]  # fmt: skip
    try:
        checkpoints = [Checkpoint.from_record(r) for r in json.loads(path.read_text())]
    except (ValueError, KeyError, TypeError) as exc:
        return [
            Problem("bundle", "checkpoints.json cannot be read", "checkpoint records", str(exc))
        ]
    if not checkpoints:
        return [Problem("bundle", "holds no signed checkpoint", "at least one", "none")]
    # the witness holds every checkpoint of the store, a bundle only an excerpt
    excerpt = dataclasses.replace(policy, witness=None, max_gap_s=None)
    problems = await check_checkpoints(checkpoints, excerpt, from_start=False)
    events = [
        ChainEvent(int(r["seq"]), str(r["hash"]), datetime.fromisoformat(r["created_at"]))
        for r in rows
    ]
    problems += chain_against("chain", session_id, events, checkpoints, excerpt)
    covered = int((checkpoints[-1].heads.get(session_id) or [0])[0])
    if len(rows) > covered:
        problems.append(
            Problem(
                f"event {covered + 1}", "not covered by the bundle's newest checkpoint (added later)",
                f"{covered} events", f"{len(rows)}",
            )
        )  # fmt: skip
    return problems


def _write(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True))
