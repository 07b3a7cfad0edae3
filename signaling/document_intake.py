"""A kiosk's upload of a document: ranges until whole, then checked, stored and chained.

``PUT /api/sessions/{id}/documents/{sha256}`` with ranges as in :mod:`signaling.uploads`; a
whole file is checked by its content (:func:`media.doc_checks.check_document`), stored in
the blob store under its SHA-256 and recorded as ``document.added`` in the session's chain,
and both screens hear of it. ``GET .../uploads/{sha256}`` says where a broken-off upload
resumes.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from media.doc_checks import check_document, check_size
from media.errors import DocumentRefused
from signaling.checklist import (
    DOCUMENT_ADDED,
    DOCUMENT_REFUSED,
)
from signaling.document_access import (
    DOCUMENTS,
    SessionView,
    meta_of,
    push,
    push_checklist,
    refuse,
    state_of,
    terminal_view,
)
from signaling.keys import BLOBS, DATABASE, SETTINGS
from signaling.logs import context_log
from signaling.messages import (
    DocumentAdded,
    DocumentInfo,
    DocumentMeta,
    Event,
    UploadStatus,
)
from signaling.uploads import parse_range
from storage.audit import AuditLog
from storage.blobs import sha256_hex

log = logging.getLogger(__name__)


async def put_document(request: web.Request) -> web.Response:
    """One range (or all) of a document of the kiosk's own live session."""
    view, actor = await terminal_view(request)
    return await receive(request, view, request.match_info["sha256"], meta_of(request), actor)


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
        desk.uploads.admit(view.terminal_id, view.id, sha, request.app[SETTINGS].uploads_per_kiosk)
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
