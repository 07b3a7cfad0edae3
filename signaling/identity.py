"""Identity (step 3): the kiosk's report goes into the session's hash chain, the clerk sees it.

Routes (all JSON bodies are models of :mod:`signaling.messages`):

- ``POST /api/sessions/{id}/identity`` (the kiosk of the session, device token):
  an :class:`IdentityReport`. Evidence JPEGs go to the blob store under their SHA-256;
  one ``identity.result`` event carries the document fields, the score and threshold, the
  liveness outcome and the evidence hashes, so the evidence is covered by the chain.
- ``GET /api/sessions/{id}/identity`` (the clerk of the session): the :class:`IdentityPanel`.
- ``GET /api/sessions/{id}/identity/evidence/{sha256}`` (the clerk of the session): one
  evidence JPEG, only if the session's chain names it.
- ``POST /api/sessions/{id}/identity/override`` (the clerk of the session): accept a failed
  check with a written :class:`IdentityOverride` reason, recorded as ``identity.override``.

Personal data is for the clerk who has the call: another clerk, or a supervisor, is refused
(403). The clerk is told of a new result by an ``identity`` socket event to their socket only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from datetime import UTC, date, datetime

from aiohttp import web

from signaling.access import READ_EVENT, is_live
from signaling.http_auth import body_as, http_error
from signaling.keys import BLOBS, DATABASE, ROUTER
from signaling.logs import context_log
from signaling.messages import (
    Event,
    EvidenceRef,
    IdentityOverride,
    IdentityOverrideRecord,
    IdentityPanel,
    IdentityReport,
    IdentityResult,
    IdentityUpdated,
    Role,
)
from signaling.own_session import clerk_session, kiosk_session
from signaling.rooms import clerk_room, terminal_room
from storage import routing
from storage.audit import AuditLog
from storage.models import CallSession, SessionEvent
from storage.self_service import STATE as SELF_SERVICE_STATE
from storage.staff_audit import StaffLog

log = logging.getLogger(__name__)


RESULT_EVENT = "identity.result"
OVERRIDE_EVENT = "identity.override"
JPEG_MAGIC = b"\xff\xd8\xff"
MAX_EVIDENCE_BYTES = 512 * 1024
_SESSION = r"{session_id:[0-9a-f]{32}}"


def _check_consistent(report: IdentityReport) -> None:
    """Refuse a report whose parts disagree: 'verified' must be earned by every part."""
    match = report.match
    if (
        match is not None
        and match.score is not None
        and match.matched != (match.score >= match.threshold)
    ):
        raise http_error(
            web.HTTPBadRequest,
            "inconsistent_identity",
            f"the report says matched={match.matched} but the score {match.score} is"
            f" {'above' if match.score >= match.threshold else 'below'} its threshold"
            f" {match.threshold}",
        )
    if report.outcome != "verified":
        explained = (
            report.failure_code is not None
            or (match is not None and not match.matched)
            or (report.liveness is not None and not report.liveness.passed)
        )
        if not explained:
            raise http_error(
                web.HTTPBadRequest,
                "inconsistent_identity",
                "a failed attempt needs a failure_code or a failed match or liveness",
            )
        return
    missing = [
        name
        for name, ok in (
            ("document", report.document is not None),
            ("a face match", match is not None and match.matched),
            ("passed liveness", report.liveness is not None and report.liveness.passed),
        )
        if not ok
    ]
    if missing:
        raise http_error(
            web.HTTPBadRequest,
            "inconsistent_identity",
            f"an attempt reported as verified lacks {', '.join(missing)}",
        )
    assert report.document is not None
    if date.fromisoformat(report.document.expiry_date) < datetime.now(UTC).date():
        raise http_error(
            web.HTTPBadRequest,
            "inconsistent_identity",
            f"the document expired on {report.document.expiry_date}; it cannot verify anyone",
        )


async def post_report(request: web.Request) -> web.Response:
    """The kiosk reports one identity attempt of its own session."""
    row, terminal = await kiosk_session(request, "report only your own applicant")
    # a self-service session (signaling/self_service) has no call: its identity is checked
    # before the department is asked, while it is open
    if not is_live(row) and row.state != SELF_SERVICE_STATE:
        # a report after the call would change which document a later reprint accepts
        raise http_error(
            web.HTTPConflict,
            "session_not_active",
            f"session {row.id} is not in a call (it is {row.state}); identity is checked"
            " during the call only",
        )
    report = body_as(IdentityReport, await request.read())
    _check_consistent(report)
    blobs = request.app[BLOBS]
    refs = []
    for i, image in enumerate(report.evidence):
        try:
            data = base64.b64decode(image.jpeg_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise http_error(
                web.HTTPBadRequest, "invalid_message", f"evidence {i} is not base64"
            ) from exc
        if not data.startswith(JPEG_MAGIC) or len(data) > MAX_EVIDENCE_BYTES:
            raise http_error(
                web.HTTPBadRequest,
                "invalid_message",
                f"evidence {i} must be a JPEG of at most {MAX_EVIDENCE_BYTES // 1024} KiB",
            )
        refs.append(EvidenceRef(kind=image.kind, sha256=await blobs.put(data), bytes=len(data)))
    payload = report.model_dump(mode="json", exclude={"evidence"})
    payload["evidence"] = [r.model_dump(mode="json") for r in refs]
    actor = f"terminal:{terminal.id}"
    event = await AuditLog(request.app[DATABASE]).append(row.id, RESULT_EVENT, actor, payload)
    context_log(log, row.id, actor).info(
        "identity attempt %s (%d evidence images) recorded at seq %d",
        report.outcome,
        len(refs),
        event.seq,
    )
    panel = await _panel(request.app, row.id)
    await _notify(request.app, row, panel)
    return web.json_response({"seq": event.seq, "status": panel.status}, status=201)


def _result(event: SessionEvent) -> IdentityResult:
    return IdentityResult.model_validate(
        {**event.payload, "seq": event.seq, "at": event.created_at.isoformat()}
    )


async def _panel(app: web.Application, session_id: str) -> IdentityPanel:
    events = await AuditLog(app[DATABASE]).events(session_id)
    results = [e for e in events if e.kind == RESULT_EVENT]
    overrides = [e for e in events if e.kind == OVERRIDE_EVENT]
    if not results:
        return IdentityPanel(session_id=session_id, status="pending", attempts=0)
    result = _result(results[-1])
    override = None
    status: str = result.outcome
    if overrides and overrides[-1].payload["result_seq"] == result.seq:
        o = overrides[-1]
        override = IdentityOverrideRecord(
            seq=o.seq,
            at=o.created_at.isoformat(),
            clerk=o.payload["clerk"],
            reason=o.payload["reason"],
            result_seq=o.payload["result_seq"],
        )
        status = "overridden"
    return IdentityPanel.model_validate(
        {
            "session_id": session_id,
            "status": status,
            "attempts": len(results),
            "result": result,
            "override": override,
        }
    )


async def _notify(app: web.Application, row: CallSession, panel: IdentityPanel) -> None:
    """Tell the clerk who has the call (and nobody else) that the panel changed, and the
    session's kiosk when the clerk confirmed the identity (it must stop saying "try again")."""
    emitter = app[ROUTER].emitter
    notice = IdentityUpdated(session_id=row.id, status=panel.status)
    session = await routing.get(app[DATABASE], row.id)
    if session is None or not session.in_call:
        return
    if panel.status == "overridden":
        await emitter.to_room(
            Role.TERMINAL, terminal_room(session.terminal_id), Event.IDENTITY, notice
        )
    if session.clerk_id is not None:
        await emitter.to_room(Role.CLERK, clerk_room(session.clerk_id), Event.IDENTITY, notice)


