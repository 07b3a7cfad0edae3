"""The kiosk's catalogue over HTTP.

- ``GET /api/kiosk/catalogue`` (the kiosk's device token): the catalogue narrowed to the
  directions of the kiosk's place (:mod:`signaling.directions`), in the shape of
  ``GET /api/catalogue`` plus the place's ``time_zone``; ``GET /api/catalogue`` stays whole:
  the map and the consoles name every service.
"""

from __future__ import annotations

from aiohttp import web

from signaling.directions import KioskCatalogue, kiosk_scope
from signaling.http_auth import terminal_of
from signaling.keys import CATALOGUE, DATABASE


async def kiosk_catalogue(request: web.Request) -> web.Response:
    """The catalogue as the asking kiosk may offer it: only its place's directions."""
    terminal = await terminal_of(request)
    scope = await kiosk_scope(request.app[DATABASE], terminal.id)
    narrowed = request.app[CATALOGUE].serving(scope.directions)
    answer = KioskCatalogue.model_validate(
        {**narrowed.model_dump(by_alias=True), "time_zone": scope.zone}
    )
    return web.json_response(
        answer.model_dump(mode="json", by_alias=True), headers={"Cache-Control": "no-store"}
    )


def setup_directions(app: web.Application) -> None:
    """Mount the kiosk's own catalogue."""
    app.router.add_get("/api/kiosk/catalogue", kiosk_catalogue)
