"""Complaints over REST.

- ``POST /api/complaints`` (kiosk, device token): :class:`FileComplaint` about the kiosk's
  ended session. 201 :class:`ComplaintFiled` with the number and the access code (the only
  time the code is told); 400 ``invalid_complaint`` / ``invalid_phone`` naming the field.
- ``POST /api/complaints/status`` (a kiosk with its token, or anyone): number and access code
  -> :class:`ComplaintStatus`. A wrong number and a wrong code get the same 404 sentence;
  lookups are limited per kiosk or address and per complaint number (429).
- ``GET /api/supervisor/complaints`` and ``POST /api/supervisor/complaints/{number}/assign``,
  ``/answer``, ``/close``, ``/reopen`` (supervisors, their departments' tickets only; others'
  are 404).
- ``GET /complaint``: the public phone page that looks a ticket up.

After each change the supervisors of the department are told (``complaints_changed``).
"""

from __future__ import annotations

import logging
import math
from datetime import date

from aiohttp import web

from signaling.catalogue import Catalogue
from signaling.client_address import client_address
from signaling.complaints import numbers
from signaling.complaints.numbers import BadComplaintNumber
from signaling.guard import too_many
from signaling.http_auth import bearer, body_as, clerk_of, http_error, terminal_of
from signaling.keys import CATALOGUE, DATABASE, ROUTER, SETTINGS
from signaling.logs import context_log
from signaling.messages import (
    AnswerComplaint,
    AssignComplaint,
    ComplaintBoard,
    ComplaintFiled,
    ComplaintLookup,
    ComplaintsChanged,
    ComplaintStaff,
    ComplaintStatus,
    ComplaintTicket,
    ErrorEvent,
    Event,
    FileComplaint,
    Message,
    Role,
)
from signaling.public_pages import add_public_page
from signaling.public_url import public_base
from signaling.rooms import supervisor_room
from signaling.throttle import RateLimit
from storage import complaints, store
from storage.callbacks import InvalidPhone
from storage.complaints import ComplaintConflict, ComplaintSnap, InvalidComplaint
from storage.errors import NotFound
from storage.models import Clerk, utcnow
from storage.staff_audit import StaffLog

log = logging.getLogger(__name__)

SUPERVISOR = "supervisor"
# the same sentence whether the number exists or the code is wrong: nothing to enumerate
NO_MATCH = (
    "No complaint matches this number and access code; check both against your slip, or ask"
    " at the counter."
)
LOOKUPS = web.AppKey("complaint_lookups", RateLimit)
NUMBER_LOOKUPS = web.AppKey("complaint_number_lookups", RateLimit)
_NUMBER = r"{number:CP[0-9]{13}[0-9X]}"


def _json(message: Message, status: int = 200) -> web.Response:
    return web.json_response(text=message.model_dump_json(by_alias=True), status=status)


def _problem(
    kind: type[web.HTTPException], code: str, message: str, field: str | None
) -> web.HTTPException:
    body = ErrorEvent(code=code, message=message, field=field).model_dump_json()
    return kind(text=body, content_type="application/json")


def _due(app: web.Application) -> date:
    """The due date of a ticket filed (or reopened) now."""
    settings = app[SETTINGS]
    return numbers.due_date(
        utcnow(), settings.complaint_working_days, settings.complaint_holidays,
        settings.complaint_timezone,
    )  # fmt: skip


def _today(app: web.Application) -> date:
    return numbers.today(app[SETTINGS].complaint_timezone, utcnow())


async def _nudge(app: web.Application, ticket: ComplaintSnap) -> None:
    """Tell the department's supervisors (every page they have open) to list tickets again."""
    news = ComplaintsChanged(
        department_id=ticket.department_id,
        number=ticket.number,
        state=ticket.state,
    )
    for account in await store.list_clerks(app[DATABASE]):
        if account.role == SUPERVISOR and ticket.department_id in account.departments:
            await app[ROUTER].emitter.to_room(
                Role.SUPERVISOR, supervisor_room(account.id), Event.COMPLAINTS_CHANGED, news
            )


# ---------------------------------------------------------------- the kiosk


