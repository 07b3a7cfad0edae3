"""The service map's registry: places that serve (kiosks and staffed windows), checked
against the catalogue and the map, and each kiosk's live status.

A place is checked here before the store keeps it (:func:`check_place`): its city must be
one the map draws (``signaling/data/gba-cities.geojson``), its services the catalogue's, its
coordinates WGS84 degrees inside the Bay Area, its hours ``Mo-Fr 09:00-18:00; Sa 09:00-12:00``.

A kiosk's live status comes from what it already reports: its socket (presence), its
session (in a call), its printer's newest ``print.reported``. :class:`PlaceBoard` computes
the public list at most every :data:`FRESH_S` per process, whoever asks, so a crowd of
phones costs the database nothing more than one.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import math
import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from signaling.catalogue import Catalogue
from signaling.errors import InvalidPlace

# DIRECTIONS and Direction were defined here before the catalogue needed them: kept importable
from signaling.jurisdictions import DIRECTIONS as DIRECTIONS
from signaling.jurisdictions import UNPLACED_DIRECTIONS
from signaling.jurisdictions import Direction as Direction
from signaling.messages import LANGUAGES, LocalizedText, Message
from storage import places as stored
from storage.db import Database
from storage.models import Place, utcnow
from storage.staff_audit import StaffLog

CITIES_FILE = Path(__file__).resolve().parent / "data" / "gba-cities.geojson"
SEED_FILE = Path(__file__).resolve().parent / "data" / "places.json"
# how old the public list may be: a kiosk's going offline shows within this plus the page's
# poll and the socket's ping timeout (the issue asks for 10 s in all)
FRESH_S = 0.5

Kind = Literal["kiosk", "window"]
Status = Literal["online", "in_call", "offline"]
Printer = Literal["ok", "out_of_paper", "fault"]
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")

DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_TIME = r"(?:(?:[01]\d|2[0-3]):[0-5]\d-(?:(?:[01]\d|2[0-3]):[0-5]\d|24:00))"
_DAYS = r"(?:Mo|Tu|We|Th|Fr|Sa|Su)(?:-(?:Mo|Tu|We|Th|Fr|Sa|Su))?"
_RULE = re.compile(rf"^({_DAYS}(?:,{_DAYS})*) ({_TIME}(?:,{_TIME})*)$")
HOURS_EXAMPLE = "Mo-Fr 09:00-18:00; Sa 09:00-12:00"


class PlaceText(LocalizedText):
    """A name or an address in the three languages, none empty."""

    zh_hant: str = Field(alias="zh-Hant", min_length=1, max_length=200)
    zh_hans: str = Field(alias="zh-Hans", min_length=1, max_length=200)
    en: str = Field(min_length=1, max_length=200)


class PlaceSpec(Message):
    """A place as the CLI, the seed file and the store exchange it (checked shapes; the
    catalogue and the map are checked by :func:`check_place`)."""

    slug: str
    kind: Kind
    names: PlaceText
    addresses: PlaceText
    city: str = Field(max_length=32)
    # the range is the map's (check_place), which also notices swapped coordinates
    latitude: float = Field(allow_inf_nan=False)
    longitude: float = Field(allow_inf_nan=False)
    hours: str = Field(max_length=200)
    directions: list[Direction] = Field(default_factory=list, max_length=len(DIRECTIONS))
    services: list[str] = Field(min_length=1, max_length=200)
    phone: str = Field(default="", pattern=r"^(\+?[0-9][0-9 -]{5,30})?$")
    terminal: str | None = Field(default=None, max_length=128)

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError(
                f"{value!r} is not a place slug: use 3-64 lowercase letters, digits and dashes,"
                " e.g. hk-wan-chai"
            )
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        parse_hours(value)
        return value


class PublicPlace(Message):
    """One place as the public map shows it: no terminal, no internal id, nothing secret."""

    id: str
    kind: Kind
    names: PlaceText
    addresses: PlaceText
    city: str
    latitude: float
    longitude: float
    hours: str
    directions: list[Direction]
    services: list[str]
    phone: str
    # kiosks only: None for a staffed window
    status: Status | None
    printer: Printer | None


class StaffPlace(PublicPlace):
    """A place as the supervisor console shows it: also which terminal and when last seen."""

    terminal: str | None
    last_seen_at: datetime | None
    printer_reported_at: datetime | None


class PublicPlaces(Message):
    """The public list: every place with its status at ``generated_at``."""

    generated_at: datetime
    places: list[PublicPlace]


def parse_hours(text: str) -> list[tuple[list[int], list[tuple[int, int]]]]:
    """``Mo-Fr 09:00-18:00; Sa 09:00-12:00`` as (weekdays 0-6, [(open, close) minutes]);
    raises :class:`ValueError` saying what is wrong and showing the form."""
    rules = []
    for part in [p.strip() for p in text.split(";")]:
        found = _RULE.match(part)
        if found is None:
            raise ValueError(
                f"opening hours {part!r} are not in the form {HOURS_EXAMPLE!r} (days Mo..Su,"
                " times HH:MM-HH:MM, rules separated by ';')"
            )
        days: list[int] = []
        for span in found.group(1).split(","):
            first, _, last = span.partition("-")
            a, b = DAYS.index(first), DAYS.index(last or first)
            if b < a:
                raise ValueError(f"opening hours {part!r}: the days {span} run backwards")
            days += range(a, b + 1)
        times = []
        for span in found.group(2).split(","):
            start, end = (int(t[:2]) * 60 + int(t[3:]) for t in span.split("-"))
            if end <= start:
                raise ValueError(f"opening hours {part!r}: {span} closes before it opens")
            times.append((start, end))
        rules.append((days, times))
    return rules


@functools.cache
def load_cities(path: Path = CITIES_FILE) -> dict[str, LocalizedText]:
    """The map's cities by id, with their names (the GeoJSON's feature properties)."""
    collection = json.loads(path.read_text(encoding="utf-8"))
    return {
        f["properties"]["id"]: LocalizedText.model_validate(
            {k: f["properties"][k] for k in LANGUAGES}
        )
        for f in collection["features"]
    }


@functools.cache
def map_extent(path: Path = CITIES_FILE) -> tuple[float, float, float, float]:
    """(west, south, east, north) of the map, degrees."""
    west, south, east, north = json.loads(path.read_text(encoding="utf-8"))["bbox"]
    return float(west), float(south), float(east), float(north)


def sentence(exc: ValidationError) -> str:
    """A pydantic refusal of a place as one sentence naming the field."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "place"
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"place field {where!r}: {message}"


