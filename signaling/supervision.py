"""The supervisors' REST routes: live overview, service-level figures, search and replay.

Every route needs a signed-in ``supervisor``; each action is written to the staff log
(:class:`storage.staff_audit.StaffLog`), a replay with who watched which session when.
The live overview is polled by the page (about once a second), so only its first view in
a while is logged, not every poll.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from signaling.auth import ClerkClaims
from signaling.http_auth import clerk_of, http_error
from signaling.keys import BLOBS, CATALOGUE, DATABASE
from signaling.logs import context_log
from signaling.media_links import signed_clerk, signed_link
from signaling.messages import ClerkState, Message, SessionState
from signaling.recordings import side_file
from signaling.replay import SearchFilter, replay_view, search_by_id, search_sessions
from signaling.service_level import service_level
from signaling.supervisor_messages import (
    CallbackFigure,
    ClerkFigure,
    LiveSessionFigure,
    Overview,
    QueueFigure,
)
from signaling.trail_check import TRAIL
from signaling.work_figures import work_figures
from storage import callbacks, presence, routing, store
from storage.audit import AuditLog
from storage.blobs import check_digest
from storage.errors import BlobCorrupt, InvalidValue, NotFound
from storage.staff_audit import StaffLog
from storage.verify import blob_refs

log = logging.getLogger(__name__)

SUPERVISOR = "supervisor"
OVERVIEW_LOG_EVERY_S = 600.0
OVERVIEW_SEEN: web.AppKey[dict[int, float]] = web.AppKey("overview_seen", dict)


def _json(message: Message) -> web.Response:
    return web.json_response(message.model_dump(mode="json", by_alias=True))


async def _audit(
    request: web.Request,
    who: ClerkClaims,
    kind: str,
    payload: dict[str, Any],
    session_id: str | None = None,
) -> None:
    await StaffLog(request.app[DATABASE]).append(
        f"supervisor:{who.username}", kind, payload, session_id
    )


def _when(request: web.Request, name: str, default: datetime) -> datetime:
    raw = request.query.get(name)
    if not raw:
        return default
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise http_error(
            web.HTTPBadRequest,
            "invalid_query",
            f"{name}={raw!r} is not a date or time; use ISO 8601, e.g. 2026-12-01 or"
            " 2026-12-01T09:00",
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _left(clerk: routing.ClerkSnap, now: datetime) -> float | None:
    """Seconds left of the clerk's wrap-up (negative: over time), None outside one."""
    if clerk.state != ClerkState.WRAP_UP or clerk.wrap_up_deadline is None:
        return None
    return round((clerk.wrap_up_deadline - now).total_seconds(), 1)


def _period(request: web.Request) -> tuple[datetime, datetime]:
    """``since`` and ``until`` of the query (default: today so far), in order."""
    now = datetime.now(UTC)
    since = _when(request, "since", now.replace(hour=0, minute=0, second=0, microsecond=0))
    until = _when(request, "until", now + timedelta(seconds=1))
    if until <= since:
        raise http_error(
            web.HTTPBadRequest,
            "invalid_query",
            f"the period ends ({until.isoformat()}) before it starts ({since.isoformat()});"
            " swap since and until",
        )
    return since, until


