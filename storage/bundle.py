"""An audit bundle: one session's events, files and signed checkpoint, checkable offline.

Layout of the folder ``export_bundle`` writes::

    events.json        every event with seq, kind, actor, payload, created_at, hashes
    files/<sha256>     every file the events name (recording segments, documents, PDFs)
    checkpoint.json    the newest signed checkpoint covering the session, if any
    public_key.pem     the key that signed it
    report.json        the verification done at export time

:func:`verify_bundle` needs nothing but the folder: it recomputes the chain, re-hashes the
files and checks the checkpoint's signature and head.
"""

from __future__ import annotations

import base64
import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from storage.audit import GENESIS_HASH, AuditLog, event_hash
from storage.blobs import FileBlobStore, sha256_hex
from storage.checkpoints import Checkpoint, public_pem, signed_bytes
from storage.db import Database
from storage.errors import InvalidValue
from storage.verify import Problem, blob_refs, verify_session


async def export_bundle(
    db: Database,
    blobs: FileBlobStore,
    session_id: str,
    target: Path,
    checkpoint: Checkpoint | None,
    public_key: Ed25519PublicKey | None,
) -> list[Problem]:
    """Write ``session_id``'s bundle into the folder ``target``; returns what did not verify."""
    events = await AuditLog(db).events(session_id)
    if not events:
        raise InvalidValue(f"session {session_id} has no events to export; check the id")
    report = await verify_session(db, blobs, session_id, checkpoint, public_key)
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
    if checkpoint is not None and session_id in checkpoint.heads:
        _write(
            target / "checkpoint.json",
            {
                "id": checkpoint.id,
                "created_at": checkpoint.created_at,
                "heads": {session_id: checkpoint.heads[session_id]},
                "all_heads": checkpoint.heads,
                "key_id": checkpoint.key_id,
                "signature": checkpoint.signature,
            },
        )
    if public_key is not None:
        (target / "public_key.pem").write_text(public_pem(public_key))
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


def verify_bundle(folder: Path) -> tuple[str, list[Problem]]:
    """Check a bundle with nothing but its files; returns the session id and the problems."""
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
    problems += _check_checkpoint(folder, session_id, rows)
    return session_id, problems


def _check_checkpoint(folder: Path, session_id: str, rows: list[dict[str, Any]]) -> list[Problem]:
    path = folder / "checkpoint.json"
    if not path.exists():
        return []
    cp = json.loads(path.read_text())
    where = f"checkpoint {cp['id']} of {cp['created_at']}"
    try:
        key = serialization.load_pem_public_key((folder / "public_key.pem").read_bytes())
    except FileNotFoundError:
        return [Problem(where, "no public key in the bundle", "public_key.pem", "nothing")]
    if not isinstance(key, Ed25519PublicKey):
        return [Problem(where, "public key is not Ed25519", "Ed25519", type(key).__name__)]
    try:
        key.verify(
            base64.b64decode(cp["signature"]), signed_bytes(cp["created_at"], cp["all_heads"])
        )
    except (InvalidSignature, ValueError):
        return [Problem(where, "signature does not verify", "a valid signature", "a bad one")]
    count, head = cp["all_heads"][session_id]
    if len(rows) < count:
        return [Problem(where, "events deleted from the end", f"{count} events", f"{len(rows)}")]
    if rows[count - 1]["hash"] != head:
        return [
            Problem(f"event {count}", "differs from the checkpoint", head, rows[count - 1]["hash"])
        ]
    return []


def _write(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True))
