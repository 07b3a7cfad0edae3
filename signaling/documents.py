"""Documents of a session over HTTP: resumable upload, content checks, storage, review.

The kiosk uploads with its device token (``PUT /api/sessions/{id}/documents/{sha256}``,
ranges as in :mod:`signaling.uploads`, the :class:`~signaling.messages.DocumentMeta` as
JSON in ``X-Document``). A whole file is checked by its content
(:func:`media.doc_checks.check_document`), stored in the blob store under its SHA-256 and
recorded as a ``document.added`` event in the session's hash chain; the clerk's console
gets ``document_added`` and both screens a fresh ``checklist``. A refusal says why in the
applicant's language and changes nothing already stored. Only the session's clerk and
supervisors can read the documents; only the clerk decides on them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from media.doc_checks import check_document, check_size
from media.errors import DocumentRefused, PageImageError
from media.page_pdf import merge_documents
from signaling.auth import ClerkClaims, check_token
from signaling.catalogue import Service
from signaling.checklist import (
    CAPTURE_REQUESTED,
    DOCUMENT_ADDED,
    DOCUMENT_REFUSED,
    MATERIAL_REVIEWED,
    DocumentState,
    fold,
)
from signaling.document_texts import refusal_text
from signaling.errors import AuthError
from signaling.http_auth import bearer, clerk_of, http_error, json_body, terminal_of
from signaling.keys import BLOBS, CATALOGUE, DATABASE, ROUTER, SETTINGS
from signaling.logs import context_log
from signaling.messages import (
    CaptureRequested,
    DocumentAdded,
    DocumentInfo,
    DocumentList,
    DocumentMeta,
    Event,
    Message,
    RequestCapture,
    ReviewMaterial,
    Role,
    SessionState,
    UploadStatus,
)
from signaling.uploads import UploadArea, parse_range
from storage import store
from storage.audit import AuditLog
from storage.blobs import sha256_hex
from storage.errors import NotFound

log = logging.getLogger(__name__)

SUPERVISOR = "supervisor"
_SESSION = r"{session_id:[0-9a-f]{32}}"
_SHA = r"{sha256:[0-9a-f]{64}}"
_MATERIAL = r"{material_id:[a-z0-9][a-z0-9_-]{1,63}}"


class _TooLarge(web.HTTPClientError):
    # aiohttp's own 413 wants the sizes as arguments; ours says them in the message
    status_code = 413


_STATUS_OF: dict[str, type[web.HTTPException]] = {
    "too_large": _TooLarge,
    "wrong_type": web.HTTPUnsupportedMediaType,
}


class DocumentDesk:
    """What the server keeps live about documents: the partial uploads."""

    def __init__(self, uploads: UploadArea) -> None:
        self.uploads = uploads


DOCUMENTS = web.AppKey("documents", DocumentDesk)


@dataclass(frozen=True)
class SessionView:
    """What document routes need to know about a session, live or from the store."""

    id: str
    terminal_id: int
    clerk_id: int | None
    language: str
    service: Service
    active: bool


async def session_view(app: web.Application, session_id: str) -> SessionView:
    """The session, from the router while it is live, else from the store (404 if unknown)."""
    live = app[ROUTER].sessions.get(session_id)
    if live is not None:
        return SessionView(
            live.id, live.terminal_id, live.clerk_id, live.language, live.service,
            live.state in (SessionState.CONNECTING, SessionState.IN_CALL),
        )  # fmt: skip
    try:
        row = await store.get_session(app[DATABASE], session_id)
    except NotFound as exc:
        raise http_error(web.HTTPNotFound, "not_found", exc.message) from exc
    service = app[CATALOGUE].service(row.service_id)
    return SessionView(row.id, row.terminal_id, row.clerk_id, row.language, service, False)


def refuse(
    view: SessionView, code: str, status: type[web.HTTPException] | None = None, **params: Any
) -> web.HTTPException:
    """An HTTP refusal whose message is in the applicant's language."""
    kind = status or _STATUS_OF.get(code, web.HTTPUnprocessableEntity)
    return http_error(kind, code, refusal_text(code, view.language, **params))


def _parse(model: type[BaseModel], raw: object, where: str) -> BaseModel:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or where
        raise http_error(
            web.HTTPBadRequest, "invalid_message", f'{where}: field "{field}": {first["msg"]}'
        ) from exc


def _meta(request: web.Request) -> DocumentMeta:
    header = request.headers.get("X-Document", "")
    try:
        return DocumentMeta.model_validate_json(header)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "X-Document"
        raise http_error(
            web.HTTPBadRequest,
            "invalid_message",
            f'X-Document header: field "{field}": {first["msg"]}; send'
            ' {"material_id": ..., "source": "camera|scanner|usb|phone"}',
        ) from exc


