"""REST routes of the paperwork steps, and the socket.io messages they send.

Clerk routes take the console's token, kiosk routes the device token (``Authorization:
Bearer``). A document a reprint hands out is fetched with a short-lived ``?ticket=``.
Errors are typed JSON bodies (``code``, ``message``) with a status that fits.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
import socketio
from aiohttp import web
from pydantic import ValidationError

from signaling.access import SessionFacts, check_read, is_live
from signaling.errors import IllegalTransition, InvalidMessage, NotYourSession
from signaling.http_auth import bearer, clerk_of, http_error, json_body, terminal_of
from signaling.keys import BLOBS, CATALOGUE, DATABASE, SETTINGS
from signaling.messages import NAMESPACE_CLERK, NAMESPACE_TERMINAL, Message
from signaling.paperwork import errors as pe
from signaling.paperwork.messages import (
    DecisionRequest,
    DocumentRef,
    PaperEvent,
    PendingList,
    PrintDocument,
    PrintReport,
    PrintRequest,
    ReprintRequest,
    SignatureInk,
    SignatureSubmission,
    SignRequest,
)
from signaling.paperwork.reprint import reprint as reprint_application
from signaling.paperwork.seal_keys import init_keys, trust_roots
from signaling.paperwork.service import ClerkInfo, Paperwork
from signaling.paperwork.verify_page import setup_verify_page
from signaling.payments.errors import PaymentNotDue, PaymentUnavailable, ProviderRefused
from signaling.payments.keys import PAYMENTS
from signaling.public_url import public_base
from signaling.rooms import clerk_room, terminal_room
from storage import presence, store
from storage.errors import ChainMoved, NotFound, VcounterError
from storage.payments import PaymentConflict
from storage.places import note_printer

log = logging.getLogger(__name__)

TICKET_AUDIENCE = "vcounter-document"
TICKET_TTL_S = 600
_STATUS: list[tuple[type[VcounterError], type[web.HTTPException]]] = [
    (NotFound, web.HTTPNotFound),
    (pe.UnknownAcceptanceNumber, web.HTTPNotFound),
    (pe.BadAcceptanceNumber, web.HTTPBadRequest),
    (pe.NoStrokes, web.HTTPBadRequest),
    (InvalidMessage, web.HTTPBadRequest),
    (NotYourSession, web.HTTPForbidden),
    (pe.DecisionRefused, web.HTTPForbidden),
    (pe.IdentityMismatch, web.HTTPForbidden),
    (pe.NotReady, web.HTTPConflict),
    (pe.FormMismatch, web.HTTPConflict),
    (IllegalTransition, web.HTTPConflict),
    (ChainMoved, web.HTTPConflict),
    (PaymentUnavailable, web.HTTPServiceUnavailable),
    (ProviderRefused, web.HTTPBadGateway),
    (PaymentNotDue, web.HTTPConflict),
    (PaymentConflict, web.HTTPConflict),
]
SIO: web.AppKey[socketio.AsyncServer] = web.AppKey("paperwork_sio", socketio.AsyncServer)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _handled(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except VcounterError as exc:
            kind = next((s for e, s in _STATUS if isinstance(exc, e)), web.HTTPBadRequest)
            if isinstance(exc, pe.KeyMaterialError):
                kind = web.HTTPServiceUnavailable
            raise http_error(kind, exc.code, exc.message) from exc

    return wrapped


def _json(message: Message, status: int = 200) -> web.Response:
    return web.json_response(message.model_dump(mode="json"), status=status)


def _body(model: type[Any], raw: object) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidMessage(f'Field "{where}": {first["msg"]}', field=where) from exc


def paperwork(request: web.Request) -> Paperwork:
    """The paperwork service for this request (its links use the server's public URL)."""
    app = request.app
    settings = app[SETTINGS]
    # from configuration only: a kiosk fetches these links with its device token
    base = public_base(request, settings)
    return Paperwork(
        app[DATABASE], app[BLOBS], app[CATALOGUE], settings.data_dir, settings.seals, base,
        tsa_url=settings.tsa_url, tsa_roots=tuple(p.read_bytes() for p in settings.tsa_roots),
        payments=app.get(PAYMENTS),
    )  # fmt: skip


async def _clerk(request: web.Request) -> ClerkInfo:
    claims = await clerk_of(request)
    clerk = await store.get_clerk(request.app[DATABASE], claims.clerk_id)
    return ClerkInfo(clerk.id, clerk.username, clerk.display_name, frozenset(clerk.departments))


async def emit(
    request: web.Request,
    event: PaperEvent,
    message: Message,
    *,
    terminal: int | None = None,
    clerk: int | None = None,
) -> bool:
    """Send to a connected terminal or clerk; False when they are not connected."""
    db = request.app[DATABASE]
    sio = request.app[SIO]
    payload = message.model_dump(mode="json")
    if terminal is not None:
        if not await presence.terminal_connected(db, terminal):
            return False
        await sio.emit(
            event.value, payload, to=terminal_room(terminal), namespace=NAMESPACE_TERMINAL
        )
        return True
    member = await presence.clerk(db, clerk) if clerk is not None else None
    if member is None or not member.connected:
        return False
    await sio.emit(event.value, payload, to=clerk_room(member.clerk_id), namespace=NAMESPACE_CLERK)
    return True


async def notify_application(request: web.Request, work: Paperwork, session_id: str) -> None:
    loaded = await work.load(session_id)
    view = work.view(loaded)
    await emit(request, PaperEvent.APPLICATION, view, terminal=loaded.row.terminal_id)
    if loaded.row.clerk_id is not None:
        await emit(request, PaperEvent.APPLICATION, view, clerk=loaded.row.clerk_id)


# ---------------------------------------------------------------------- clerk


@_handled
async def make_form(request: web.Request) -> web.Response:
    """Step 5: make the form from the session's facts and show it on the kiosk."""
    clerk = await _clerk(request)
    session_id = request.match_info["session_id"]
    work = paperwork(request)
    form = await work.make_form(session_id, clerk)
    loaded = await work.load(session_id)
    preview = f"{work.base_url}/api/sessions/{session_id}/documents/{form.doc_id}.png"
    sign = SignRequest(session_id=session_id, form=form, preview_url=preview)
    await emit(request, PaperEvent.SIGN_REQUEST, sign, terminal=loaded.row.terminal_id)
    return _json(sign, 201)


@_handled
async def decide(request: web.Request) -> web.Response:
    """Step 6: approve, return for more materials or reject, with a reason."""
    clerk = await _clerk(request)
    session_id = request.match_info["session_id"]
    body = _body(DecisionRequest, json_body(await request.read()))
    work = paperwork(request)
    await work.decide(session_id, clerk, body.outcome, body.reason)
    await notify_application(request, work, session_id)
    return _json(work.view(await work.load(session_id), with_ink=False))


@_handled
async def pending(request: web.Request) -> web.Response:
    """Applications of my departments that wait for my decision (first or second)."""
    clerk = await _clerk(request)
    return _json(PendingList(applications=await paperwork(request).pending(clerk)))


@_handled
async def push_print(request: web.Request) -> web.Response:
    """The clerk sends a document of the session to the kiosk's printer."""
    clerk = await _clerk(request)
    session_id = request.match_info["session_id"]
    body = _body(PrintRequest, json_body(await request.read()))
    work = paperwork(request)
    loaded = await work.load(session_id)
    # only the session's own clerk, and only while the applicant is at that kiosk: a print
    # pushed later would come out in front of whoever stands there now
    if loaded.row.clerk_id != clerk.id or not is_live(loaded.row):
        raise NotYourSession(
            f"only the clerk in the call can print at its kiosk; session {session_id} is not"
            " your live call (the applicant can reprint by acceptance number)"
        )
    doc = loaded.app.document(body.doc_id)
    if doc is None:
        raise NotFound(f"session {session_id} has no document {body.doc_id}")
    job = PrintDocument(
        session_id=session_id, job_id=uuid.uuid4().hex, document=work.ref(session_id, doc)
    )
    if not await emit(request, PaperEvent.PRINT_DOCUMENT, job, terminal=loaded.row.terminal_id):
        raise pe.NotReady(
            "the kiosk of this session is not connected; the applicant can print it at any"
            f" kiosk with acceptance number {loaded.app.acceptance_number}"
        )
    await work.record_print(
        session_id,
        f"clerk:{clerk.username}",
        "print.pushed",
        {"job_id": job.job_id, "doc_id": doc.doc_id},
    )
    return _json(job, 202)


# ---------------------------------------------------------------------- either side


async def _may_read(request: web.Request, work: Paperwork, session_id: str, what: str) -> None:
    """Who is asking is settled first (401 before anything about the session is said), then
    whether the session's access rule lets them (:mod:`signaling.access`)."""
    ticket = request.query.get("ticket")
    if ticket:
        try:
            claims = jwt.decode(
                ticket,
                request.app[SETTINGS].signing_key(),
                algorithms=["HS256"],
                audience=TICKET_AUDIENCE,
            )
        except jwt.InvalidTokenError as exc:
            raise http_error(
                web.HTTPUnauthorized,
                "unauthorized",
                "the document link has expired; look it up again by acceptance number",
            ) from exc
        if claims.get("sid") != session_id:
            raise http_error(web.HTTPForbidden, "forbidden", "this link is for another application")
        return
    # clerk tokens are JWTs (dotted); kiosk device tokens are URL-safe base64 without dots
    if "." in bearer(request):
        who = await clerk_of(request)
        loaded = await work.load(session_id)
        facts = SessionFacts(
            session_id, loaded.row.clerk_id, loaded.service.department_id, is_live(loaded.row)
        )
        await check_read(request.app, who, facts, what)
        return
    terminal = await terminal_of(request)
    loaded = await work.load(session_id)
    if terminal.id != loaded.row.terminal_id:
        raise NotYourSession(
            f"session {session_id} is not this kiosk's; look it up by acceptance number"
        )


@_handled
async def document_pdf(request: web.Request) -> web.Response:
    """A stored document of the session as PDF."""
    session_id, doc_id = request.match_info["session_id"], request.match_info["doc_id"]
    work = paperwork(request)
    await _may_read(request, work, session_id, "document")
    doc, data = await work.document_bytes(session_id, doc_id)
    return web.Response(body=data, content_type="application/pdf", headers={"X-Sha256": doc.sha256})


def render_page(pdf: bytes, page: int = 0, width: int = 900) -> bytes:
    """One page of ``pdf`` as PNG (pypdfium2), for showing a form on screens."""
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    try:
        sheet = document[page]
        image = sheet.render(scale=width / sheet.get_width()).to_pil()
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=False)
        return out.getvalue()
    finally:
        document.close()


