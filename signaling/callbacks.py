"""Callbacks over REST: a kiosk leaves a phone number instead of waiting; clerks call back.

- ``POST /api/callbacks`` (kiosk, device token): :class:`RequestCallback`; the waiting
  session ends (reason ``callback``) and the task is opened in one transaction. 201
  :class:`CallbackCreated`; 400 ``invalid_phone`` saying what is wrong with the number.
- ``GET /api/callbacks`` (clerk): :class:`CallbackList`, the open tasks of their departments
  oldest first and the ones they hold (only those with the phone number).
- ``POST /api/callbacks/{reference}/take`` (clerk, not in a call): 409 when taken first.
- ``POST /api/callbacks/{reference}/attempt`` (the clerk who took it): :class:`RecordAttempt`.

After each change the clerks of the department are nudged (``callbacks_changed``) to list
them again, and the supervisors' figures are refreshed. The phone number is never logged.
"""

from __future__ import annotations

import logging

from aiohttp import web
from sqlalchemy import select

from signaling.catalogue import Catalogue
from signaling.http_auth import body_as, clerk_of, http_error, terminal_of
from signaling.keys import CATALOGUE, DATABASE, ROUTER, SETTINGS
from signaling.logs import context_log
from signaling.messages import (
    CallbackCreated,
    CallbackList,
    CallbackTask,
    RecordAttempt,
    RequestCallback,
)
from storage import callbacks
from storage.callbacks import CallbackConflict, CallbackSnap, ClerkInCall, InvalidPhone
from storage.db import Database
from storage.errors import InvalidValue, NotFound
from storage.models import Clerk

log = logging.getLogger(__name__)


def task_message(task: CallbackSnap, catalogue: Catalogue, clerk_id: int | None) -> CallbackTask:
    """The task as a console shows it; the number only for ``clerk_id`` holding it."""
    mine = task.state == "taken" and task.taken_by == clerk_id
    return CallbackTask(
        reference=task.reference,
        department_id=task.department_id,
        service_id=task.service_id,
        service_name=catalogue.service(task.service_id).names,
        language=task.language,
        state=task.state,
        created_at=task.created_at,
        attempts=task.attempts,
        taken_by=task.taken_by,
        phone=task.phone if mine else None,
        outcome=task.outcome,
    )


async def _nudge(app: web.Application, department_id: str) -> None:
    """Tell every connected clerk of the department to list the tasks again."""
    await app[ROUTER].nudge_callbacks(department_id)


def _refused(exc: CallbackConflict | ClerkInCall | NotFound | InvalidValue) -> web.HTTPException:
    if isinstance(exc, NotFound):
        return http_error(web.HTTPNotFound, "not_found", exc.message)
    if isinstance(exc, CallbackConflict | ClerkInCall):
        return http_error(web.HTTPConflict, exc.code, exc.message)
    return http_error(web.HTTPBadRequest, exc.code, exc.message)


async def request_callback(request: web.Request) -> web.Response:
    """``POST /api/callbacks``: the kiosk's applicant stops waiting and will be called back."""
    terminal = await terminal_of(request)
    body = body_as(RequestCallback, await request.read())
    app, actor = request.app, f"terminal:{terminal.id}"
    try:
        made = await callbacks.request(
            app[DATABASE], body.session_id, terminal_id=terminal.id, phone=body.phone,
            region=body.region, actor=actor,
        )  # fmt: skip
    except InvalidPhone as exc:
        # the reason, never the number: it is personal data
        context_log(log, body.session_id, actor).info("callback refused: %s", exc.reason)
        raise _refused(exc) from exc
    except (CallbackConflict, NotFound) as exc:
        raise _refused(exc) from exc
    context_log(log, body.session_id, actor).info("callback %s opened", made.task.reference)
    await app[ROUTER].callback_left(made.ended, actor)
    await _nudge(app, made.task.department_id)
    created = CallbackCreated(
        reference=made.task.reference, expect_within_s=app[SETTINGS].callback_expect_within_s
    )
    return web.json_response(text=created.model_dump_json(), status=201)