async def terminal_view(request: web.Request) -> tuple[SessionView, str]:
    """The session named in the URL and the actor, if the kiosk asking is that session's."""
    terminal = await terminal_of(request)
    view = await session_view(request.app, request.match_info["session_id"])
    if view.terminal_id != terminal.id:
        raise http_error(
            web.HTTPForbidden,
            "not_your_session",
            f"session {view.id} is not this kiosk's; upload only to your own session",
        )
    return view, f"terminal:{terminal.id}"


async def _reader(request: web.Request, view: SessionView, *, decide: bool = False) -> ClerkClaims:
    """The session's clerk, or (to read only) a supervisor; 403 for anyone else."""
    claims = clerk_of(request)
    if claims.clerk_id == view.clerk_id or (claims.role == SUPERVISOR and not decide):
        return claims
    who = "its clerk" if decide else "its clerk and supervisors"
    raise http_error(
        web.HTTPForbidden,
        "forbidden",
        f"the documents of session {view.id} are open only to {who}",
    )


async def state_of(app: web.Application, session_id: str) -> DocumentState:
    """The session's documents and decisions, folded from its chain."""
    return fold(await AuditLog(app[DATABASE]).events(session_id))


async def push(
    app: web.Application,
    view: SessionView,
    clerk: Message | None,
    terminal: Message | None,
    event: Event | None = None,
) -> None:
    """Send ``clerk``/``terminal`` messages to the session's two screens (if connected).

    ``event`` names the clerk's message; the terminal's is always a checklist-type event
    given by its type (capture requests and checklists)."""
    router = app[ROUTER]
    live = router.sessions.get(view.id)
    if live is None:
        return
    if clerk is not None and event is not None:
        member = router.clerks.get(live.clerk_id or -1)
        if member is not None and member.sid:
            await router.emitter.send(Role.CLERK, member.sid, event, clerk)
    if terminal is not None:
        kind = (
            Event.CAPTURE_REQUESTED if isinstance(terminal, CaptureRequested) else Event.CHECKLIST
        )
        await router.emitter.send(Role.TERMINAL, live.terminal_sid, kind, terminal)


async def push_checklist(app: web.Application, view: SessionView, state: DocumentState) -> None:
    """The same checklist to both screens."""
    checklist = state.checklist(view.id, view.service)
    await push(app, view, checklist, checklist, Event.CHECKLIST)


# ------------------------------------------------------------------ upload


async def put_document(request: web.Request) -> web.Response:
    """One range (or all) of a document of the kiosk's own live session."""
    view, actor = await terminal_view(request)
    return await receive(request, view, request.match_info["sha256"], _meta(request), actor)


async def receive(
    request: web.Request, view: SessionView, sha: str, meta: DocumentMeta, actor: str
) -> web.Response:
    """Take a range of an upload; store the document once it is whole."""
    if not view.active:
        raise refuse(view, "session_not_active", web.HTTPConflict)
    if meta.material_id not in {m.id for m in view.service.materials}:
        raise refuse(view, "unknown_material", web.HTTPBadRequest)
    span = parse_range(request)
    try:
        check_size(span.total)
    except DocumentRefused as exc:
        raise refuse(view, exc.code, **exc.params) from exc
    desk = request.app[DOCUMENTS]
    async with desk.uploads.hold(view.id, sha):
        existing = (await state_of(request.app, view.id)).document(sha, current_only=True)
        if existing is not None:
            status = UploadStatus(sha256=sha, received=existing.bytes, total=existing.bytes,
                                  stored=True, duplicate=True, document=existing)  # fmt: skip
            return web.json_response(status.model_dump(mode="json"))
        have = await desk.uploads.write(request, view.id, sha, span)
        if have < span.total:
            status = UploadStatus(sha256=sha, received=have, total=span.total, stored=False)
            return web.json_response(status.model_dump(mode="json"), status=202)
        info = await store_upload(request.app, view, sha, meta, actor)
    status = UploadStatus(
        sha256=sha, received=info.bytes, total=info.bytes, stored=True, document=info
    )
    return web.json_response(status.model_dump(mode="json"), status=201)