@_handled
async def document_png(request: web.Request) -> web.Response:
    """The first page of a stored document as an image, for the kiosk and the console."""
    session_id, doc_id = request.match_info["session_id"], request.match_info["doc_id"]
    work = paperwork(request)
    await _may_read(request, work, session_id, "document")
    _, data = await work.document_bytes(session_id, doc_id)
    png = await asyncio.to_thread(render_page, data)
    return web.Response(body=png, content_type="image/png")


@_handled
async def application(request: web.Request) -> web.Response:
    """The session's application: state, acceptance number, documents, decisions, ink."""
    session_id = request.match_info["session_id"]
    work = paperwork(request)
    await _may_read(request, work, session_id, "application")
    return _json(work.view(await work.load(session_id)))


# ---------------------------------------------------------------------- kiosk


@_handled
async def ink(request: web.Request) -> web.Response:
    """Strokes while the applicant signs, relayed to the clerk live (the final one is audited)."""
    terminal = await terminal_of(request)
    session_id = request.match_info["session_id"]
    raw = json_body(await request.read())
    body = _body(SignatureInk, {**raw, "session_id": session_id} if isinstance(raw, dict) else raw)
    loaded = await paperwork(request).load(session_id)
    if loaded.row.terminal_id != terminal.id:
        raise NotYourSession(f"session {session_id} is not this kiosk's")
    if loaded.row.clerk_id is not None:
        await emit(request, PaperEvent.SIGNATURE_INK, body, clerk=loaded.row.clerk_id)
    return web.json_response({"relayed": loaded.row.clerk_id is not None})


