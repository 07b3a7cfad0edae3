"""Who may touch a session's documents, and the messages that tell both screens.

Shared by the upload (:mod:`signaling.document_intake`), the clerk's reading and review
(:mod:`signaling.documents`) and the phone link (:mod:`signaling.phone`): the session as
the routes see it, the kiosk's and the clerk's access checks, refusals in the applicant's
language, and the pushes of new documents and checklists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from signaling.access import SessionFacts, check_read
from signaling.auth import ClerkClaims
from signaling.catalogue import Service
from signaling.checklist import (
    DocumentState,
    fold,
)
from signaling.document_texts import refusal_text
from signaling.http_auth import clerk_of, http_error, terminal_of
from signaling.keys import CATALOGUE, DATABASE, ROUTER
from signaling.messages import (
    CaptureRequested,
    DocumentMeta,
    Event,
    Message,
    Role,
)
from signaling.rooms import clerk_room, terminal_room
from signaling.uploads import UploadArea
from storage import routing
from storage.audit import AuditLog


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
    # the clerk the call is being discussed with now (a warm transfer's consultation)
    consulted_by: int | None = None


async def session_view(app: web.Application, session_id: str) -> SessionView:
    """The session, from the router while it is live, else from the store (404 if unknown)."""
    row = await routing.get(app[DATABASE], session_id)
    if row is None:
        raise http_error(
            web.HTTPNotFound,
            "not_found",
            f"no session {session_id!r}; it was never created in this database",
        )
    service = app[CATALOGUE].service(row.service_id)
    talking = row.consult_clerk_id if row.consult_state == "talking" else None
    return SessionView(
        row.id, row.terminal_id, row.clerk_id, row.language, service, row.in_call, talking
    )


def refuse(
    view: SessionView, code: str, status: type[web.HTTPException] | None = None, **params: Any
) -> web.HTTPException:
    """An HTTP refusal whose message is in the applicant's language."""
    kind = status or _STATUS_OF.get(code, web.HTTPUnprocessableEntity)
    return http_error(kind, code, refusal_text(code, view.language, **params))


def parse_body(model: type[BaseModel], raw: object, where: str) -> BaseModel:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or where
        raise http_error(
            web.HTTPBadRequest, "invalid_message", f'{where}: field "{field}": {first["msg"]}'
        ) from exc


def meta_of(request: web.Request) -> DocumentMeta:
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


async def clerk_view(
    request: web.Request, what: str, *, decide: bool = False
) -> tuple[SessionView, ClerkClaims]:
    """The session named in the URL and the clerk asking, checked in that order of trust:
    the token first (401 before anything about the session is said), then the session's
    access rule (:mod:`signaling.access`), each read recorded in the staff log.

    ``decide``: only the session's own clerk (reviewing materials, asking for a capture).
    """
    claims = await clerk_of(request)
    view = await session_view(request.app, request.match_info["session_id"])
    if decide:
        if claims.clerk_id != view.clerk_id:
            raise http_error(
                web.HTTPForbidden,
                "forbidden",
                f"the documents of session {view.id} are open only to its clerk",
            )
        return view, claims
    facts = SessionFacts(
        view.id, view.clerk_id, view.service.department_id, view.active, view.consulted_by
    )
    await check_read(request.app, claims, facts, what)
    return view, claims


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
    emitter = app[ROUTER].emitter
    live = await routing.get(app[DATABASE], view.id)
    if live is None or not live.active:
        return
    if clerk is not None and event is not None and live.clerk_id is not None:
        await emitter.to_room(Role.CLERK, clerk_room(live.clerk_id), event, clerk)
    if terminal is not None:
        kind = (
            Event.CAPTURE_REQUESTED if isinstance(terminal, CaptureRequested) else Event.CHECKLIST
        )
        await emitter.to_room(Role.TERMINAL, terminal_room(live.terminal_id), kind, terminal)


async def push_checklist(app: web.Application, view: SessionView, state: DocumentState) -> None:
    """The same checklist to both screens."""
    checklist = state.checklist(view.id, view.service)
    await push(app, view, checklist, checklist, Event.CHECKLIST)
