"""Appointments over HTTP: the public booking page, the kiosk's check-in, the day's list.

Public (no sign-in, limited per address; a refusal is a sentence in an :class:`ErrorEvent`):

- ``GET /book``: the phone page (``signaling/static/book.*``).
- ``GET /api/appointments/services``: :class:`BookingOffer`, what may be booked.
- ``GET /api/appointments/slots?service=ID``: :class:`SlotList`, each day's slots with the
  places left (full ones as full, holidays closed).
- ``POST /api/appointments``: :class:`BookRequest` -> 201 :class:`BookingView` with a QR code.
- ``POST /api/appointments/lookup`` and ``/cancel``: :class:`BookingRef` (number + document
  number; a wrong one of either is the same 404, so numbers cannot be probed).

Kiosk (device token): ``POST /api/appointments/check-in``: :class:`CheckIn` ->
:class:`CheckedIn`. Clerks and supervisors: ``GET /api/appointments/day?date=YYYY-MM-DD``:
:class:`DayBookings` of their departments, names masked.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import AsyncIterator, Collection
from datetime import date, datetime, timedelta
from typing import Literal, cast
from zoneinfo import ZoneInfo

import segno
from aiohttp import web

from signaling.appointment_desk import AppointmentDesk, Clock, TooEarly, clock_label, zone_label
from signaling.appointment_messages import (
    BookableDepartment,
    BookableService,
    BookingOffer,
    BookingRef,
    BookingRow,
    BookingView,
    BookRequest,
    CheckIn,
    DayBookings,
    DayView,
    SlotList,
    SlotView,
)
from signaling.appointment_numbers import BadAppointmentNumber, new_number, normalise
from signaling.booking_rules import DEFAULT_TIMEZONE, BookingRules
from signaling.callbacks import clerk_departments
from signaling.catalogue import Catalogue
from signaling.client_address import client_address
from signaling.errors import UnknownService
from signaling.guard import too_many
from signaling.http_auth import body_as, clerk_of, http_error, terminal_of
from signaling.keys import CATALOGUE, DATABASE, ROUTER, SETTINGS
from signaling.public_pages import add_public_page
from signaling.throttle import RateLimit
from storage import appointments, routing
from storage.appointments import AppointmentConflict, AppointmentError, AppointmentSnap, NewBooking
from storage.callbacks import InvalidPhone, parse_phone
from storage.db import Database
from storage.errors import InvalidValue, NotFound

log = logging.getLogger(__name__)

DESK = web.AppKey("appointment_desk", AppointmentDesk)
CLOCK = web.AppKey("appointment_clock", Clock)
# reads (the slots) and changes (book, look up, cancel, check in) are limited apart
READ_LIMIT = web.AppKey("appointment_read_limit", RateLimit)
WRITE_LIMIT = web.AppKey("appointment_write_limit", RateLimit)
DOCUMENT = re.compile(r"[A-Z0-9]{5,20}")
NAME_MAX = 60


SlotState = Literal["open", "full", "past"]
RowState = Literal["booked", "checked_in", "in_call", "done", "no_show", "cancelled"]


class NotBookable(InvalidValue):
    code = "not_bookable"


def _check_document(typed: str) -> str:
    """An ID document number as the person typed it, normalised (spaces, hyphens and
    brackets dropped, upper case): HKID A123456(7) becomes A1234567."""
    value = re.sub(r"[\s\-()（）]", "", typed).upper()
    if not value:
        raise InvalidValue("Enter your ID document number: none was entered.")
    if DOCUMENT.fullmatch(value) is None or not any(c.isdigit() for c in value):
        raise InvalidValue(
            "An ID document number has 5 to 20 letters and digits, with at least one digit;"
            " check what you typed against the document"
        )
    return value


def _check_name(typed: str) -> str:
    value = " ".join(typed.split())
    if not value:
        raise InvalidValue("Enter your name as on your ID document: none was entered.")
    if len(value) > NAME_MAX:
        raise InvalidValue(f"The name has {len(value)} characters; at most {NAME_MAX} fit.")
    if any(unicodedata.category(c).startswith("C") for c in value) or not any(
        c.isalpha() for c in value
    ):
        raise InvalidValue("A name has letters; enter it as on your ID document.")
    return value


def mask_name(name: str) -> str:
    """What a console shows of a name: the first character of each word, the rest starred
    ("陳大文" -> "陳＊＊", "Chan Tai Man" -> "C*** T** M**")."""
    words = name.split()
    if len(words) == 1 and all(unicodedata.east_asian_width(c) in "WF" for c in name):
        return name[0] + "＊" * (len(name) - 1)
    return " ".join(w[0] + "*" * (len(w) - 1) for w in words)


def _bookable(catalogue: Catalogue, service_id: str) -> tuple[BookingRules, str]:
    """The rules and department of a bookable service; :class:`NotBookable` otherwise."""
    try:
        service = catalogue.service(service_id)
    except UnknownService as exc:
        raise NotBookable(f"There is no service {service_id!r} to book.") from exc
    rules = catalogue.bookings.get(service.department_id)
    if rules is None or rules.service(service_id) is None:
        raise NotBookable("This service takes no bookings; choose one from the list.")
    return rules, service.department_id


def _view(app: web.Application, snap: AppointmentSnap, qr: bool = True) -> BookingView:
    catalogue = app[CATALOGUE]
    rules = catalogue.bookings[snap.department_id]
    local = rules.local(snap.slot_start)
    return BookingView(
        number=snap.number,
        department_id=snap.department_id,
        service_id=snap.service_id,
        department_names=catalogue.department(snap.department_id).names,
        service_names=catalogue.service(snap.service_id).names,
        slot_start=snap.slot_start,
        slot_end=snap.slot_end,
        local_date=local.date(),
        local_time=local.strftime("%H:%M"),
        zone_label=zone_label(rules.timezone, snap.slot_start),
        state=snap.state,
        name=snap.name,
        check_in_from=clock_label(rules, snap.slot_start - rules.early),
        grace_until=clock_label(rules, snap.slot_start + rules.grace),
        # make_qr: for data this short segno would pick a Micro QR, which few scanners read
        qr_svg=segno.make_qr(snap.number, error="m").svg_data_uri(scale=8, border=4) if qr else "",
    )


def _refusal(exc: Exception) -> web.HTTPException:
    """The HTTP answer to a refused change: the code and the sentence."""
    if isinstance(exc, BadAppointmentNumber):
        return http_error(web.HTTPBadRequest, f"bad_number_{exc.reason}", exc.message)
    if isinstance(exc, InvalidPhone):
        return http_error(web.HTTPBadRequest, "invalid_phone", exc.message)
    if isinstance(exc, NotFound):
        return http_error(web.HTTPNotFound, "not_found", exc.message)
    if isinstance(exc, AppointmentError):
        return http_error(web.HTTPConflict, exc.code, exc.message)
    assert isinstance(exc, InvalidValue)
    return http_error(web.HTTPBadRequest, exc.code, exc.message)


async def _limit(request: web.Request, limit: web.AppKey[RateLimit], key: str) -> None:
    """429 with a sentence when ``key`` asked too often (held back a while first)."""
    wait = request.app[limit].take(key)
    if wait > 0:
        raise await too_many(
            request, wait, f"Too many requests from here; try again in {math.ceil(wait)} seconds."
        )


def _address(request: web.Request) -> str:
    return client_address(request, request.app[SETTINGS])


# ---------------------------------------------------------------------- public


async def list_services(request: web.Request) -> web.Response:
    """``GET /api/appointments/services``."""
    await _limit(request, READ_LIMIT, _address(request))
    catalogue, now = request.app[CATALOGUE], request.app[CLOCK].now()
    departments = [
        BookableDepartment(
            id=department_id,
            names=catalogue.department(department_id).names,
            timezone=rules.timezone,
            zone_label=zone_label(rules.timezone, now),
            book_ahead_days=rules.book_ahead_days,
            max_open_per_person=rules.max_open_per_person,
            grace_minutes=rules.grace_minutes,
            check_in_early_minutes=rules.check_in_early_minutes,
            services=[
                BookableService(
                    id=s.id,
                    names=catalogue.service(s.id).names,
                    slot_minutes=rules.slot_minutes_of(s.id),
                )
                for s in rules.services
            ],
        )
        for department_id, rules in catalogue.bookings.items()
    ]
    return web.json_response(
        text=BookingOffer(departments=departments).model_dump_json(by_alias=True)
    )


def _slot_state(start: datetime, now: datetime, taken: int, capacity: int) -> SlotState:
    if start <= now:
        return "past"
    return "full" if taken >= capacity else "open"


async def list_slots(request: web.Request) -> web.Response:
    """``GET /api/appointments/slots?service=ID``: from today to the last bookable day."""
    await _limit(request, READ_LIMIT, _address(request))
    service_id = request.query.get("service", "")
    try:
        rules, _ = _bookable(request.app[CATALOGUE], service_id)
    except NotBookable as exc:
        raise _refusal(exc) from exc
    now = request.app[CLOCK].now()
    today = rules.local(now).date()
    last = today + timedelta(days=rules.book_ahead_days)
    start = datetime.combine(today, datetime.min.time(), rules.zone)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), rules.zone)
    taken = await appointments.taken_places(request.app[DATABASE], service_id, start, end)
    capacity = rules.capacity_of(service_id)
    days: list[DayView] = []
    day = today
    while day <= last:
        slots = [
            SlotView(
                start=slot.start,
                end=slot.end,
                label=clock_label(rules, slot.start),
                free=max(0, capacity - taken.get(slot.start, 0)),
                capacity=capacity,
                state=_slot_state(slot.start, now, taken.get(slot.start, 0), capacity),
            )
            for slot in rules.slots_on(service_id, day)
        ]
        days.append(
            DayView(
                date=day,
                weekday=day.weekday(),
                closed=rules.closed_on(day),
                holiday=day in rules.holidays,
                slots=slots,
            )
        )
        day += timedelta(days=1)
    body = SlotList(service_id=service_id, zone_label=zone_label(rules.timezone, now), days=days)
    return web.json_response(text=body.model_dump_json(by_alias=True))


async def make_booking(request: web.Request) -> web.Response:
    """``POST /api/appointments``: one place; 201 with the number and its QR code."""
    await _limit(request, WRITE_LIMIT, _address(request))
    body = body_as(BookRequest, await request.read())
    app = request.app
    catalogue, now = app[CATALOGUE], app[CLOCK].now()
    try:
        rules, department_id = _bookable(catalogue, body.service_id)
        if body.slot_start.tzinfo is None:
            raise InvalidValue("The slot's time must say its time zone (as the page sends it).")
        slot = rules.slot_at(body.service_id, body.slot_start.astimezone(rules.zone))
        if slot is None:
            raise NotBookable("There is no such time slot for this service; choose one shown.")
        if slot.start <= now:
            raise NotBookable("This time slot has begun or passed; choose a later one.")
        if rules.local(slot.start).date() > rules.local(now).date() + timedelta(
            days=rules.book_ahead_days
        ):
            raise NotBookable(
                f"Bookings open {rules.book_ahead_days} days ahead; choose an earlier day."
            )
        name = _check_name(body.name)
        document = _check_document(body.document_number)
        phone = parse_phone(body.phone, body.region) if body.phone.strip() else None
        new = NewBooking(
            department_id=department_id, service_id=body.service_id, slot_start=slot.start,
            slot_end=slot.end, capacity=rules.capacity_of(body.service_id),
            max_open=rules.max_open_per_person, name=name, phone=phone, language=body.language,
        )  # fmt: skip
        person = appointments.person_key(app[SETTINGS].signing_key(), document)
        snap = await appointments.book(
            app[DATABASE], new, person, now, new_number, f"public:{_address(request)}"
        )
    except (InvalidValue, AppointmentError) as exc:
        log.info("booking refused: %s", exc.code)  # the reason, never what was typed
        raise _refusal(exc) from exc
    return web.json_response(text=_view(app, snap).model_dump_json(by_alias=True), status=201)


async def _owned(request: web.Request) -> tuple[AppointmentSnap, str]:
    await _limit(request, WRITE_LIMIT, _address(request))
    body = body_as(BookingRef, await request.read())
    app = request.app
    try:
        number = normalise(body.number)
        document = _check_document(body.document_number)
        person = appointments.person_key(app[SETTINGS].signing_key(), document)
        return await appointments.owned(app[DATABASE], number, person), person
    except (InvalidValue, NotFound) as exc:
        raise _refusal(exc) from exc


async def look_up(request: web.Request) -> web.Response:
    """``POST /api/appointments/lookup``: the booking, for its holder."""
    snap, _ = await _owned(request)
    return web.json_response(text=_view(request.app, snap).model_dump_json(by_alias=True))


async def cancel_booking(request: web.Request) -> web.Response:
    """``POST /api/appointments/cancel``: the holder gives the place back."""
    snap, person = await _owned(request)
    app = request.app
    try:
        done = await appointments.cancel(
            app[DATABASE], snap.number, person, app[CLOCK].now(), f"public:{_address(request)}"
        )
    except (AppointmentError, NotFound) as exc:
        raise _refusal(exc) from exc
    return web.json_response(text=_view(app, done, qr=False).model_dump_json(by_alias=True))


# ---------------------------------------------------------------------- kiosk


async def check_in(request: web.Request) -> web.Response:
    """``POST /api/appointments/check-in``: the kiosk's applicant shows their booking."""
    terminal = await terminal_of(request)
    await _limit(request, WRITE_LIMIT, f"terminal:{terminal.id}")
    body = body_as(CheckIn, await request.read())
    try:
        done = await request.app[DESK].check_in(terminal.id, body.number)
    except (InvalidValue, AppointmentError, NotFound) as exc:
        code = exc.code if isinstance(exc, TooEarly | AppointmentConflict) else "refused"
        log.info("check-in refused at terminal %d: %s", terminal.id, code)
        raise _refusal(exc) from exc
    return web.json_response(text=done.model_dump_json(by_alias=True))