@_handled
async def signature(request: web.Request) -> web.Response:
    """Step 5: the applicant's signature; returns the acceptance number and documents, or
    (202) the payment order of a fee due before submission."""
    terminal = await terminal_of(request)
    session_id = request.match_info["session_id"]
    body = _body(SignatureSubmission, json_body(await request.read()))
    work = paperwork(request)
    done = await work.submit_signature(session_id, terminal.id, body)
    await notify_application(request, work, session_id)
    return web.json_response(
        {
            "acceptance_number": done.acceptance_number,
            "documents": [x.model_dump(mode="json") for x in done.documents],
            "payment": done.payment.model_dump(mode="json") if done.payment else None,
        },
        status=201 if done.payment is None else 202,
    )


@_handled
async def print_report(request: web.Request) -> web.Response:
    """The kiosk reports a print job: printed, retrying after an error, or failed."""
    terminal = await terminal_of(request)
    session_id = request.match_info["session_id"]
    body = _body(PrintReport, json_body(await request.read()))
    work = paperwork(request)
    doc, _ = await work.document_bytes(session_id, body.doc_id)
    payload = {**body.model_dump(), "terminal_id": terminal.id, "kind": doc.kind}
    await work.record_print(session_id, f"terminal:{terminal.id}", "print.reported", payload)
    # the service map's "printer out of paper" (storage/places.py) reads the newest report
    await note_printer(request.app[DATABASE], terminal.id, body.status, body.error_code)
    loaded = await work.load(session_id)
    if loaded.row.clerk_id is not None:
        await emit(request, PaperEvent.APPLICATION, work.view(loaded), clerk=loaded.row.clerk_id)
    return web.json_response({"recorded": True}, status=201)


