"""REST routes of materials to follow (容缺受理, :mod:`.to_follow`).

Clerk (console token): ``POST /api/sessions/{id}/to-follow`` (:class:`DeferRequest` -> 201
:class:`FollowItem`). Kiosk (device token): ``POST /api/to-follow/lookup``
(:class:`ReprintRequest`, the ID re-check as for a reprint -> :class:`FollowLookup` with a
ticket), then with ``X-Follow-Ticket``: ``PUT /api/to-follow/{id}/documents/{sha256}`` and
``GET .../uploads/{sha256}`` (the scans, as uploads in a call) and ``POST
/api/to-follow/{id}/supplied`` (:class:`SuppliedRequest` -> :class:`FollowLookup`, what is
left). Lookups are limited per kiosk (``to_follow_lookups_per_minute``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import jwt
from aiohttp import web

from signaling.appointment_desk import Clock
from signaling.checklist import fold as fold_documents
from signaling.document_access import (
    DOCUMENTS,
    SessionView,
    meta_of,
    push_checklist,
    refuse,
    session_view,
)
from signaling.document_intake import receive
from signaling.guard import too_many
from signaling.http_auth import http_error, json_body, terminal_of
from signaling.keys import BLOBS, CATALOGUE, DATABASE, ROUTER, SETTINGS
from signaling.messages import NAMESPACE_CLERK, UploadStatus
from signaling.paperwork import to_follow
from signaling.paperwork.follow_messages import (
    DeferRequest,
    FollowLookup,
    SuppliedRequest,
)
from signaling.paperwork.messages import PaperEvent, ReprintRequest
from signaling.paperwork.routes import (
    SIO,
    _body,
    _clerk,
    _handled,
    _json,
    emit,
    paperwork,
)
from signaling.paperwork.service import Loaded, Paperwork, follow_items
from signaling.rooms import clerk_room
from signaling.throttle import RateLimit
from storage import presence

FOLLOW_CLOCK = web.AppKey("to_follow_clock", Clock)
FOLLOW_LIMIT = web.AppKey("to_follow_lookup_limit", RateLimit)
FOLLOW_SWEEP = web.AppKey("to_follow_sweep", to_follow.FollowSweep)
TICKET_AUDIENCE = "vcounter-to-follow"
TICKET_HEADER = "X-Follow-Ticket"
# long enough to scan a few pages slowly, short enough that a ticket left behind is useless
TICKET_TTL_S = 900


def _ticket(request: web.Request, session_id: str, terminal_id: int) -> str:
    claims = {
        "sid": session_id, "tid": terminal_id, "aud": TICKET_AUDIENCE,
        "exp": int(time.time()) + TICKET_TTL_S,
    }  # fmt: skip
    return jwt.encode(claims, request.app[SETTINGS].signing_key(), algorithm="HS256")


async def _ticketed(request: web.Request) -> tuple[str, int]:
    """The session and kiosk a ticket was given for, if this kiosk holds it."""
    terminal = await terminal_of(request)
    session_id = request.match_info["session_id"]
    try:
        claims = jwt.decode(
            request.headers.get(TICKET_HEADER, ""), request.app[SETTINGS].signing_key(),
            algorithms=["HS256"], audience=TICKET_AUDIENCE,
        )  # fmt: skip
    except jwt.InvalidTokenError as exc:
        raise http_error(
            web.HTTPUnauthorized, "unauthorized",
            "the time to bring the material has run out; enter the acceptance number and"
            " show your identity document again",
        ) from exc  # fmt: skip
    if claims.get("sid") != session_id or claims.get("tid") != terminal.id:
        raise http_error(
            web.HTTPForbidden, "forbidden", "this ticket is for another application or kiosk"
        )
    return session_id, terminal.id


def _lookup_view(request: web.Request, loaded: Loaded, terminal_id: int) -> FollowLookup:
    return FollowLookup(
        session_id=loaded.row.id, acceptance_number=loaded.app.acceptance_number or "",
        language=loaded.language,
        items=[x for x in follow_items(loaded) if x.state == "outstanding"],
        ticket=_ticket(request, loaded.row.id, terminal_id),
    )  # fmt: skip


# ---------------------------------------------------------------------- clerk


@_handled
async def defer(request: web.Request) -> web.Response:
    """The clerk accepts the application without a material, to follow by a due date."""
    clerk = await _clerk(request)
    session_id = request.match_info["session_id"]
    body = _body(DeferRequest, json_body(await request.read()))
    work = paperwork(request)
    rules = to_follow.FollowRules.of(request.app[SETTINGS])
    item = await to_follow.defer(
        work, rules, session_id, clerk, body, request.app[FOLLOW_CLOCK].now()
    )
    view = await session_view(request.app, session_id)
    state = fold_documents((await work.load(session_id)).events)
    await push_checklist(request.app, view, state)
    return _json(item, 201)


# ---------------------------------------------------------------------- kiosk


@_handled
async def lookup(request: web.Request) -> web.Response:
    """At any kiosk: what an application waits for, after the ID re-check."""
    terminal = await terminal_of(request)
    wait = request.app[FOLLOW_LIMIT].take(f"terminal:{terminal.id}")
    if wait > 0:
        raise await too_many(
            request, wait, "too many look-ups at this kiosk; wait a minute and try again"
        )
    body = _body(ReprintRequest, json_body(await request.read()))
    loaded = await to_follow.lookup(paperwork(request), body, terminal.id)
    return _json(_lookup_view(request, loaded, terminal.id))


async def _upload_view(request: web.Request) -> tuple[SessionView, str]:
    session_id, terminal_id = await _ticketed(request)
    loaded = await paperwork(request).load(session_id)
    view = await session_view(request.app, session_id)
    # the scans go to the application's session from this kiosk, which is not its own
    view = SessionView(
        view.id, terminal_id, view.clerk_id, loaded.language, view.service, active=True
    )
    return view, f"terminal:{terminal_id}"


@_handled
async def put_document(request: web.Request) -> web.Response:
    """A scan of a material the application waits for (ranges as in a call's uploads)."""
    view, actor = await _upload_view(request)
    meta = meta_of(request)
    loaded = await paperwork(request).load(view.id)
    if meta.material_id not in {t.material_id for t in loaded.app.outstanding()}:
        raise refuse(view, "unknown_material", web.HTTPBadRequest)
    to_follow.check_open(loaded, meta.material_id)
    return await receive(request, view, request.match_info["sha256"], meta, actor)


@_handled
async def upload_status(request: web.Request) -> web.Response:
    """How much of a scan the server has: where a broken-off upload resumes."""
    view, _ = await _upload_view(request)
    sha = request.match_info["sha256"]
    uploads = request.app[DOCUMENTS].uploads
    async with uploads.hold(view.id, sha):
        loaded = await paperwork(request).load(view.id)
        existing = fold_documents(loaded.events).document(sha, current_only=True)
        have = 0 if existing else await asyncio.to_thread(uploads.received, view.id, sha)
    if existing is not None:
        status = UploadStatus(sha256=sha, received=existing.bytes, total=existing.bytes,
                              stored=True, duplicate=True, document=existing)  # fmt: skip
    else:
        status = UploadStatus(sha256=sha, received=have, total=0, stored=False)
    return _json(status)


@_handled
async def finish(request: web.Request) -> web.Response:
    """Every page of a material is in: it is supplied, and the clerk hears of it."""
    session_id, terminal_id = await _ticketed(request)
    body = _body(SuppliedRequest, json_body(await request.read()))
    work = paperwork(request)
    loaded = await to_follow.supplied(work, session_id, terminal_id, body.material_id)
    # the clerk only: the application's own kiosk may be serving someone else by now
    if loaded.row.clerk_id is not None:
        view = work.view(loaded, with_ink=False)
        await emit(request, PaperEvent.APPLICATION, view, clerk=loaded.row.clerk_id)
    return _json(_lookup_view(request, loaded, terminal_id))


# ---------------------------------------------------------------------- the sweep


def _notifier(app: web.Application) -> to_follow.Notify:
    """Tells the clerk of the application (their console's decision list) that it changed."""

    async def notify(session_id: str) -> None:
        settings = app[SETTINGS]
        work = Paperwork(
            app[DATABASE], app[BLOBS], app[CATALOGUE], settings.data_dir, settings.seals,
            settings.public_url or "",
        )  # fmt: skip
        loaded = await work.load(session_id)
        clerk_id = loaded.row.clerk_id
        if clerk_id is None:
            return
        member = await presence.clerk(app[DATABASE], clerk_id)
        if member is None or not member.connected:
            return
        await app[SIO].emit(
            PaperEvent.APPLICATION.value, work.view(loaded, with_ink=False).model_dump(mode="json"),
            to=clerk_room(clerk_id), namespace=NAMESPACE_CLERK,
        )  # fmt: skip

    return notify


def setup_to_follow(app: web.Application) -> None:
    """Mount the routes of materials to follow; their sweep runs while the server does."""
    settings = app[SETTINGS]
    app[FOLLOW_CLOCK] = Clock()
    app[FOLLOW_LIMIT] = RateLimit(settings.to_follow_lookups_per_minute, burst=3)

    async def sweep(app: web.Application) -> AsyncIterator[None]:
        sweeper = to_follow.FollowSweep(
            app[DATABASE], to_follow.FollowRules.of(settings), app[FOLLOW_CLOCK],
            settings.to_follow_sweep_s, _notifier(app),
        )  # fmt: skip
        app[FOLLOW_SWEEP] = sweeper
        app[ROUTER].spawn(sweeper.run())
        yield

    app.cleanup_ctx.append(sweep)
    sid = "{session_id:[0-9a-f]{32}}"
    sha = "{sha256:[0-9a-f]{64}}"
    app.router.add_post(f"/api/sessions/{sid}/to-follow", defer)
    app.router.add_post("/api/to-follow/lookup", lookup)
    app.router.add_put(f"/api/to-follow/{sid}/documents/{sha}", put_document)
    app.router.add_get(f"/api/to-follow/{sid}/uploads/{sha}", upload_status)
    app.router.add_post(f"/api/to-follow/{sid}/supplied", finish)