async def store_upload(
    app: web.Application, view: SessionView, sha: str, meta: DocumentMeta, actor: str
) -> DocumentInfo:
    """Check, store and chain the whole upload at ``uploads.path(view.id, sha)``, and tell
    both screens; call it holding the upload's lock."""
    uploads = app[DOCUMENTS].uploads
    path = uploads.path(view.id, sha)
    data = await asyncio.to_thread(path.read_bytes)
    audit = AuditLog(app[DATABASE])
    ctx = context_log(log, view.id, actor)
    if await asyncio.to_thread(sha256_hex, data) != sha:
        await uploads.discard(view.id, sha)
        raise refuse(view, "hash_mismatch", web.HTTPBadRequest)
    try:
        checked = await asyncio.to_thread(check_document, data)
    except DocumentRefused as exc:
        await uploads.discard(view.id, sha)
        await audit.append(view.id, DOCUMENT_REFUSED, actor, {
            "sha256": sha, "material_id": meta.material_id, "code": exc.code, "bytes": len(data),
        })  # fmt: skip
        ctx.info("document refused (%s): %s", exc.code, exc.message)
        raise refuse(view, exc.code, **exc.params) from exc
    await app[BLOBS].put(data)
    payload = {
        "sha256": sha, "material_id": meta.material_id, "content_type": checked.content_type,
        "bytes": len(data), "pages": checked.pages, "width": checked.width,
        "height": checked.height, "source": meta.source, "filename": meta.filename,
    }  # fmt: skip
    event = await audit.append(view.id, DOCUMENT_ADDED, actor, payload)
    await uploads.discard(view.id, sha)
    info = DocumentInfo.model_validate({**payload, "seq": event.seq})
    ctx.info("document stored for %s (%d bytes, %s)", meta.material_id, len(data), sha[:12])
    state = await state_of(app, view.id)
    await push(
        app, view, DocumentAdded(session_id=view.id, document=info), None, Event.DOCUMENT_ADDED
    )
    await push_checklist(app, view, state)
    return info


async def upload_status(request: web.Request) -> web.Response:
    """How much of an upload the server has: where a broken-off upload resumes."""
    view, _ = await terminal_view(request)
    sha = request.match_info["sha256"]
    uploads = request.app[DOCUMENTS].uploads
    # under the file's lock: a file whose last range is being checked and stored right now
    # is answered once it is stored, never as "every byte here but not stored"
    async with uploads.hold(view.id, sha):
        existing = (await state_of(request.app, view.id)).document(sha, current_only=True)
        have = 0 if existing else await asyncio.to_thread(uploads.received, view.id, sha)
    if existing is not None:
        status = UploadStatus(sha256=sha, received=existing.bytes, total=existing.bytes,
                              stored=True, duplicate=True, document=existing)  # fmt: skip
    else:
        status = UploadStatus(sha256=sha, received=have, total=0, stored=False)
    return web.json_response(status.model_dump(mode="json"))


# ------------------------------------------------------------------ reading and review


async def list_documents(request: web.Request) -> web.Response:
    """Every document of the session and the checklist (its clerk and supervisors)."""
    view = await session_view(request.app, request.match_info["session_id"])
    await _reader(request, view)
    state = await state_of(request.app, view.id)
    body = DocumentList(documents=state.documents, checklist=state.checklist(view.id, view.service))
    return web.json_response(body.model_dump(mode="json", by_alias=True))


async def get_document(request: web.Request) -> web.Response:
    """The bytes of one document of this session (not any blob: it must be in the chain)."""
    view = await session_view(request.app, request.match_info["session_id"])
    claims = await _reader(request, view)
    sha = request.match_info["sha256"]
    info = (await state_of(request.app, view.id)).document(sha)
    if info is None:
        raise http_error(web.HTTPNotFound, "not_found", f"session {view.id} has no document {sha}")
    data = await request.app[BLOBS].get(sha)
    context_log(log, view.id, f"{claims.role}:{claims.username}").info("read document %s", sha[:12])
    return web.Response(body=data, content_type=info.content_type,
                        headers={"Cache-Control": "private, max-age=3600"})  # fmt: skip


async def material_pdf(request: web.Request) -> web.Response:
    """A material's current pages as one PDF, in the order they came."""
    view = await session_view(request.app, request.match_info["session_id"])
    await _reader(request, view)
    material_id = request.match_info["material_id"]
    current = (await state_of(request.app, view.id)).current(material_id)
    if not current:
        raise http_error(
            web.HTTPNotFound, "not_found", f"no pages of {material_id} in session {view.id}"
        )
    blobs = request.app[BLOBS]
    parts: list[tuple[str, bytes]] = [(d.content_type, await blobs.get(d.sha256)) for d in current]
    try:
        pdf = await asyncio.to_thread(merge_documents, parts, material_id)
    except PageImageError as exc:
        raise http_error(web.HTTPUnprocessableEntity, exc.code, exc.message) from exc
    return web.Response(body=pdf, content_type="application/pdf")