async def announce(app: web.Application, row: CallSession) -> IdentityPanel:
    """Tell the session's clerk that its identity panel changed, for a feature that records
    identity evidence of its own (the e-ID sign-in, signaling/eid)."""
    panel = await _panel(app, row.id)
    await _notify(app, row, panel)
    return panel


async def get_panel(request: web.Request) -> web.Response:
    """The identity panel of a session, for its clerk (and a clerk consulted about it)."""
    row, claims = await clerk_session(request, "identity details", consulted=True)
    panel = await _panel(request.app, row.id)
    await StaffLog(request.app[DATABASE]).append(
        f"clerk:{claims.clerk_id}", READ_EVENT, {"what": "identity"}, row.id
    )
    return web.json_response(panel.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


async def get_evidence(request: web.Request) -> web.Response:
    """One evidence picture named by the session's chain."""
    row, claims = await clerk_session(request, "identity details", consulted=True)
    digest = request.match_info["sha256"]
    events = await AuditLog(request.app[DATABASE]).events(row.id)
    named = any(
        ref.get("sha256") == digest
        for e in events
        if e.kind == RESULT_EVENT
        for ref in e.payload.get("evidence", [])
    )
    if not named:
        raise http_error(
            web.HTTPNotFound, "not_found", f"session {row.id} has no evidence picture {digest}"
        )
    data = await request.app[BLOBS].get(digest)
    await StaffLog(request.app[DATABASE]).append(
        f"clerk:{claims.clerk_id}",
        READ_EVENT,
        {"what": "identity evidence", "sha256": digest},
        row.id,
    )
    return web.Response(
        body=data, content_type="image/jpeg", headers={"Cache-Control": "private, no-store"}
    )


async def post_override(request: web.Request) -> web.Response:
    """The session's clerk accepts a failed check, with a written reason."""
    row, claims = await clerk_session(request, "identity details")
    if not is_live(row):
        raise http_error(
            web.HTTPConflict,
            "session_not_active",
            f"session {row.id} is no longer in a call; an identity check is overridden during"
            " the call only",
        )
    body = body_as(IdentityOverride, await request.read())
    reason = body.reason.strip()
    if len(reason) < 10:
        raise http_error(
            web.HTTPBadRequest,
            "reason_required",
            "write why you accept this applicant's identity (at least 10 characters)",
        )
    panel = await _panel(request.app, row.id)
    if panel.result is None or panel.status != "failed":
        raise http_error(
            web.HTTPConflict,
            "nothing_to_override",
            f"the identity check is {panel.status}; only a failed check can be overridden",
        )
    actor = f"clerk:{claims.username}"
    payload = {
        "clerk_id": claims.clerk_id,
        "clerk": claims.username,
        "reason": reason,
        "result_seq": panel.result.seq,
        "reason_sha256": hashlib.sha256(reason.encode()).hexdigest(),
    }
    await AuditLog(request.app[DATABASE]).append(row.id, OVERRIDE_EVENT, actor, payload)
    context_log(log, row.id, actor).info(
        "identity check of attempt %d overridden", panel.result.seq
    )
    panel = await _panel(request.app, row.id)
    # the kiosk still says "try again": it is told, and so is the clerk's console
    await _notify(request.app, row, panel)
    return web.json_response(panel.model_dump(mode="json"), status=201)


def setup_identity(app: web.Application) -> None:
    """Mount the identity routes."""
    app.router.add_post(f"/api/sessions/{_SESSION}/identity", post_report)
    app.router.add_get(f"/api/sessions/{_SESSION}/identity", get_panel)
    app.router.add_get(
        f"/api/sessions/{_SESSION}/identity/evidence/{{sha256:[0-9a-f]{{64}}}}", get_evidence
    )
    app.router.add_post(f"/api/sessions/{_SESSION}/identity/override", post_override)
