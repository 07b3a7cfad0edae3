"""Recording segments: uploaded by the kiosk during the call, kept by hash, in the chain.

``PUT /api/sessions/{session_id}/recordings/{side}/{index}`` with the kiosk's device token,
the WebM bytes as the body and the :class:`~signaling.messages.SegmentMeta` as JSON in the
``X-Segment`` header. The bytes go to the blob store under their SHA-256 and a
``recording.segment`` event carrying that hash joins the session's hash chain, so changing a
stored segment is found by ``vcounter audit verify``. Uploading the same segment again is
harmless (idempotent); a different segment under the same number is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from pydantic import ValidationError

from media.recording import WEBM_MAGIC, RecordingError, concatenate
from signaling.http_auth import http_error, terminal_of
from signaling.keys import BLOBS, DATABASE, SETTINGS
from signaling.logs import context_log
from signaling.messages import SegmentMeta
from storage import store
from storage.audit import AuditLog
from storage.errors import ChainMoved, NotFound
from storage.models import utcnow

log = logging.getLogger(__name__)

MAX_SEGMENT_BYTES = 32 * 1024 * 1024
# the kiosk uploads its last segment after the hang-up; later than this, nothing is taken
RECORDING_GRACE = timedelta(seconds=120)
SEGMENT_EVENT = "recording.segment"


async def put_segment(request: web.Request) -> web.Response:
    """Store one recording segment of the kiosk's own session."""
    terminal = await terminal_of(request)
    session_id = request.match_info["session_id"]
    side = request.match_info["side"]
    index = int(request.match_info["index"])
    try:
        row = await store.get_session(request.app[DATABASE], session_id)
    except NotFound as exc:
        raise http_error(web.HTTPNotFound, "not_found", exc.message) from exc
    if row.terminal_id != terminal.id:
        raise http_error(
            web.HTTPForbidden,
            "not_your_session",
            f"session {session_id} is not this kiosk's; upload only your own recordings",
        )
    try:
        meta = SegmentMeta.model_validate_json(request.headers.get("X-Segment", ""))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "X-Segment"
        raise http_error(
            web.HTTPBadRequest,
            "invalid_message",
            f'X-Segment header: field "{where}": {first["msg"]}',
        ) from exc
    if (meta.side, meta.index) != (side, index):
        raise http_error(
            web.HTTPBadRequest,
            "invalid_message",
            f"X-Segment describes {meta.side} segment {meta.index} but the URL names"
            f" {side} segment {index}",
        )
    if request.content_length is not None and request.content_length > MAX_SEGMENT_BYTES:
        raise http_error(
            web.HTTPRequestEntityTooLarge,
            "too_large",
            f"a segment may be at most {MAX_SEGMENT_BYTES // 2**20} MiB; record shorter segments",
        )
    data = await request.read()
    if not data.startswith(WEBM_MAGIC):
        raise http_error(
            web.HTTPUnsupportedMediaType,
            "not_a_recording",
            "the body is not a WebM recording; send the segment file as it was written",
        )
    digest = hashlib.sha256(data).hexdigest()
    if digest != meta.sha256:
        raise http_error(
            web.HTTPBadRequest,
            "hash_mismatch",
            f"the body hashes to {digest}, not {meta.sha256} as X-Segment says; it was damaged"
            " on the way: upload it again",
        )
    if row.ended_at is not None and utcnow() - row.ended_at > RECORDING_GRACE:
        raise http_error(
            web.HTTPConflict,
            "session_not_active",
            f"session {session_id} ended at {row.ended_at.isoformat(timespec='seconds')};"
            " its recording is closed",
        )
    audit = AuditLog(request.app[DATABASE])
    actor = f"terminal:{terminal.id}"
    stored = False
    for _ in range(5):
        events = await audit.events(session_id)
        for event in events:
            if event.kind != SEGMENT_EVENT:
                continue
            if (event.payload["side"], event.payload["index"]) == (side, index):
                if event.payload["sha256"] == digest:
                    return web.json_response({"sha256": digest, "duplicate": True})
                raise http_error(
                    web.HTTPConflict,
                    "conflict",
                    f"{side} segment {index} of session {session_id} is already stored with"
                    " another content; recordings cannot be replaced",
                )
        await request.app[BLOBS].put(data)
        try:
            # only onto the chain just checked: two uploads of one segment at once (or from
            # two processes) cannot both be entered
            await audit.append(
                session_id,
                SEGMENT_EVENT,
                actor,
                {**meta.model_dump(), "bytes": len(data)},
                after_seq=events[-1].seq if events else 0,
            )
        except ChainMoved:
            continue
        stored = True
        break
    if not stored:
        raise http_error(
            web.HTTPServiceUnavailable,
            "busy",
            f"session {session_id} is being written to heavily; upload the segment again",
        )
    context_log(log, session_id, actor).info(
        "recording %s segment %d stored (%d bytes)", side, index, len(data)
    )
    return web.json_response({"sha256": digest, "duplicate": False}, status=201)


async def segments_of(audit: AuditLog, session_id: str, side: str) -> list[SegmentMeta]:
    """The stored segments of one side of a session, in order."""
    found = [
        SegmentMeta.model_validate({k: v for k, v in e.payload.items() if k != "bytes"})
        for e in await audit.events(session_id)
        if e.kind == SEGMENT_EVENT and e.payload.get("side") == side
    ]
    return sorted(found, key=lambda m: m.index)


async def side_file(app: web.Application, session_id: str, side: str) -> Path:
    """One side's whole recording as one WebM file (made from the segments once, then kept)."""
    segments = await segments_of(AuditLog(app[DATABASE]), session_id, side)
    if not segments:
        raise NotFound(f"session {session_id} has no {side} recording")
    key = hashlib.sha256("".join(s.sha256 for s in segments).encode()).hexdigest()[:16]
    target = app[SETTINGS].data_dir / "replay-cache" / f"{session_id}-{side}-{key}.webm"
    if not target.exists():
        blobs = app[BLOBS]
        parts = [await blobs.get(s.sha256) for s in segments]
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            await asyncio.to_thread(concatenate, parts, target)
        except RecordingError as exc:
            raise NotFound(f"the {side} recording of {session_id} cannot be read: {exc}") from exc
    return target


def setup_recordings(app: web.Application) -> None:
    """Mount the segment upload route."""
    app.router.add_put(
        r"/api/sessions/{session_id:[0-9a-f]{32}}/recordings/{side:applicant|clerk|document}/{index:\d{1,6}}",
        put_segment,
    )