async def clerk_departments(db: Database, clerk_id: int) -> list[str]:
    """The departments the clerk (or supervisor) serves, as their account says."""
    async with db.reads() as s:
        found = await s.scalar(select(Clerk.departments).where(Clerk.id == clerk_id))
    return list(found or [])


async def list_callbacks(request: web.Request) -> web.Response:
    """``GET /api/callbacks``: open tasks of the clerk's departments, and the ones they hold."""
    claims = await clerk_of(request)
    db, catalogue = request.app[DATABASE], request.app[CATALOGUE]
    departments = await clerk_departments(db, claims.clerk_id)
    found = await callbacks.listed(db, states=("open", "taken"), departments=departments)
    tasks = [
        task_message(t, catalogue, claims.clerk_id)
        for t in found
        if t.state == "open" or t.taken_by == claims.clerk_id
    ]
    body = CallbackList(tasks=tasks, max_attempts=request.app[SETTINGS].callback_max_attempts)
    return web.json_response(text=body.model_dump_json())


async def take_callback(request: web.Request) -> web.Response:
    """``POST /api/callbacks/{reference}/take``: claim an open task of one's departments."""
    claims = await clerk_of(request)
    app, reference = request.app, request.match_info["reference"]
    found = await callbacks.get(app[DATABASE], reference)
    if found is None or found.department_id not in await clerk_departments(
        app[DATABASE], claims.clerk_id
    ):
        raise http_error(
            web.HTTPNotFound, "not_found", f"no callback {reference!r} in your departments"
        )
    actor = f"clerk:{claims.clerk_id}"
    try:
        task = await callbacks.take(app[DATABASE], reference, claims.clerk_id, actor)
    except (CallbackConflict, ClerkInCall, NotFound) as exc:
        raise _refused(exc) from exc
    context_log(log, task.session_id, actor).info("callback %s taken", reference)
    # an available clerk is away while they phone: their console is told
    await app[ROUTER].sync_clerk(claims.clerk_id)
    await _nudge(app, task.department_id)
    body = task_message(task, app[CATALOGUE], claims.clerk_id)
    return web.json_response(text=body.model_dump_json())


async def record_attempt(request: web.Request) -> web.Response:
    """``POST /api/callbacks/{reference}/attempt``: how the call went (the taker only)."""
    claims = await clerk_of(request)
    app, reference = request.app, request.match_info["reference"]
    body = body_as(RecordAttempt, await request.read())
    actor = f"clerk:{claims.clerk_id}"
    try:
        task = await callbacks.attempt(
            app[DATABASE], reference, claims.clerk_id, outcome=body.outcome, note=body.note,
            max_attempts=app[SETTINGS].callback_max_attempts, actor=actor,
        )  # fmt: skip
    except (CallbackConflict, NotFound, InvalidValue) as exc:
        raise _refused(exc) from exc
    context_log(log, task.session_id, actor).info(
        "callback %s: %s (attempt %d, now %s)", reference, body.outcome, task.attempts, task.state
    )
    # back from the phone to calls: their console is told, and the line may ring them
    await app[ROUTER].sync_clerk(claims.clerk_id)
    app[ROUTER].request_dispatch()
    await _nudge(app, task.department_id)
    return web.json_response(
        text=task_message(task, app[CATALOGUE], claims.clerk_id).model_dump_json()
    )


def setup_callbacks(app: web.Application) -> None:
    """Mount the callback routes."""
    app.router.add_post("/api/callbacks", request_callback)
    app.router.add_get("/api/callbacks", list_callbacks)
    app.router.add_post("/api/callbacks/{reference:[A-Z0-9]{1,16}}/take", take_callback)
    app.router.add_post("/api/callbacks/{reference:[A-Z0-9]{1,16}}/attempt", record_attempt)
