"""Documents of a session over HTTP: the routes, the clerk's reading and review.

The kiosk uploads (:mod:`signaling.document_intake`); a refusal says why in the applicant's
language and changes nothing already stored. Only the session's clerk and supervisors can
read the documents (one by one, or a material's pages as one PDF); only the clerk decides
on them (accept, reject with a reason, ask for a new capture), and both screens get the
checklist that follows (:mod:`signaling.document_access`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from media.errors import PageImageError
from media.page_pdf import merge_documents
from signaling.auth import check_token
from signaling.checklist import (
    CAPTURE_REQUESTED,
    MATERIAL_REVIEWED,
)
from signaling.document_access import (
    DOCUMENTS,
    DocumentDesk,
    clerk_view,
    parse_body,
    push,
    push_checklist,
    state_of,
    terminal_view,
)
from signaling.document_intake import put_document, upload_status
from signaling.errors import AuthError
from signaling.http_auth import bearer, http_error, json_body
from signaling.keys import BLOBS, DATABASE, SETTINGS
from signaling.logs import context_log
from signaling.messages import (
    CaptureRequested,
    DocumentList,
    RequestCapture,
    ReviewMaterial,
)
from signaling.uploads import UploadArea
from storage.audit import AuditLog

log = logging.getLogger(__name__)

_SESSION = r"{session_id:[0-9a-f]{32}}"
_SHA = r"{sha256:[0-9a-f]{64}}"
_MATERIAL = r"{material_id:[a-z0-9][a-z0-9_-]{1,63}}"


# ------------------------------------------------------------------ reading and review


async def list_documents(request: web.Request) -> web.Response:
    """Every document of the session and the checklist (its clerk and supervisors)."""
    view, _ = await clerk_view(request, "documents")
    state = await state_of(request.app, view.id)
    body = DocumentList(documents=state.documents, checklist=state.checklist(view.id, view.service))
    return web.json_response(body.model_dump(mode="json", by_alias=True))


async def get_document(request: web.Request) -> web.Response:
    """The bytes of one document of this session (not any blob: it must be in the chain)."""
    view, claims = await clerk_view(request, "document")
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
    view, _ = await clerk_view(request, "documents")
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
    view, claims = await clerk_view(request, "documents", decide=True)
    material_id = request.match_info["material_id"]
    review = parse_body(ReviewMaterial, json_body(await request.read()), "review")
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
    view, claims = await clerk_view(request, "documents", decide=True)
    capture = parse_body(RequestCapture, json_body(await request.read()), "capture")
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
        view, _ = await clerk_view(request, "checklist")
    checklist = (await state_of(request.app, view.id)).checklist(view.id, view.service)
    return web.json_response(checklist.model_dump(mode="json", by_alias=True))


async def _sweeper(app: web.Application) -> AsyncIterator[None]:
    """Delete stale partial uploads at start and then every so often, until shutdown."""
    uploads = app[DOCUMENTS].uploads
    max_age = app[SETTINGS].upload_max_age_s

    async def loop() -> None:
        while True:
            await asyncio.to_thread(uploads.sweep, max_age)
            await asyncio.sleep(min(600.0, max_age / 4))

    task = asyncio.create_task(loop(), name="upload-sweeper")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def setup_documents(app: web.Application) -> None:
    """Mount the document routes and the upload area."""
    app[DOCUMENTS] = DocumentDesk(UploadArea(app[SETTINGS].data_dir / "uploads"))
    app.cleanup_ctx.append(_sweeper)
    base = f"/api/sessions/{_SESSION}"
    app.router.add_put(f"{base}/documents/{_SHA}", put_document)
    app.router.add_get(f"{base}/uploads/{_SHA}", upload_status)
    app.router.add_get(f"{base}/documents", list_documents)
    app.router.add_get(f"{base}/checklist", get_checklist)
    app.router.add_get(f"{base}/documents/{_SHA}", get_document)
    app.router.add_get(f"{base}/materials/{_MATERIAL}/pdf", material_pdf)
    app.router.add_post(f"{base}/materials/{_MATERIAL}/review", review_material)
    app.router.add_post(f"{base}/capture", request_capture)
