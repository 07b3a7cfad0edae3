"""Appointments over the real server and store: booking within capacity and the per-person
limit (races included, on SQLite and PostgreSQL), refusals in sentences, check-in at a kiosk
(early, on time, late), the priority in line at the slot time, and no-shows.

The server's booking clock is moved (``Clock.set``) to a Monday morning in Hong Kong; the
queue's own clock is the database's, as in production."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from signaling.appointment_numbers import normalise
from signaling.appointments import CLOCK, DESK, WRITE_LIMIT
from signaling.catalogue import load_catalogue
from signaling.cli import main
from signaling.errors import ConfigError, IllegalTransition
from signaling.paperwork.acceptance import check_character
from signaling.throttle import RateLimit
from storage import appointments, routing, store
from storage.audit import AuditLog
from storage.models import Appointment, StaffEvent
from tests.conftest import RunningServer

HK = ZoneInfo("Asia/Hong_Kong")
MONDAY = datetime(2026, 12, 7, tzinfo=HK)
TRANSFER = "property-transfer-registration"  # capacity 2, one open booking per person
MORTGAGE = "mortgage-registration"  # capacity 1
TAX = "tax-registration"  # capacity 4, two open bookings per person, walk-ins too


def at(hour: int, minute: int = 0) -> datetime:
    return MONDAY.replace(hour=hour, minute=minute)


async def call(
    server: RunningServer, method: str, path: str, body: object = None, token: str = ""
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, server.url + path, json=body, headers=headers) as r,
    ):
        return r.status, await r.json()


def booking(service: str, start: datetime, document: str, name: str = "陳大文") -> dict[str, str]:
    return {
        "service_id": service,
        "slot_start": start.isoformat(),
        "name": name,
        "document_number": document,
        "language": "zh-Hant",
    }


async def book(server: RunningServer, service: str, start: datetime, document: str) -> str:
    status, made = await call(
        server, "POST", "/api/appointments", booking(service, start, document)
    )
    assert status == 201, made
    return str(made["number"])


async def kiosk(server: RunningServer, name: str) -> tuple[int, str]:
    terminal, token = await store.register_terminal(server.db, name, "test hall")
    return terminal.id, token


def limit(server: RunningServer, per_minute: float, burst: int) -> None:
    """The server's limit on public changes, set for this test (the app is started)."""
    fresh = RateLimit(per_minute, burst)
    server.app[WRITE_LIMIT].__dict__.update(fresh.__dict__)


