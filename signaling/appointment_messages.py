"""REST bodies of appointments (signaling/appointments.py): the booking page, the kiosk's
check-in and the day's bookings in the consoles. Imported by the server and the kiosk."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StrictInt, StringConstraints

from signaling.messages import Language, LocalizedText, Message, ServiceId

AppointmentNumber = Annotated[str, StringConstraints(pattern=r"^AP\d{10}[0-9X]$")]
# what a person types: checked and normalised by the server, which says what is wrong (this
# bound only keeps junk out; the checks' own limits are tighter and said in a sentence)
Typed = Annotated[str, StringConstraints(max_length=200)]
Region = Literal["HK", "MO", "CN"]


class BookableService(Message):
    id: ServiceId
    names: LocalizedText
    slot_minutes: StrictInt


class BookableDepartment(Message):
    id: str
    names: LocalizedText
    timezone: str
    # how the page names the zone beside each time, e.g. "HKT (UTC+8)"
    zone_label: str
    book_ahead_days: StrictInt
    max_open_per_person: StrictInt
    grace_minutes: StrictInt
    check_in_early_minutes: StrictInt
    services: list[BookableService]


class BookingOffer(Message):
    """``GET /api/appointments/services``: what may be booked."""

    departments: list[BookableDepartment]


class SlotView(Message):
    start: datetime
    end: datetime
    # wall-clock time in the department's zone, e.g. "09:15"
    label: str
    free: StrictInt
    capacity: StrictInt
    state: Literal["open", "full", "past"]


class DayView(Message):
    date: date
    # 0 Monday .. 6 Sunday (the page names it in its language)
    weekday: StrictInt
    closed: bool
    holiday: bool
    slots: list[SlotView]


class SlotList(Message):
    """``GET /api/appointments/slots?service=ID``: the bookable days, from today."""

    service_id: ServiceId
    zone_label: str
    days: list[DayView]


class BookRequest(Message):
    """``POST /api/appointments``: one place in a slot."""

    service_id: ServiceId
    slot_start: datetime
    name: Typed
    document_number: Typed
    phone: Typed = ""
    region: Region = "HK"
    language: Language = "zh-Hant"


class BookingRef(Message):
    """``POST /api/appointments/lookup`` and ``/cancel``: the number and the document."""

    number: Typed
    document_number: Typed


class BookingView(Message):
    """A booking as its holder sees it (the QR code carries the number)."""

    number: AppointmentNumber
    department_id: str
    service_id: ServiceId
    department_names: LocalizedText
    service_names: LocalizedText
    slot_start: datetime
    slot_end: datetime
    local_date: date
    local_time: str
    zone_label: str
    state: str
    name: str
    check_in_from: str
    grace_until: str
    qr_svg: str = ""


class CheckIn(Message):
    """``POST /api/appointments/check-in`` (kiosk): the number scanned or typed."""

    number: Typed


class CheckedIn(Message):
    """What the kiosk does next: ``wait`` for the slot (early), queue ``now`` with priority,
    or ``late``: the priority is lost, queue as a walk-in."""

    number: AppointmentNumber
    service_id: ServiceId
    department_id: str
    outcome: Literal["wait", "now", "late"]
    local_time: str
    zone_label: str
    grace_minutes: StrictInt


class BookingRow(Message):
    """One booking of the day in a console: no document, no phone, the name masked."""

    number: AppointmentNumber
    slot_start: datetime
    local_time: str
    department_id: str
    service_id: ServiceId
    service_names: LocalizedText
    state: Literal["booked", "checked_in", "in_call", "done", "no_show", "cancelled"]
    late: bool = False
    name: str


class DayBookings(Message):
    """``GET /api/appointments/day``: the day's bookings of the caller's departments."""

    date: date
    zone_label: str
    bookings: list[BookingRow] = Field(default_factory=list)
