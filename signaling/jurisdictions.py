"""Which side of the border a department belongs to, which way its services run, and the
clocks of the places applicants stand in.

跨境通辦 runs both ways: mainland departments serve Hong Kong and Macau residents at kiosks in
Hong Kong and Macau ("hk-to-mainland", "mo-to-mainland"), and Hong Kong and Macau departments
serve mainland residents at kiosks in the mainland ("mainland-to-hk", "mainland-to-mo"). A
direction is named *applicant's side*-to-*department's side*.
"""

from __future__ import annotations

from typing import Literal

Jurisdiction = Literal["mainland", "hong-kong", "macau"]
Direction = Literal["hk-to-mainland", "mo-to-mainland", "mainland-to-hk", "mainland-to-mo"]
DIRECTIONS: tuple[Direction, ...] = (
    "hk-to-mainland", "mo-to-mainland", "mainland-to-hk", "mainland-to-mo",
)  # fmt: skip

# the directions a department's services run in, by the department's jurisdiction
DIRECTIONS_OF: dict[Jurisdiction, tuple[Direction, ...]] = {
    "mainland": ("hk-to-mainland", "mo-to-mainland"),
    "hong-kong": ("mainland-to-hk",),
    "macau": ("mainland-to-mo",),
}

# what a kiosk that stands at no place on the map serves: what every kiosk served before the
# services ran both ways (the mainland's, for Hong Kong and Macau residents)
UNPLACED_DIRECTIONS: tuple[Direction, ...] = ("hk-to-mainland", "mo-to-mainland")

# each jurisdiction's clock (IANA); all are UTC+8 today, but the names say whose clock it is
ZONE_OF: dict[Jurisdiction, str] = {
    "mainland": "Asia/Shanghai",
    "hong-kong": "Asia/Hong_Kong",
    "macau": "Asia/Macau",
}

# the map's cities (signaling/data/gba-cities.geojson) outside the mainland
_CITY_JURISDICTION: dict[str, Jurisdiction] = {"hong-kong": "hong-kong", "macau": "macau"}


def city_jurisdiction(city: str) -> Jurisdiction:
    """The jurisdiction a city of the map lies in (every city but two is in the mainland)."""
    return _CITY_JURISDICTION.get(city, "mainland")


def city_zone(city: str) -> str:
    """The IANA time zone of a city of the map: what an applicant standing there reads."""
    return ZONE_OF[city_jurisdiction(city)]