def spec_of(data: object) -> PlaceSpec:
    """A place from untrusted data; raises :class:`InvalidPlace` with a sentence."""
    try:
        return PlaceSpec.model_validate(data)
    except ValidationError as exc:
        raise InvalidPlace(sentence(exc)) from exc


def check_place(spec: PlaceSpec, catalogue: Catalogue, path: Path = CITIES_FILE) -> None:
    """Refuse (:class:`InvalidPlace`) a place the map cannot show or the catalogue does not know."""
    cities = load_cities(path)
    if spec.city not in cities:
        raise InvalidPlace(f"unknown city {spec.city!r}; the map has {', '.join(sorted(cities))}")
    known = {s.id for s in catalogue.services}
    unknown = [s for s in spec.services if s not in known]
    if unknown:
        raise InvalidPlace(
            f"unknown service {unknown[0]!r}; the catalogue's services are listed at /api/catalogue"
        )
    if len(set(spec.services)) != len(spec.services):
        raise InvalidPlace("a service is named twice; name each once")
    if spec.directions:
        served = catalogue.serving(spec.directions)
        served_ids = {s.id for s in served.services}
        if stray := [s for s in spec.services if s not in served_ids]:
            runs = " or ".join(catalogue.directions_of(catalogue.service(stray[0])))
            raise InvalidPlace(
                f"service {stray[0]!r} runs {runs}, which this place does not serve (it serves"
                f" {', '.join(spec.directions)}); add that direction or leave the service out"
            )
    west, south, east, north = map_extent(path)
    inside = west <= spec.longitude <= east and south <= spec.latitude <= north
    if not inside:
        swapped = west <= spec.latitude <= east and south <= spec.longitude <= north
        hint = (
            " (latitude and longitude look swapped: latitude is the smaller, about 22-24)"
            if swapped
            else ""
        )
        raise InvalidPlace(
            f"coordinates {spec.latitude}, {spec.longitude} are outside the Bay Area map"
            f" (latitude {south}..{north}, longitude {west}..{east}){hint}"
        )
    if spec.kind == "kiosk" and spec.phone:
        raise InvalidPlace("a kiosk has no phone number; give a phone to staffed windows only")
    if spec.kind == "window" and spec.terminal:
        raise InvalidPlace("a staffed window has no terminal; give a terminal to kiosks only")


def fields_of(spec: PlaceSpec) -> dict[str, Any]:
    """The stored columns of a checked place."""
    data = spec.model_dump(mode="json", by_alias=True, exclude={"slug", "terminal"})
    return data


