"""What a kiosk serves: the directions of its place on the map, the catalogue it is shown,
and the check that it asks for nothing else; and the clock its applicants read.

A kiosk at a place serves that place's directions (a place that names none, and a kiosk at no
place, serve :data:`~signaling.jurisdictions.UNPLACED_DIRECTIONS`: the mainland's services, as
every kiosk did before they ran both ways).

The kiosk's own catalogue is served by :mod:`signaling.directions_routes`; the router checks
each request with :func:`served_service`.
"""

from __future__ import annotations

from dataclasses import dataclass

from signaling.catalogue import Catalogue, Service
from signaling.errors import ServiceNotHere
from signaling.jurisdictions import (
    DIRECTIONS,
    UNPLACED_DIRECTIONS,
    Direction,
    Jurisdiction,
    city_jurisdiction,
    city_zone,
)
from storage import places as stored
from storage.db import Database


class KioskCatalogue(Catalogue):
    """What ``GET /api/kiosk/catalogue`` answers: the catalogue narrowed to the kiosk's
    directions, and the clock of its place (the kiosk shows its applicants that time)."""

    # the IANA time zone of the kiosk's place; None: at no place (the kiosk's own clock)
    time_zone: str | None = None


@dataclass(frozen=True)
class KioskScope:
    """Where a kiosk stands and what it serves there."""

    # the place's slug; None: the kiosk stands at no place on the map
    place: str | None
    directions: tuple[Direction, ...]
    # the IANA time zone of the place's city (None: not known, the kiosk is at no place)
    zone: str | None
    # the jurisdiction the place's city lies in (None: the kiosk is at no place)
    jurisdiction: Jurisdiction | None = None


def _directions(named: list[str]) -> tuple[Direction, ...]:
    """A stored place's directions (checked when saved), or the default when it names none."""
    return tuple(d for d in DIRECTIONS if d in named) or UNPLACED_DIRECTIONS


async def kiosk_scope(db: Database, terminal_id: int) -> KioskScope:
    """The place, directions and clock of the kiosk ``terminal_id`` (one read)."""
    place = await stored.place_of_terminal(db, terminal_id)
    if place is None:
        return KioskScope(None, UNPLACED_DIRECTIONS, None)
    return KioskScope(
        place.slug,
        _directions(place.directions),
        city_zone(place.city),
        city_jurisdiction(place.city),
    )


def served_service(catalogue: Catalogue, scope: KioskScope, service_id: str) -> Service:
    """The service ``service_id`` if the kiosk of ``scope`` serves it; else
    :class:`ServiceNotHere` (or :class:`UnknownService`) saying what the kiosk serves."""
    service = catalogue.service(service_id)
    if set(catalogue.directions_of(service)).isdisjoint(scope.directions):
        where = f"place {scope.place!r}" if scope.place else "a kiosk at no place on the map"
        raise ServiceNotHere(
            f"service {service_id!r} runs {' or '.join(catalogue.directions_of(service))}, which"
            f" {where} does not serve (it serves {', '.join(scope.directions)}); choose one of"
            " the services this kiosk shows"
        )
    return service