async def overview(request: web.Request) -> web.Response:
    """Queues per service, clerks and active sessions, as they are now."""
    who = await clerk_of(request, SUPERVISOR)
    seen = request.app[OVERVIEW_SEEN]
    if time.monotonic() - seen.get(who.clerk_id, -OVERVIEW_LOG_EVERY_S) >= OVERVIEW_LOG_EVERY_S:
        seen[who.clerk_id] = time.monotonic()
        await _audit(request, who, "overview.opened", {})
    db = request.app[DATABASE]
    catalogue = request.app[CATALOGUE]
    now = datetime.now(UTC)
    active = await routing.active_sessions(db)
    people = await presence.clerks(db)
    waiting: dict[str, list[routing.SessionSnap]] = {}
    for live in active:
        if live.state in ("queued", "offered"):
            waiting.setdefault(live.service_id, []).append(live)
    queues = [
        QueueFigure(
            service_id=sid,
            department_id=items[0].department_id,
            service_name=catalogue.service(sid).names,
            waiting=len(items),
            longest_wait_s=round(max(s.waited_s(now) for s in items), 1),
            care_mode_waiting=sum(1 for s in items if s.care_mode),
        )
        for sid, items in sorted(waiting.items(), key=lambda kv: -len(kv[1]))
    ]
    names = {c.id: c.username for _, c in people}
    clerks = [
        ClerkFigure(
            id=account.id,
            username=account.username,
            display_name=account.display_name,
            departments=sorted(state.departments),
            state=ClerkState(state.state) if state.connected else ClerkState.OFFLINE,
            session_id=state.session_id,
            in_state_s=round((now - state.state_since).total_seconds(), 1),
            away_reason=state.away_reason if state.state == ClerkState.AWAY else None,
            wrap_up_left_s=_left(state, now),
            wrap_up_overtime=(_left(state, now) or 0.0) < 0,
        )
        for state, account in sorted(people, key=lambda p: p[1].username)
    ]
    terminal_names = await store.terminal_names(db)
    sessions = [
        LiveSessionFigure(
            id=s.id,
            service_id=s.service_id,
            state=SessionState(s.state),
            terminal_name=terminal_names.get(s.terminal_id, str(s.terminal_id)),
            clerk=names.get(s.clerk_id) if s.clerk_id is not None else None,
            waited_s=round(s.waited_s(now), 1),
            step=s.step,
            care_mode=s.care_mode,
            language=s.language,
        )
        for s in sorted(active, key=lambda s: s.enqueued_at or s.created_at)
    ]
    open_tasks = await callbacks.open_by_department(db)
    called_back = [
        CallbackFigure(
            department_id=dept, department_name=catalogue.department(dept).names, open=count
        )
        for dept, count in sorted(open_tasks.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    body = Overview(
        generated_at=datetime.now(UTC),
        queues=queues,
        clerks=clerks,
        sessions=sessions,
        callbacks=called_back,
    )
    return _json(body)


async def figures(request: web.Request) -> web.Response:
    """Service-level figures over ``since``..``until`` (default: today so far)."""
    who = await clerk_of(request, SUPERVISOR)
    since, until = _period(request)
    raw_target = request.query.get("target_s", "60")
    if not raw_target.isdigit() or not 1 <= int(raw_target) <= 3600:
        raise http_error(
            web.HTTPBadRequest,
            "invalid_query",
            f"target_s={raw_target!r}: give the answer-time target in whole seconds, 1 to 3600",
        )
    result = await service_level(request.app[DATABASE], since, until, int(raw_target))
    await _audit(
        request,
        who,
        "figures.viewed",
        {"since": since.isoformat(), "until": until.isoformat(), "target_s": int(raw_target)},
    )
    return _json(result)


async def work(request: web.Request) -> web.Response:
    """Occupancy and handling time per clerk and per service over ``since``..``until``."""
    who = await clerk_of(request, SUPERVISOR)
    since, until = _period(request)
    result = await work_figures(request.app[DATABASE], request.app[CATALOGUE], since, until)
    await _audit(
        request, who, "work.viewed", {"since": since.isoformat(), "until": until.isoformat()}
    )
    return _json(result)


async def sessions(request: web.Request) -> web.Response:
    """Search sessions by acceptance number, document number, clerk, service, date, outcome."""
    who = await clerk_of(request, SUPERVISOR)
    q = request.query
    date = q.get("date")
    since = _when(request, "since", datetime.min.replace(tzinfo=UTC)) if "since" in q else None
    until = _when(request, "until", datetime.max.replace(tzinfo=UTC)) if "until" in q else None
    if date:
        day = _when(request, "date", datetime.now(UTC))
        since = day.replace(hour=0, minute=0, second=0, microsecond=0)
        until = since + timedelta(days=1)
    wanted = SearchFilter(
        acceptance_number=q.get("acceptance_number") or None,
        document_number=q.get("document_number") or None,
        clerk=q.get("clerk") or None,
        service_id=q.get("service_id") or None,
        since=since,
        until=until,
        outcome=q.get("outcome") or None,
    )
    found = await search_sessions(request.app[DATABASE], wanted)
    await _audit(
        request,
        who,
        "sessions.searched",
        {k: v for k, v in q.items() if k != "token"} | {"found": len(found.sessions)},
    )
    return _json(found)


async def _viewer(request: web.Request) -> ClerkClaims:
    """A supervisor by token, or by a signed link the replay page handed out."""
    who = await signed_clerk(request)
    if who is None:
        return await clerk_of(request, SUPERVISOR)
    if who.role != SUPERVISOR:
        raise http_error(web.HTTPForbidden, "forbidden", "this link is for a supervisor")
    return who


async def replay(request: web.Request) -> web.Response:
    """One session's replay: summary, timeline, recordings; logged as watched."""
    who = await clerk_of(request, SUPERVISOR)
    session_id = request.match_info["session_id"]
    try:
        view = await replay_view(request.app[DATABASE], session_id, "", request.app[TRAIL])
    except NotFound as exc:
        raise http_error(web.HTTPNotFound, "not_found", exc.message) from exc
    # the videos and files open by signed, short-lived links: no token in any URL
    recordings = [
        r.model_copy(update={"url": signed_link(request, r.url, who)}) for r in view.recordings
    ]
    files = {
        digest: signed_link(request, f"/api/supervisor/sessions/{session_id}/files/{digest}", who)
        for event in view.events
        for digest in event.files
    }
    view = view.model_copy(update={"recordings": recordings, "file_links": files})
    await _audit(request, who, "replay.opened", {}, session_id)
    context_log(log, session_id, f"supervisor:{who.username}").info("replay opened")
    return _json(view)


async def recording(request: web.Request) -> web.StreamResponse:
    """One side's recording as one WebM (range requests work, so the page can seek)."""
    await _viewer(request)
    session_id = request.match_info["session_id"]
    side = request.match_info["side"]
    try:
        path = await side_file(request.app, session_id, side)
    except NotFound as exc:
        raise http_error(web.HTTPNotFound, "not_found", exc.message) from exc
    return web.FileResponse(path, headers={"Content-Type": "video/webm"})


async def session_file(request: web.Request) -> web.StreamResponse:
    """A file (document, thumbnail, signed PDF) that one of the session's events names."""
    who = await _viewer(request)
    session_id = request.match_info["session_id"]
    try:
        digest = check_digest(request.match_info["sha256"])
        await search_by_id(request.app[DATABASE], session_id)
    except (InvalidValue, NotFound) as exc:
        raise http_error(web.HTTPNotFound, "not_found", exc.message) from exc
    named = {
        d for e in await AuditLog(request.app[DATABASE]).events(session_id)
        for _, d in blob_refs(e.kind, e.payload)
    }  # fmt: skip
    if digest not in named:
        raise http_error(
            web.HTTPNotFound,
            "not_found",
            f"session {session_id} names no file {digest}; open files from its timeline",
        )
    try:
        data = await request.app[BLOBS].get(digest)
    except BlobCorrupt as exc:
        raise http_error(
            web.HTTPConflict,
            "file_changed",
            f"{exc.message}; the stored file no longer matches the audit trail: run"
            f" `vcounter audit verify {session_id}` and restore it from backup",
        ) from exc
    await _audit(request, who, "file.opened", {"sha256": digest}, session_id)
    kind = "application/pdf" if data.startswith(b"%PDF") else "application/octet-stream"
    if data.startswith(b"\xff\xd8"):
        kind = "image/jpeg"
    elif data.startswith(b"\x89PNG"):
        kind = "image/png"
    elif data.startswith(b"\x1a\x45\xdf\xa3"):
        kind = "video/webm"
    return web.Response(body=data, content_type=kind)


def setup_supervision(app: web.Application) -> None:
    """Mount the supervisor routes under ``/api/supervisor``."""
    app[OVERVIEW_SEEN] = {}
    sid = r"{session_id:[0-9a-f]{32}}"
    app.router.add_get("/api/supervisor/overview", overview)
    app.router.add_get("/api/supervisor/figures", figures)
    app.router.add_get("/api/supervisor/work", work)
    app.router.add_get("/api/supervisor/sessions", sessions)
    app.router.add_get(f"/api/supervisor/sessions/{sid}", replay)
    app.router.add_get(
        f"/api/supervisor/sessions/{sid}/recording/{{side:applicant|clerk|document}}.webm",
        recording,
    )
    app.router.add_get(f"/api/supervisor/sessions/{sid}/files/{{sha256}}", session_file)