async def file_complaint(request: web.Request) -> web.Response:
    """``POST /api/complaints``: the applicant at the kiosk files a complaint."""
    terminal = await terminal_of(request)
    body = body_as(FileComplaint, await request.read())
    app, actor = request.app, f"terminal:{terminal.id}"
    settings, catalogue, db = app[SETTINGS], app[CATALOGUE], app[DATABASE]
    try:
        session = await store.get_session(db, body.session_id)
    except NotFound as exc:
        raise http_error(web.HTTPNotFound, "not_found", exc.message) from exc
    # the department that served last (a transfer moves the session to another)
    department_id = session.department_id or catalogue.service(session.service_id).department_id
    code = numbers.new_access_code()
    key = settings.signing_key()
    due = _due(app)
    try:
        ticket = await complaints.file(
            db, body.session_id, terminal_id=terminal.id, department_id=department_id,
            category=body.category, text=body.text, phone=body.phone, region=body.region,
            due_on=due, numbering=numbers.format_number,
            seal=lambda number: numbers.seal(key, number, code), actor=actor,
        )  # fmt: skip
    except InvalidComplaint as exc:
        # the reason, never the words: they are personal data
        context_log(log, body.session_id, actor).info("complaint refused: %s", exc.reason)
        raise _problem(web.HTTPBadRequest, exc.code, exc.message, exc.reason) from exc
    except InvalidPhone as exc:
        context_log(log, body.session_id, actor).info("complaint refused: phone %s", exc.reason)
        raise _problem(web.HTTPBadRequest, exc.code, exc.message, exc.reason) from exc
    except ComplaintConflict as exc:
        raise http_error(web.HTTPConflict, exc.code, exc.message) from exc
    except NotFound as exc:
        raise http_error(web.HTTPNotFound, "not_found", exc.message) from exc
    context_log(log, body.session_id, actor).info(
        "complaint %s filed for %s, due %s", ticket.number, ticket.department_id, ticket.due_on
    )
    await _nudge(app, ticket)
    filed = ComplaintFiled(
        number=ticket.number, access_code=code, filed_at=ticket.filed_at, due_on=ticket.due_on,
        department_id=ticket.department_id,
        department_name=catalogue.department(ticket.department_id).names,
        status_url=f"{public_base(request)}/complaint",
    )  # fmt: skip
    return _json(filed, 201)


# ---------------------------------------------------------------- the status, for anyone


async def _lookup_key(request: web.Request) -> str:
    """Whose lookups these are: the kiosk's (its device token), else the address's."""
    if bearer(request):
        return f"terminal:{(await terminal_of(request)).id}"
    return f"address:{client_address(request, request.app[SETTINGS])}"


def status_message(
    ticket: ComplaintSnap, catalogue: Catalogue, today: date, zone: str
) -> ComplaintStatus:
    """What the applicant may see of ``ticket``: no text of theirs, no staff names."""
    answered_at = ticket.answered_at if ticket.state != "open" else None
    return ComplaintStatus(
        number=ticket.number, state=ticket.state, category=ticket.category,
        filed_at=ticket.filed_at, due_on=ticket.due_on, overdue=ticket.overdue(today),
        department_name=catalogue.department(ticket.department_id).names,
        answer=ticket.answer if ticket.state != "open" else None,
        answered_at=answered_at,
        answered_on=numbers.today(zone, answered_at) if answered_at else None,
    )  # fmt: skip


async def complaint_status(request: web.Request) -> web.Response:
    """``POST /api/complaints/status``: a ticket's state, due date and answer, for its number
    and access code."""
    app = request.app
    who = await _lookup_key(request)
    if (wait := app[LOOKUPS].take(who)) > 0:
        log.warning("complaint lookups from %s: too many", who)
        raise await too_many(
            request, wait, f"Too many lookups from here; try again in {math.ceil(wait)} s."
        )
    body = body_as(ComplaintLookup, await request.read())
    try:
        number = numbers.normalise(body.number)
    except BadComplaintNumber as exc:
        raise _problem(web.HTTPBadRequest, exc.code, exc.message, "number") from exc
    code = body.access_code.strip()
    if not (code.isdigit() and len(code) == numbers.CODE_DIGITS):
        raise _problem(
            web.HTTPBadRequest, "bad_access_code",
            f"The access code is {numbers.CODE_DIGITS} digits; copy it from your slip.",
            "access_code",
        )  # fmt: skip
    # every lookup of a number counts, found or not: one number's code cannot be guessed
    if (wait := app[NUMBER_LOOKUPS].take(number)) > 0:
        log.warning("complaint lookups of %s: too many (last from %s)", number, who)
        raise await too_many(
            request, wait,
            "This number was looked up too often; try again later, or ask at the counter.",
        )  # fmt: skip
    ticket = await complaints.get(app[DATABASE], number)
    key = app[SETTINGS].signing_key()
    if not numbers.code_matches(key, number, code, ticket.code_hash if ticket else None):
        log.warning("complaint lookup of %s refused (from %s)", number, who)
        raise http_error(web.HTTPNotFound, "complaint_not_found", NO_MATCH)
    log.info("complaint %s looked up (from %s)", number, who)
    assert ticket is not None
    zone = app[SETTINGS].complaint_timezone
    return _json(status_message(ticket, app[CATALOGUE], _today(app), zone))


