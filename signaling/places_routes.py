"""The service map's HTTP side: the public page and its list, and the supervisors' view.

- ``GET /map``: the public page (no sign-in; phone and desktop; three languages). Its
  script and style come from ``/map-static/``; the cities it draws from ``/api/map/cities``
  (the GeoJSON shipped in ``signaling/data``: no map tiles from anywhere).
- ``GET /api/places``: every place with its live status (:class:`~signaling.places.PublicPlaces`);
  rate-limited per address, answered from :class:`~signaling.places.PlaceBoard`'s cache, with
  an ETag (an unchanged list is a 304 of no body).
- ``GET /api/places/staff`` (a supervisor's or an admin's token): the same with each kiosk's
  terminal and when it was last seen, for the supervisor console.
"""

from __future__ import annotations

import math

from aiohttp import web

from signaling.client_address import client_address
from signaling.guard import too_many
from signaling.http_auth import clerk_of
from signaling.keys import CATALOGUE, DATABASE, SETTINGS
from signaling.kiosk_liveness import quiet_watch
from signaling.places import CITIES_FILE, PlaceBoard, staff_places
from signaling.public_pages import add_public_page
from signaling.throttle import RateLimit

STAFF_ROLES = ("supervisor", "admin")

PLACE_BOARD = web.AppKey("place_board", PlaceBoard)
PLACES_LIMIT = web.AppKey("places_limit", RateLimit)


async def map_cities(request: web.Request) -> web.FileResponse:
    """The cities' outlines: a static file, cached by browsers for an hour."""
    return web.FileResponse(
        CITIES_FILE,
        headers={"Content-Type": "application/geo+json", "Cache-Control": "public, max-age=3600"},
    )


async def public_places(request: web.Request) -> web.Response:
    """Every place and its status, for anyone (no secrets in it: see PublicPlace)."""
    wait = request.app[PLACES_LIMIT].take(client_address(request, request.app[SETTINGS]))
    if wait > 0:
        raise await too_many(
            request, wait,
            f"too many requests for the map from this address; wait {math.ceil(wait)} s",
        )  # fmt: skip
    body, etag = await request.app[PLACE_BOARD].current()
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/json", headers=headers)


async def staff_view(request: web.Request) -> web.Response:
    """Every place with its terminal, status and last sign of life, for supervisors."""
    await clerk_of(request, *STAFF_ROLES)
    places = await staff_places(request.app[DATABASE], request.app[CATALOGUE])
    return web.json_response(
        [p.model_dump(mode="json", by_alias=True) for p in places],
        headers={"Cache-Control": "no-store"},
    )


def setup_places(app: web.Application) -> None:
    """Mount the map page, its assets, the public list and the staff view."""
    settings = app[SETTINGS]
    app[PLACE_BOARD] = PlaceBoard(lambda: app[DATABASE], catalogue=app[CATALOGUE])
    app[PLACES_LIMIT] = RateLimit(settings.places_per_minute, settings.places_burst)
    # after the router's context (create_app adds it before the routes): it reads its kiosks
    app.cleanup_ctx.append(quiet_watch)
    add_public_page(app, "/map", "map.html", r"/map-static/{name:map(-text)?\.(js|css)}")
    app.router.add_get("/api/map/cities", map_cities)
    app.router.add_get("/api/places", public_places)
    app.router.add_get("/api/places/staff", staff_view)