# ---------------------------------------------------------------------- consoles


def _row(catalogue: Catalogue, snap: AppointmentSnap, calls: dict[str, str]) -> BookingRow:
    """The console's row of a booking; ``calls``: the state of each booking's call."""
    rules = catalogue.bookings[snap.department_id]
    state: RowState = "booked"
    if snap.state in ("booked", "cancelled", "no_show"):
        state = cast(RowState, snap.state)
    else:
        state = "checked_in"
        call = calls.get(snap.session_id or "")
        if call in routing.CALL_STATES:
            state = "in_call"
        elif call is not None and call not in routing.ACTIVE_STATES:
            state = "done"
    return BookingRow(
        number=snap.number,
        slot_start=snap.slot_start,
        local_time=clock_label(rules, snap.slot_start),
        department_id=snap.department_id,
        service_id=snap.service_id,
        service_names=catalogue.service(snap.service_id).names,
        state=state,
        late=snap.state == "late",
        name=mask_name(snap.name),
    )


async def day_list(
    db: Database, catalogue: Catalogue, departments: Collection[str], day: date | None,
    now: datetime,
) -> DayBookings:  # fmt: skip
    """The bookings of ``departments`` on ``day`` (default: today on their clock), in time
    order, as the consoles and ``vcounter appointments day`` show them."""
    bookable = {d: r for d, r in catalogue.bookings.items() if d in departments}
    # the day on the first department's clock (the kiosks' zone, UTC+8, for all shipped)
    timezone = next((r.timezone for r in bookable.values()), DEFAULT_TIMEZONE)
    zone = ZoneInfo(timezone)
    day = day or now.astimezone(zone).date()
    start = datetime.combine(day, datetime.min.time(), zone)
    found = await appointments.between(db, bookable, start, start + timedelta(days=1))
    calls = await appointments.session_states(db, [s.session_id for s in found if s.session_id])
    rows = [_row(catalogue, snap, calls) for snap in found]
    return DayBookings(date=day, zone_label=zone_label(timezone, start), bookings=rows)