# ---------------------------------------------------------------- supervisors


async def _supervisor(request: web.Request) -> tuple[str, Clerk]:
    who = await clerk_of(request, SUPERVISOR)
    return f"supervisor:{who.username}", await store.get_clerk(request.app[DATABASE], who.clerk_id)


def _ticket(ticket: ComplaintSnap, accounts: dict[int, Clerk], today: date) -> ComplaintTicket:
    def name(clerk_id: int | None) -> str | None:
        found = accounts.get(clerk_id) if clerk_id is not None else None
        return found.display_name if found else None

    assignee = accounts.get(ticket.assigned_to) if ticket.assigned_to is not None else None
    return ComplaintTicket(
        number=ticket.number, session_id=ticket.session_id, department_id=ticket.department_id,
        service_id=ticket.service_id, category=ticket.category,
        language=ticket.language,
        text=ticket.text, phone=ticket.phone, state=ticket.state,
        filed_at=ticket.filed_at, due_on=ticket.due_on, overdue=ticket.overdue(today),
        served_by=name(ticket.clerk_id), assigned_to=assignee.username if assignee else None,
        answer=ticket.answer, answered_at=ticket.answered_at, closed_at=ticket.closed_at,
    )  # fmt: skip


async def _accounts(request: web.Request) -> dict[int, Clerk]:
    return {c.id: c for c in await store.list_clerks(request.app[DATABASE])}


async def board(request: web.Request) -> web.Response:
    """``GET /api/supervisor/complaints[?state=open|answered|closed|all]``: the tickets of
    the supervisor's departments (open and answered unless asked), soonest due first."""
    actor, account = await _supervisor(request)
    wanted = request.query.get("state", "")
    if wanted not in ("", "all", *complaints.STATES):
        raise http_error(
            web.HTTPBadRequest, "invalid_message",
            f"state {wanted!r}: use open, answered, closed or all",
        )  # fmt: skip
    states = {"": ("open", "answered"), "all": complaints.STATES}.get(wanted, (wanted,))
    db = request.app[DATABASE]
    found = await complaints.listed(db, states=states, departments=account.departments)
    accounts = await _accounts(request)
    today = _today(request.app)
    mine = set(account.departments)
    staff = [
        ComplaintStaff(
            username=c.username,
            display_name=c.display_name,
            departments=sorted(mine & set(c.departments)),
        )
        for c in accounts.values()
        if not c.disabled and mine & set(c.departments) and c.role in ("clerk", SUPERVISOR)
    ]
    if found:
        # the applicants' words and numbers are personal data: who read which is recorded
        await StaffLog(db).append(actor, "complaints.read", {"numbers": [t.number for t in found]})
    answer = ComplaintBoard(
        tickets=[_ticket(t, accounts, today) for t in found],
        staff=sorted(staff, key=lambda s: s.username), today=today,
    )  # fmt: skip
    return _json(answer)


async def _own_ticket(request: web.Request, account: Clerk) -> ComplaintSnap:
    """The ticket named in the path, if it is of the supervisor's departments (else 404:
    another department's tickets are not theirs to know of)."""
    number = request.match_info["number"]
    ticket = await complaints.get(request.app[DATABASE], number)
    if ticket is None or ticket.department_id not in account.departments:
        raise http_error(
            web.HTTPNotFound, "not_found", f"no complaint {number} in your departments"
        )
    return ticket


