"""Booking rules of a department (办事预约): when its services may be booked, and how.

A department's ``booking`` entry in the catalogue sets opening hours per weekday, the slot
length and capacity (per service, overridable), holidays, how far ahead one may book, how
many open bookings one person may hold, the grace time for late arrival and how early one
may check in. Times are wall-clock times in the department's ``timezone`` (the kiosks'
Hong Kong time by default); slots are computed from them, stored and compared in UTC.
The catalogue loader checks every rule at start-up (:func:`problems`), naming the department.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")]
DEFAULT_TIMEZONE = "Asia/Hong_Kong"


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Opening(_Rule):
    """One opening period of a day, e.g. 09:00-12:30 (24:00 is the end of the day)."""

    open: ClockTime
    close: ClockTime


class ServiceBooking(_Rule):
    """A bookable service of the department; unset fields take the department's values."""

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{1,63}$")]
    slot_minutes: int | None = Field(default=None, ge=5, le=240)
    capacity: int | None = Field(default=None, ge=1, le=100)


class BookingRules(_Rule):
    """How a department takes bookings (the defaults are a typical counter's)."""

    timezone: str = DEFAULT_TIMEZONE
    # Monday to Friday 09:00-12:30 and 14:00-17:00 unless the department says otherwise
    hours: dict[Weekday, list[Opening]] = Field(
        default_factory=lambda: {
            day: [Opening(open="09:00", close="12:30"), Opening(open="14:00", close="17:00")]
            for day in WEEKDAYS[:5]
        }
    )
    slot_minutes: int = Field(default=15, ge=5, le=240)
    capacity: int = Field(default=2, ge=1, le=100)
    holidays: list[date] = Field(default_factory=list)
    book_ahead_days: int = Field(default=14, ge=1, le=90)
    max_open_per_person: int = Field(default=2, ge=1, le=10)
    grace_minutes: int = Field(default=10, ge=0, le=60)
    check_in_early_minutes: int = Field(default=30, ge=0, le=240)
    services: list[ServiceBooking] = Field(min_length=1)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def service(self, service_id: str) -> ServiceBooking | None:
        """The bookable service ``service_id`` of the department, or None."""
        return next((s for s in self.services if s.id == service_id), None)

    def slot_minutes_of(self, service_id: str) -> int:
        found = self.service(service_id)
        return (found.slot_minutes if found and found.slot_minutes else None) or self.slot_minutes

    def capacity_of(self, service_id: str) -> int:
        found = self.service(service_id)
        return (found.capacity if found and found.capacity else None) or self.capacity

    @property
    def grace(self) -> timedelta:
        return timedelta(minutes=self.grace_minutes)

    @property
    def early(self) -> timedelta:
        return timedelta(minutes=self.check_in_early_minutes)

    def closed_on(self, day: date) -> bool:
        """True on a holiday or a weekday without opening hours."""
        return day in self.holidays or not self.hours.get(WEEKDAYS[day.weekday()])

    def slots_on(self, service_id: str, day: date) -> Iterator[Slot]:
        """The service's slots on ``day`` (local), in order; none on a closed day."""
        if self.closed_on(day):
            return
        length = timedelta(minutes=self.slot_minutes_of(service_id))
        zone = self.zone
        for period in self.hours[WEEKDAYS[day.weekday()]]:
            start = _at(day, period.open, zone)
            close = _at(day, period.close, zone)
            while start + length <= close:
                yield Slot(start.astimezone(UTC), (start + length).astimezone(UTC))
                start += length

    def slot_at(self, service_id: str, start: datetime) -> Slot | None:
        """The slot of the service that starts at ``start``, or None if there is none."""
        day = start.astimezone(self.zone).date()
        return next((s for s in self.slots_on(service_id, day) if s.start == start), None)

    def local(self, moment: datetime) -> datetime:
        """``moment`` on the department's clock."""
        return moment.astimezone(self.zone)


@dataclass(frozen=True)
class Slot:
    """One bookable period, in UTC."""

    start: datetime
    end: datetime


def _at(day: date, clock: str, zone: ZoneInfo) -> datetime:
    if clock == "24:00":
        return datetime.combine(day + timedelta(days=1), time(0, 0), zone)
    hours, minutes = (int(p) for p in clock.split(":"))
    return datetime.combine(day, time(hours, minutes), zone)


def _minutes(clock: str) -> int:
    hours, minutes = (int(p) for p in clock.split(":"))
    return hours * 60 + minutes


def problems(rules: BookingRules, department_id: str, service_ids: set[str]) -> list[str]:
    """What is wrong with a department's rules, each naming the department (empty: fine)."""
    where = f"department {department_id!r} booking"
    found: list[str] = []
    try:
        ZoneInfo(rules.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        found.append(f"{where}: unknown time zone {rules.timezone!r} (e.g. Asia/Hong_Kong)")
    for day, periods in rules.hours.items():
        last_close = -1
        for period in periods:
            opens, closes = _minutes(period.open), _minutes(period.close)
            if opens >= closes:
                found.append(
                    f"{where}: on {day} {period.open}-{period.close} closes before it opens"
                )
            elif opens < last_close:
                found.append(f"{where}: on {day} {period.open} overlaps the period before it")
            last_close = max(last_close, closes)
    seen: set[str] = set()
    for service in rules.services:
        if service.id in seen:
            found.append(f"{where}: service {service.id!r} is listed twice")
        seen.add(service.id)
        if service.id not in service_ids:
            found.append(f"{where}: service {service.id!r} is not a service of the department")
    longest = max(
        (_minutes(p.close) - _minutes(p.open) for ps in rules.hours.values() for p in ps),
        default=0,
    )
    for service in rules.services:
        if rules.slot_minutes_of(service.id) > longest:
            found.append(
                f"{where}: a {rules.slot_minutes_of(service.id)}-minute slot of"
                f" {service.id!r} fits in no opening period (the longest is {longest} minutes)"
            )
    if not any(rules.hours.values()):
        found.append(f"{where}: no opening hours on any day")
    return found


class _Service(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def department_id(self) -> str: ...


def booking_problems(
    bookings: Mapping[str, BookingRules], services: Iterable[_Service], department_ids: set[str]
) -> list[str]:
    """Every department's rules checked against the catalogue's departments and services."""
    found: list[str] = []
    for department_id, rules in bookings.items():
        if department_id not in department_ids:
            found.append(f"booking rules name unknown department {department_id!r}")
            continue
        own = {s.id for s in services if s.department_id == department_id}
        found.extend(problems(rules, department_id, own))
    return found