async def seed_places(
    db: Database, catalogue: Catalogue, actor: str = "cli", path: Path = SEED_FILE
) -> int:
    """Fill an empty registry from ``path`` (the demo's Bay Area places); returns how many
    were added (none when the registry already has places: an operator's are never mixed)."""
    if await stored.count_places(db):
        return 0
    text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    specs = [spec_of(item) for item in json.loads(text)["places"]]
    for spec in specs:
        check_place(spec, catalogue)
    for spec in specs:
        await add_checked(db, spec, actor)
    return len(specs)


async def add_checked(db: Database, spec: PlaceSpec, actor: str) -> None:
    """Keep a place :func:`check_place` passed, and record it in the staff chain."""
    await stored.add_place(db, spec.slug, fields_of(spec), spec.terminal)
    await StaffLog(db).append(actor, "place.added", {"place": spec.slug, **fields_of(spec)})


def kiosk_status(facts: stored.KioskFacts | None) -> tuple[Status, Printer | None]:
    """A kiosk's live status from its facts: offline unless its socket is connected."""
    if facts is None or facts.revoked or not facts.connected:
        status: Status = "offline"
    else:
        status = "in_call" if facts.in_call else "online"
    if facts is None or facts.printer_status is None:
        return status, None
    if facts.printer_status == "printed":
        return status, "ok"
    return status, "out_of_paper" if facts.printer_error == "printer_out_of_paper" else "fault"


def _offered(place: Place, catalogue: Catalogue | None) -> list[str]:
    """The place's services the catalogue has and the place's directions serve: a service
    dropped from the catalogue, or of another direction, is not offered there."""
    if catalogue is None:
        return list(place.services)
    served = {s.id for s in catalogue.serving(_place_directions(place)).services}
    return [s for s in place.services if s in served]


def _place_directions(place: Place) -> tuple[Direction, ...]:
    # a place that names no direction serves what a kiosk at no place does
    return tuple(d for d in DIRECTIONS if d in place.directions) or UNPLACED_DIRECTIONS


def _staff_place(
    place: Place, facts: dict[int, stored.KioskFacts], catalogue: Catalogue | None = None
) -> StaffPlace:
    mine = facts.get(place.terminal_id) if place.terminal_id is not None else None
    status, printer = kiosk_status(mine) if place.kind == "kiosk" else (None, None)
    return StaffPlace.model_validate(
        {
            "id": place.slug, "kind": place.kind, "names": place.names,
            "addresses": place.addresses, "city": place.city, "latitude": place.latitude,
            "longitude": place.longitude, "hours": place.hours, "directions": place.directions,
            "services": _offered(place, catalogue), "phone": place.phone, "status": status,
            "printer": printer, "terminal": mine.terminal_name if mine else None,
            "last_seen_at": mine.last_seen_at if mine else None,
            "printer_reported_at": mine.printer_reported_at if mine else None,
        }
    )  # fmt: skip


async def staff_places(db: Database, catalogue: Catalogue | None = None) -> list[StaffPlace]:
    """Every place with its live status and its terminal (for supervisors and the CLI); with
    ``catalogue``, each place's services are only those it serves (see :func:`_offered`)."""
    facts = await stored.kiosk_facts(db)
    return [_staff_place(p, facts, catalogue) for p in await stored.list_places(db)]


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The haversine distance in kilometres (the page sorts "nearest" the same way)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0088 * 2 * math.asin(math.sqrt(a))


class PlaceBoard:
    """The public list, computed at most every :data:`FRESH_S` by one caller while the
    others wait for it; the body and its ETag are kept ready to send."""

    def __init__(
        self,
        db: Callable[[], Database],
        fresh_s: float = FRESH_S,
        catalogue: Catalogue | None = None,
    ) -> None:
        self._db = db
        self._catalogue = catalogue
        self.fresh_s = fresh_s
        self._lock = asyncio.Lock()
        self._body = b""
        self._etag = ""
        self._at = -math.inf

    async def current(self) -> tuple[bytes, str]:
        """The JSON body and its ETag, no older than :attr:`fresh_s`."""
        if time.monotonic() - self._at < self.fresh_s:
            return self._body, self._etag
        async with self._lock:
            if time.monotonic() - self._at >= self.fresh_s:
                await self._compute()
        return self._body, self._etag

    async def _compute(self) -> None:
        staff = await staff_places(self._db(), self._catalogue)
        keep = set(PublicPlace.model_fields)
        public = [PublicPlace.model_validate(p.model_dump(include=keep)) for p in staff]
        places = [p.model_dump(mode="json", by_alias=True) for p in public]
        # the ETag covers the places, not the time: an unchanged list is a 304
        digest = hashlib.sha256(json.dumps(places, sort_keys=True).encode()).hexdigest()[:32]
        view = PublicPlaces(generated_at=utcnow(), places=public)
        self._body = view.model_dump_json(by_alias=True).encode()
        self._etag = f'"{digest}"'
        self._at = time.monotonic()