async def day_bookings(request: web.Request) -> web.Response:
    """``GET /api/appointments/day?date=YYYY-MM-DD`` (default today): the caller's
    departments' bookings of that day, in time order."""
    claims = await clerk_of(request)
    app = request.app
    try:
        day = date.fromisoformat(request.query["date"]) if "date" in request.query else None
    except ValueError as exc:
        raise http_error(
            web.HTTPBadRequest, "invalid_date", "date must be YYYY-MM-DD, e.g. 2026-12-07"
        ) from exc
    mine = await clerk_departments(app[DATABASE], claims.clerk_id)
    body = await day_list(app[DATABASE], app[CATALOGUE], mine, day, app[CLOCK].now())
    return web.json_response(text=body.model_dump_json(by_alias=True))


def setup_appointments(app: web.Application) -> None:
    """Mount the appointment routes; the desk sweeps while the server runs."""
    settings = app[SETTINGS]
    app[CLOCK] = Clock()
    app[READ_LIMIT] = RateLimit(settings.appointment_reads_per_minute, burst=30)
    app[WRITE_LIMIT] = RateLimit(settings.appointment_changes_per_minute, burst=8)

    async def desk(app: web.Application) -> AsyncIterator[None]:
        router = app[ROUTER]
        app[DESK] = AppointmentDesk(
            app[DATABASE], app[CATALOGUE], router.emitter, app[CLOCK],
            settings.appointment_sweep_s,
        )  # fmt: skip
        router.appointments = app[DESK]
        router.spawn(app[DESK].run())
        yield

    app.cleanup_ctx.append(desk)
    add_public_page(app, "/book", "book.html", r"/book-static/{name:book\.(js|css)}")
    app.router.add_get("/api/appointments/services", list_services)
    app.router.add_get("/api/appointments/slots", list_slots)
    app.router.add_post("/api/appointments", make_booking)
    app.router.add_post("/api/appointments/lookup", look_up)
    app.router.add_post("/api/appointments/cancel", cancel_booking)
    app.router.add_post("/api/appointments/check-in", check_in)
    app.router.add_get("/api/appointments/day", day_bookings)
