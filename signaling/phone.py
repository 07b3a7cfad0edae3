"""One-time upload links for the applicant's phone, shown at the kiosk as a QR code.

The kiosk asks for a link (``POST /api/sessions/{id}/phone-link`` with its device token);
the phone opens ``/phone/{token}``, a small page that sends one file to
``POST /api/phone/{token}/upload``. The token names the session, lasts
:data:`LINK_TTL_S` seconds and is spent by the first file stored; the file goes through the
same checks, store and chain as the kiosk's own uploads.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass

import segno
from aiohttp import web

from media.doc_checks import check_size
from media.errors import DocumentRefused
from signaling.checklist import PHONE_LINK_ISSUED
from signaling.document_access import DOCUMENTS, refuse, session_view, state_of, terminal_view
from signaling.document_intake import store_upload
from signaling.http_auth import http_error
from signaling.keys import DATABASE
from signaling.messages import DocumentMeta, PhoneLink, UploadStatus
from signaling.public_pages import add_public_page
from signaling.public_url import public_base
from storage.audit import AuditLog

LINK_TTL_S = 600


@dataclass
class PhoneGrant:
    session_id: str
    expires_at: float  # monotonic
    used: bool = False
    claimed: bool = False  # an upload with it is under way


PHONE_LINKS = web.AppKey("phone_links", dict[str, PhoneGrant])


async def issue_link(request: web.Request) -> web.Response:
    """A fresh one-time link for the kiosk's live session."""
    view, actor = await terminal_view(request)
    if not view.active:
        raise refuse(view, "session_not_active", web.HTTPConflict)
    token = secrets.token_urlsafe(24)
    links = request.app[PHONE_LINKS]
    now = time.monotonic()
    for key in [k for k, g in links.items() if g.expires_at < now]:
        del links[key]  # forget old ones as new ones are made
    links[token] = PhoneGrant(view.id, now + LINK_TTL_S)
    # the configured address: never one a request's Host header names
    url = f"{public_base(request)}/phone/{token}"
    qr = segno.make(url, error="m").svg_data_uri(scale=6, border=2)
    digest = hashlib.sha256(token.encode()).hexdigest()[:16]
    await AuditLog(request.app[DATABASE]).append(
        view.id, PHONE_LINK_ISSUED, actor, {"token_sha256_16": digest, "expires_in_s": LINK_TTL_S}
    )
    link = PhoneLink(url=url, expires_in_s=LINK_TTL_S, qr=qr)
    return web.json_response(link.model_dump(mode="json"), status=201)


def _grant(request: web.Request) -> PhoneGrant:
    grant = request.app[PHONE_LINKS].get(request.match_info["token"])
    if grant is None or grant.expires_at < time.monotonic():
        raise http_error(
            web.HTTPGone, "link_expired",
            "this upload link has expired; ask for a new QR code at the kiosk",
        )  # fmt: skip
    if grant.used:
        raise http_error(
            web.HTTPGone, "link_used",
            "this upload link was already used; ask for a new QR code at the kiosk",
        )  # fmt: skip
    return grant


async def link_info(request: web.Request) -> web.Response:
    """What the link is for: the session's language and the materials to choose from."""
    grant = _grant(request)
    view = await session_view(request.app, grant.session_id)
    checklist = (await state_of(request.app, view.id)).checklist(view.id, view.service)
    items = [
        {"id": i.material_id, "name": i.names.get(view.language), "status": i.status}  # type: ignore[arg-type]
        for i in checklist.items
    ]
    return web.json_response(
        {"language": view.language, "materials": items, "expires_in_s": LINK_TTL_S}
    )


async def phone_upload(request: web.Request) -> web.Response:
    """The phone's one file: checked, stored and chained like the kiosk's, then the link is spent."""
    grant = _grant(request)
    # claimed before the first await: of two uploads sent at once only one gets past here
    if grant.claimed:
        raise http_error(
            web.HTTPConflict, "link_busy",
            "a file is already being sent with this link; wait for it, or ask for a new QR code",
        )  # fmt: skip
    grant.claimed = True
    try:
        return await _upload(request, grant)
    finally:
        grant.claimed = False


async def _upload(request: web.Request, grant: PhoneGrant) -> web.Response:
    view = await session_view(request.app, grant.session_id)
    material = request.query.get("material_id", "")
    name = request.query.get("filename", "")[:200]
    meta = DocumentMeta.model_validate({"material_id": material or "unknown-material",
                                        "source": "phone", "filename": name})  # fmt: skip
    if not view.active:
        raise refuse(view, "session_not_active", web.HTTPConflict)
    if meta.material_id not in {m.id for m in view.service.materials}:
        raise refuse(view, "unknown_material", web.HTTPBadRequest)
    try:
        check_size(request.content_length or 0)
    except DocumentRefused as exc:
        raise refuse(view, exc.code, **exc.params) from exc
    data = await request.read()
    sha = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
    uploads = request.app[DOCUMENTS].uploads
    async with uploads.hold(view.id, sha):
        existing = (await state_of(request.app, view.id)).document(sha, current_only=True)
        if existing is None:
            path = uploads.path(view.id, sha)
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(path.write_bytes, data)
            actor = f"phone:terminal:{view.terminal_id}"
            existing = await store_upload(request.app, view, sha, meta, actor)
    grant.used = True
    status = UploadStatus(
        sha256=sha, received=len(data), total=len(data), stored=True, document=existing
    )
    return web.json_response(status.model_dump(mode="json"), status=201)


def setup_phone(app: web.Application) -> None:
    """Mount the phone-link routes."""
    app[PHONE_LINKS] = {}
    app.router.add_post(r"/api/sessions/{session_id:[0-9a-f]{32}}/phone-link", issue_link)
    # the upload page of one link (its script asks the API what the link is for)
    add_public_page(
        app, r"/phone/{token:[A-Za-z0-9_-]{20,64}}", "phone.html",
        r"/phone-static/{name:phone\.(js|css)}",
    )  # fmt: skip
    app.router.add_get(r"/api/phone/{token:[A-Za-z0-9_-]{20,64}}", link_info)
    app.router.add_post(r"/api/phone/{token:[A-Za-z0-9_-]{20,64}}/upload", phone_upload)