def typo(number: str) -> str:
    """The number with one digit mistyped (the check character catches it)."""
    digit = number[5]
    return number[:5] + ("1" if digit != "1" else "2") + number[6:]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_capacity_and_the_per_person_limit_hold_when_people_race(
    server: RunningServer,
) -> None:
    server.app[CLOCK].set(at(8))
    # two people at once for the only place of a slot: exactly one gets it
    answers = await asyncio.gather(
        *(
            call(server, "POST", "/api/appointments", booking(MORTGAGE, at(9), doc))
            for doc in ("A1234563", "B7654321")
        )
    )
    assert sorted(status for status, _ in answers) == [201, 409]
    refused = next(body for status, body in answers if status == 409)
    assert refused == {
        "type": "error",
        "code": "slot_full",
        "message": "Every place of this time slot has just been taken; choose another",
        "event": None,
    } or (refused["code"], refused["message"]) == (
        "slot_full",
        "Every place of this time slot has just been taken; choose another",
    )
    status, slots = await call(server, "GET", f"/api/appointments/slots?service={MORTGAGE}")
    monday = next(d for d in slots["days"] if d["date"] == "2026-12-07")
    first = monday["slots"][0]
    assert (first["label"], first["state"], first["free"]) == ("09:00", "full", 0)
    assert slots["zone_label"] == "HKT (UTC+8)"

    # one person twice at once (one open booking each in this department): one booking
    answers = await asyncio.gather(
        *(
            call(server, "POST", "/api/appointments", booking(TRANSFER, at(h), "C2223334"))
            for h in (10, 11)
        )
    )
    assert sorted(status for status, _ in answers) == [201, 409]
    refused = next(body for status, body in answers if status == 409)
    assert refused["code"] == "booking_limit"
    assert refused["message"].startswith("You already hold 1 open booking(s)")
    async with server.db.reads() as s:
        held = (await s.scalars(select(Appointment.person_key))).all()
    assert len(held) == 2 and not any("C2223334" in k for k in held)  # a keyed hash, not the id

    # cancelling gives the place back, to the holder only
    number = next(body["number"] for status, body in answers if status == 201)
    status, wrong = await call(
        server, "POST", "/api/appointments/cancel", {"number": number, "document_number": "Z999999"}
    )
    assert status == 404 and "no booking" in wrong["message"]
    status, done = await call(
        server,
        "POST",
        "/api/appointments/cancel",
        {"number": number, "document_number": "c222-3334"},
    )
    assert status == 200 and done["state"] == "cancelled"
    assert await book(server, TRANSFER, at(10), "C2223334")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_bad_input_is_refused_in_sentences_and_numbers_cannot_be_probed(
    server: RunningServer,
) -> None:
    server.app[CLOCK].set(at(8))
    limit(server, per_minute=6000, burst=100)  # this test sends many on purpose
    number = await book(server, TAX, at(9), "A1234563")
    assert normalise(number.lower()) == number
    status, refused = await call(
        server, "POST", "/api/appointments", booking(TAX, at(9), "a-123456-3")
    )
    assert (status, refused["message"]) == (
        409,
        "You have a booking at this time already; one place each",
    )

    status, refused = await call(
        server,
        "POST",
        "/api/appointments/lookup",
        {"number": typo(number), "document_number": "A1234563"},
    )
    assert status == 400 and refused["code"] == "bad_number_check"
    assert "its last character does not match the others" in refused["message"]
    status, refused = await call(
        server,
        "POST",
        "/api/appointments/lookup",
        {"number": "12345", "document_number": "A1234563"},
    )
    assert status == 400 and refused["code"] == "bad_number_format"
    # a wrong document and an unknown number read the same
    status, wrong_doc = await call(
        server,
        "POST",
        "/api/appointments/lookup",
        {"number": number, "document_number": "B7654321"},
    )
    other = "AP0000000000" + check_character("0000000000")
    status2, unknown = await call(
        server,
        "POST",
        "/api/appointments/lookup",
        {"number": normalise(other), "document_number": "B7654321"},
    )
    assert (status, status2) == (404, 404)
    assert wrong_doc["message"].replace(number, "N") == unknown["message"].replace(
        normalise(other), "N"
    )

    bad = [
        ({"name": ""}, "Enter your name as on your ID document: none was entered."),
        ({"document_number": "12"}, "An ID document number has 5 to 20 letters and digits"),
        ({"phone": "123", "region": "HK"}, "The number is too short for a phone number of Hong Kong."),
        ({"slot_start": at(9, 7).isoformat()}, "There is no such time slot for this service"),
        ({"slot_start": at(7).isoformat()}, "There is no such time slot for this service"),
        ({"slot_start": (MONDAY - timedelta(days=1)).replace(hour=9).isoformat()}, "There is no such"),
        ({"slot_start": (MONDAY + timedelta(days=21)).replace(hour=9).isoformat()}, "Bookings open 14 days ahead"),
        ({"service_id": "pension-claim"}, "This service takes no bookings"),
    ]  # fmt: skip
    for change, sentence in bad:
        status, refused = await call(
            server, "POST", "/api/appointments", {**booking(TAX, at(9, 15), "D5556667"), **change}
        )
        assert status == 400, (change, refused)
        assert refused["message"].startswith(sentence), (change, refused)
    status, slots = await call(server, "GET", f"/api/appointments/slots?service={TAX}")
    day = {d["date"]: d for d in slots["days"]}
    assert day["2026-12-07"]["slots"][0]["free"] == 3
    assert day["2026-12-12"]["closed"]  # a Saturday
    assert "2026-12-22" not in day  # beyond the 14 days ahead
    # Christmas is a holiday in Hong Kong: closed, no slots
    server.app[CLOCK].set(at(8) + timedelta(days=14))
    status, slots = await call(server, "GET", f"/api/appointments/slots?service={TAX}")
    day = {d["date"]: d for d in slots["days"]}
    assert day["2026-12-25"]["holiday"] and day["2026-12-25"]["slots"] == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_an_early_arrival_waits_then_goes_ahead_of_walk_ins_who_waited_longer(
    server: RunningServer,
) -> None:
    clock, desk, router = server.app[CLOCK], server.app[DESK], server.router
    clock.set(at(8))
    number = await book(server, TAX, at(9, 30), "A1234563")
    booked_kiosk, token = await kiosk(server, "kiosk-booked")

    clock.set(at(8, 50))  # before check-in opens (30 minutes ahead)
    status, refused = await call(
        server, "POST", "/api/appointments/check-in", {"number": number}, token
    )
    assert status == 409 and refused["code"] == "too_early"
    assert refused["message"].endswith("check-in opens at 09:00, come back then")

    clock.set(at(9, 10))
    status, checked = await call(
        server, "POST", "/api/appointments/check-in", {"number": number}, token
    )
    assert status == 200 and (checked["outcome"], checked["local_time"]) == ("wait", "09:30")
    # shown again at the same kiosk (it restarted): taken up as it was; elsewhere: refused
    status, again = await call(
        server, "POST", "/api/appointments/check-in", {"number": number}, token
    )
    assert status == 200 and again["outcome"] == "wait"
    _, other_token = await kiosk(server, "kiosk-other")
    status, again = await call(
        server, "POST", "/api/appointments/check-in", {"number": number}, other_token
    )
    assert status == 409 and again["message"] == (
        f"Booking {number} is checked in already; it cannot be checked in"
    )
    async with server.db.reads() as s:
        checked_ins = await s.scalar(
            select(func.count()).where(StaffEvent.kind == "appointment.checked_in")
        )
    assert checked_ins == 1
    with pytest.raises(IllegalTransition, match="slot begins at 09:30; the kiosk calls you then"):
        await router.request_service(booked_kiosk, "k", "sid", TAX, "en", appointment=number)

    # two walk-ins queue while the booked applicant waits for the slot
    walk_ins = []
    for name in ("walk-in-1", "walk-in-2"):
        terminal_id, _ = await kiosk(server, name)
        walk_ins.append((await router.request_service(terminal_id, name, "s", TAX, "en")).id)
    clock.set(
        at(
            9,
            30,
        )
    )
    await desk.sweep()
    booked = await router.request_service(booked_kiosk, "k", "sid", TAX, "en", appointment=number)
    order = [e.id for e in await routing.queue_entries(server.db) if e.service_id == TAX]
    assert order == [booked.id, *walk_ins]
    assert booked.priority == routing.PRIORITY_APPOINTMENT
    kinds = [e.kind for e in await AuditLog(server.db).events(booked.id)]
    assert kinds == ["session.created", "appointment.checked_in", "appointment.priority_given"]
    assert (await appointments.get(server.db, number)).session_id == booked.id  # type: ignore[union-attr]
    with pytest.raises(IllegalTransition, match="in the queue already"):
        await router.request_service(booked_kiosk, "k", "sid2", TAX, "en", appointment=number)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_late_arrival_loses_the_priority_and_a_no_show_is_recorded(
    server: RunningServer,
) -> None:
    clock, desk, router = server.app[CLOCK], server.app[DESK], server.router
    clock.set(at(8))
    late = await book(server, TAX, at(9), "A1234563")
    missed = await book(server, TAX, at(9), "B7654321")
    kept = await book(server, TAX, at(11), "C2223334")
    walk_in, _ = await kiosk(server, "walk-in")
    first = await router.request_service(walk_in, "w", "s", TAX, "en")

    clock.set(
        at(
            9,
            10,
        )
    )  # the grace time (10 minutes) is just over
    await desk.sweep()
    assert (await appointments.get(server.db, late)).state == "no_show"  # type: ignore[union-attr]
    assert (await appointments.get(server.db, kept)).state == "booked"  # type: ignore[union-attr]
    clock.set(at(9, 25))
    await desk.sweep()  # each is recorded once
    async with server.db.reads() as s:
        kinds = (await s.scalars(select(StaffEvent.kind).order_by(StaffEvent.seq))).all()
    assert kinds.count("appointment.no_show") == 2 and kinds.count("appointment.booked") == 3

    terminal_id, token = await kiosk(server, "kiosk-late")
    status, checked = await call(
        server, "POST", "/api/appointments/check-in", {"number": late}, token
    )
    assert status == 200 and checked["outcome"] == "late"
    session = await router.request_service(terminal_id, "k", "s", TAX, "en", appointment=late)
    assert session.priority == 0
    order = [e.id for e in await routing.queue_entries(server.db) if e.service_id == TAX]
    assert order == [first.id, session.id]
    kinds = [e.kind for e in await AuditLog(server.db).events(session.id)]
    assert kinds == ["session.created", "appointment.checked_in", "appointment.priority_lost"]
    assert (await appointments.get(server.db, missed)).state == "no_show"  # type: ignore[union-attr]