def _refused(exc: ComplaintConflict | InvalidComplaint | NotFound) -> web.HTTPException:
    if isinstance(exc, NotFound):
        return http_error(web.HTTPNotFound, "not_found", exc.message)
    if isinstance(exc, ComplaintConflict):
        return http_error(web.HTTPConflict, exc.code, exc.message)
    return _problem(web.HTTPBadRequest, exc.code, exc.message, exc.reason)


async def _changed(
    request: web.Request, ticket: ComplaintSnap, actor: str, what: str
) -> web.Response:
    context_log(log, ticket.session_id, actor).info("complaint %s %s", ticket.number, what)
    await _nudge(request.app, ticket)
    return _json(_ticket(ticket, await _accounts(request), _today(request.app)))


async def assign(request: web.Request) -> web.Response:
    """``POST .../assign``: give the ticket to a member of staff of its department."""
    actor, account = await _supervisor(request)
    ticket = await _own_ticket(request, account)
    body = body_as(AssignComplaint, await request.read())
    db = request.app[DATABASE]
    try:
        assignee = await store.find_clerk(db, body.username)
    except NotFound as exc:
        raise _problem(
            web.HTTPBadRequest, "unknown_staff", f"no member of staff is called {body.username!r}",
            "username",
        ) from exc  # fmt: skip
    if assignee.disabled or ticket.department_id not in assignee.departments:
        raise _problem(
            web.HTTPBadRequest, "not_in_department",
            f"{body.username} does not serve {ticket.department_id}; assign the complaint to"
            " someone who does", "username",
        )  # fmt: skip
    try:
        changed = await complaints.assign(db, ticket.number, assignee.id, actor)
    except (ComplaintConflict, NotFound) as exc:
        raise _refused(exc) from exc
    return await _changed(request, changed, actor, f"assigned to {assignee.username}")


async def answer(request: web.Request) -> web.Response:
    """``POST .../answer``: the answer the applicant is shown (amended while not closed)."""
    actor, account = await _supervisor(request)
    ticket = await _own_ticket(request, account)
    body = body_as(AnswerComplaint, await request.read())
    try:
        changed = await complaints.answer(
            request.app[DATABASE], ticket.number, body.answer, account.id, actor
        )
    except (ComplaintConflict, InvalidComplaint, NotFound) as exc:
        raise _refused(exc) from exc
    return await _changed(request, changed, actor, "answered")


async def close(request: web.Request) -> web.Response:
    """``POST .../close``: close an answered ticket (409 while it has no answer)."""
    actor, account = await _supervisor(request)
    ticket = await _own_ticket(request, account)
    try:
        changed = await complaints.close(request.app[DATABASE], ticket.number, account.id, actor)
    except (ComplaintConflict, NotFound) as exc:
        raise _refused(exc) from exc
    return await _changed(request, changed, actor, "closed")


async def reopen(request: web.Request) -> web.Response:
    """``POST .../reopen``: a closed ticket is open again, due in the full working days anew."""
    actor, account = await _supervisor(request)
    ticket = await _own_ticket(request, account)
    due = _due(request.app)
    try:
        changed = await complaints.reopen(
            request.app[DATABASE], ticket.number, due, account.id, actor
        )
    except (ComplaintConflict, NotFound) as exc:
        raise _refused(exc) from exc
    return await _changed(request, changed, actor, f"reopened, due {due}")


def setup_complaints(app: web.Application) -> None:
    """Mount the complaint routes and their rate limits."""
    settings = app[SETTINGS]
    app[LOOKUPS] = RateLimit(settings.complaint_lookups_per_minute, burst=5)
    per_hour = settings.complaint_number_lookups_per_hour
    app[NUMBER_LOOKUPS] = RateLimit(per_hour / 60.0, burst=per_hour)
    app.router.add_post("/api/complaints", file_complaint)
    app.router.add_post("/api/complaints/status", complaint_status)
    # the public phone page (its script asks /api/complaints/status)
    add_public_page(
        app, "/complaint", "complaint.html", r"/complaint-static/{name:complaint\.(js|css)}"
    )
    app.router.add_get("/api/supervisor/complaints", board)
    app.router.add_post(f"/api/supervisor/complaints/{_NUMBER}/assign", assign)
    app.router.add_post(f"/api/supervisor/complaints/{_NUMBER}/answer", answer)
    app.router.add_post(f"/api/supervisor/complaints/{_NUMBER}/close", close)
    app.router.add_post(f"/api/supervisor/complaints/{_NUMBER}/reopen", reopen)