def _ticket(request: web.Request, session_id: str) -> str:
    claims = {"sid": session_id, "aud": TICKET_AUDIENCE, "exp": int(time.time()) + TICKET_TTL_S}
    return jwt.encode(claims, request.app[SETTINGS].signing_key(), algorithm="HS256")


@_handled
async def reprint(request: web.Request) -> web.Response:
    """At any kiosk: an application by acceptance number, after the ID re-check."""
    terminal = await terminal_of(request)
    body = _body(ReprintRequest, json_body(await request.read()))
    work = paperwork(request)
    loaded = await reprint_application(work, body, terminal.id)
    if await work.result_fee_open(loaded, terminal.id):
        # the fee falls due now: nothing prints until it is paid; the view carries its order
        loaded = await work.load(loaded.row.id)
        view = work.view(loaded, with_ink=False)
        return _json(view.model_copy(update={"documents": []}))
    view = work.view(loaded, with_ink=False)
    ticket = _ticket(request, loaded.row.id)
    docs = [
        DocumentRef.model_validate({**x.model_dump(), "url": f"{x.url}?ticket={ticket}"})
        for x in view.documents
        if x.kind in ("receipt", "result")
    ]
    return _json(view.model_copy(update={"documents": docs}))


async def _keys(app: web.Application) -> Any:
    settings = app[SETTINGS]
    if not settings.seals:
        # first start: the development CA and the departments' seal keys (quick: ECDSA
        # P-256); never when real seals are configured, which it would otherwise sit beside
        departments = [d.id for d in app[CATALOGUE].departments]
        await asyncio.to_thread(init_keys, settings.data_dir, departments)
    yield


def roots(app: web.Application) -> list[bytes]:
    settings = app[SETTINGS]
    tsa = [p.read_bytes() for p in settings.tsa_roots]  # they vouch for seals' time stamps
    return trust_roots(settings.data_dir, settings.seals) + tsa


def setup_paperwork(app: web.Application, sio: socketio.AsyncServer) -> None:
    """Mount the form, signature, decision, print and reprint routes and the /verify page."""
    app[SIO] = sio
    app.cleanup_ctx.append(_keys)
    sid = "{session_id:[0-9a-f]{32}}"
    doc = "{doc_id:[0-9a-f]{32}}"
    app.router.add_post(f"/api/sessions/{sid}/form", make_form)
    app.router.add_post(f"/api/sessions/{sid}/decision", decide)
    app.router.add_post(f"/api/sessions/{sid}/print", push_print)
    app.router.add_get(f"/api/sessions/{sid}/application", application)
    app.router.add_get(f"/api/sessions/{sid}/documents/{doc}.pdf", document_pdf)
    app.router.add_get(f"/api/sessions/{sid}/documents/{doc}.png", document_png)
    app.router.add_post(f"/api/sessions/{sid}/signature/ink", ink)
    app.router.add_post(f"/api/sessions/{sid}/signature", signature)
    app.router.add_post(f"/api/sessions/{sid}/print-reports", print_report)
    app.router.add_get("/api/decisions/pending", pending)
    app.router.add_post("/api/reprint", reprint)
    setup_verify_page(app, roots)
    # materials to follow (容缺受理): imported here, as it builds on these routes
    from signaling.paperwork.to_follow_routes import setup_to_follow

    setup_to_follow(app)