async def review_material(request: web.Request) -> web.Response:
    """The clerk accepts a material, rejects it, or asks for a re-scan (with a reason)."""
    view = await session_view(request.app, request.match_info["session_id"])
    claims = await _reader(request, view, decide=True)
    material_id = request.match_info["material_id"]
    review = _parse(ReviewMaterial, json_body(await request.read()), "review")
    assert isinstance(review, ReviewMaterial)
    if material_id not in {m.id for m in view.service.materials}:
        raise http_error(
            web.HTTPNotFound, "not_found", f"{view.service.id} needs no material {material_id!r}"
        )
    if not view.active:
        raise http_error(
            web.HTTPConflict,
            "session_not_active",
            f"session {view.id} has ended; decisions are closed",
        )
    if review.decision != "accepted" and not review.reason.strip():
        raise http_error(web.HTTPBadRequest, "reason_required",
                         "say why (the applicant sees the reason) when rejecting or asking for a re-scan")  # fmt: skip
    state = await state_of(request.app, view.id)
    current = state.current(material_id)
    if review.decision == "accepted" and not current:
        raise http_error(
            web.HTTPConflict,
            "nothing_received",
            f"nothing received for {material_id} yet; ask the applicant to present it",
        )
    payload: dict[str, object] = {"material_id": material_id, "decision": review.decision,
                                  "reason": review.reason.strip(), "documents": [d.sha256 for d in current]}  # fmt: skip
    if review.decision == "accepted":
        # the accepted material as one PDF of its pages, kept alongside the pages themselves
        blobs = request.app[BLOBS]
        parts: list[tuple[str, bytes]] = [
            (d.content_type, await blobs.get(d.sha256)) for d in current
        ]
        pdf = await asyncio.to_thread(merge_documents, parts, material_id)
        payload["pdf_sha256"] = await blobs.put(pdf)
    actor = f"clerk:{claims.username}"
    await AuditLog(request.app[DATABASE]).append(view.id, MATERIAL_REVIEWED, actor, payload)
    context_log(log, view.id, actor).info("%s %s", material_id, review.decision)
    state = await state_of(request.app, view.id)
    await push_checklist(request.app, view, state)
    checklist = state.checklist(view.id, view.service)
    return web.json_response(checklist.model_dump(mode="json", by_alias=True))


async def request_capture(request: web.Request) -> web.Response:
    """The clerk asks the kiosk to capture a page now."""
    view = await session_view(request.app, request.match_info["session_id"])
    claims = await _reader(request, view, decide=True)
    capture = _parse(RequestCapture, json_body(await request.read()), "capture")
    assert isinstance(capture, RequestCapture)
    if not view.active:
        raise http_error(
            web.HTTPConflict, "session_not_active", f"session {view.id} is not in a call"
        )
    message = CaptureRequested(
        session_id=view.id, material_id=capture.material_id, device=capture.device
    )
    await push(request.app, view, None, message)
    actor = f"clerk:{claims.username}"
    await AuditLog(request.app[DATABASE]).append(
        view.id, CAPTURE_REQUESTED, actor, capture.model_dump()
    )
    return web.json_response(message.model_dump(mode="json"), status=202)


async def get_checklist(request: web.Request) -> web.Response:
    """The checklist, for the kiosk (device token) or the session's clerk and supervisors."""
    try:
        check_token(request.app[SETTINGS].signing_key(), bearer(request))
    except AuthError:
        view, _ = await terminal_view(request)  # not a clerk's token: a kiosk's, or refused
    else:
        view = await session_view(request.app, request.match_info["session_id"])
        await _reader(request, view)
    checklist = (await state_of(request.app, view.id)).checklist(view.id, view.service)
    return web.json_response(checklist.model_dump(mode="json", by_alias=True))


def setup_documents(app: web.Application) -> None:
    """Mount the document routes and the upload area."""
    app[DOCUMENTS] = DocumentDesk(UploadArea(app[SETTINGS].data_dir / "uploads"))
    base = f"/api/sessions/{_SESSION}"
    app.router.add_put(f"{base}/documents/{_SHA}", put_document)
    app.router.add_get(f"{base}/uploads/{_SHA}", upload_status)
    app.router.add_get(f"{base}/documents", list_documents)
    app.router.add_get(f"{base}/checklist", get_checklist)
    app.router.add_get(f"{base}/documents/{_SHA}", get_document)
    app.router.add_get(f"{base}/materials/{_MATERIAL}/pdf", material_pdf)
    app.router.add_post(f"{base}/materials/{_MATERIAL}/review", review_material)
    app.router.add_post(f"{base}/capture", request_capture)