async def test_clerks_see_their_departments_bookings_of_the_day_with_names_masked(
    server: RunningServer,
) -> None:
    server.app[CLOCK].set(at(8))
    await book(server, TAX, at(9), "A1234563")
    await call(
        server, "POST", "/api/appointments", booking(TRANSFER, at(10), "B7654321", "Chan Tai Man")
    )
    await server.add_clerk("tina", ["taxation"])
    from tests.conftest import CLERK_PASSWORD
    from tests.peers import login

    token = await login(server.url, "tina", CLERK_PASSWORD)
    status, day = await call(server, "GET", "/api/appointments/day?date=2026-12-07", token=token)
    assert status == 200
    assert [(b["local_time"], b["service_id"], b["state"], b["name"]) for b in day["bookings"]] == [
        ("09:00", TAX, "booked", "陳＊＊")
    ]
    status, _ = await call(server, "GET", "/api/appointments/day?date=2026-12-07")
    assert status == 401
    status, refused = await call(server, "GET", "/api/appointments/day?date=7.12.", token=token)
    assert (status, refused["code"]) == (400, "invalid_date")

    # the same list from the command line (every department that takes bookings)
    result = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["--data-dir", str(server.settings.data_dir), "appointments", "day", "--date",
         "2026-12-07"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    lines = lines[lines.index("Bookings on 2026-12-07 (HKT (UTC+8)): 2") :]
    assert lines[0] == "Bookings on 2026-12-07 (HKT (UTC+8)): 2"
    assert lines[1].split()[::2] == ["09:00", TAX, "陳＊＊"] and lines[1].split()[3] == "booked"
    assert "Chan Tai Man" not in result.output and "C*** T** M**" in lines[2]
    refused_cli = CliRunner().invoke(
        main, ["--data-dir", str(server.settings.data_dir), "appointments", "day",
               "--department", "notary-public"],
    )  # fmt: skip
    assert refused_cli.exit_code == 2 and "notary-public take(s) no bookings" in refused_cli.output


async def test_public_requests_are_limited_per_address(server: RunningServer) -> None:
    server.app[CLOCK].set(at(8))
    limit(server, per_minute=6, burst=3)
    ref = {"number": "AP0000000000" + check_character("0000000000"), "document_number": "A1234563"}
    statuses = [(await call(server, "POST", "/api/appointments/lookup", ref))[0] for _ in range(3)]
    assert statuses == [404, 404, 404]
    status, refused = await call(server, "POST", "/api/appointments/lookup", ref)
    assert status == 429 and refused["code"] == "rate_limited"
    assert refused["message"].startswith("Too many requests from here; try again in")


def test_a_bad_booking_rule_stops_start_up_naming_it(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[2] / "signaling" / "data"
    (tmp_path / "catalogue.json").write_text((shipped / "catalogue.json").read_text())
    rules = json.loads((shipped / "booking_rules.json").read_text())
    rules["departments"]["notary"]["hours"]["mon"] = [{"open": "17:00", "close": "09:00"}]
    rules["departments"]["taxation"]["services"].append({"id": "pension-claim"})
    (tmp_path / "booking_rules.json").write_text(json.dumps(rules))
    with pytest.raises(ConfigError) as caught:
        load_catalogue(tmp_path / "catalogue.json")
    assert "department 'notary' booking: on mon 17:00-09:00 closes before it opens" in str(
        caught.value
    )
    assert "department 'taxation' booking: service 'pension-claim' is not a service of the" in str(
        caught.value
    )
    assert load_catalogue().bookings["notary"].timezone == "Asia/Macau"
    assert datetime.now(UTC)  # the shipped rules load
