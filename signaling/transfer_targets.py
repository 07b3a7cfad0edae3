"""Whom a clerk may hand a call on to: ``GET /api/transfer-targets`` (a signed-in clerk).

The console's transfer form lists the departments and the other clerks signed in now, with
the departments each serves; the store decides again when the transfer is made
(``storage.routing.transfer``), so a list a moment old can only lead to a clear refusal.
"""

from __future__ import annotations

from aiohttp import web

from signaling.http_auth import clerk_of
from signaling.keys import CATALOGUE, DATABASE
from storage import presence


async def targets(request: web.Request) -> web.Response:
    """The departments and the other signed-in clerks (with their state and departments)."""
    claims = await clerk_of(request)
    catalogue = request.app[CATALOGUE]
    clerks = [
        {
            "username": account.username,
            "display_name": account.display_name,
            "departments": sorted(snap.departments),
            "state": snap.state,
        }
        for snap, account in await presence.clerks(request.app[DATABASE])
        if snap.connected
        and snap.state != "offline"
        and account.id != claims.clerk_id
        and not account.disabled
    ]
    return web.json_response(
        {
            "departments": [
                {"id": d.id, "names": d.names.model_dump(by_alias=True)}
                for d in catalogue.departments
            ],
            "clerks": sorted(clerks, key=lambda c: str(c["display_name"])),
        },
        headers={"Cache-Control": "no-store"},
    )


def setup_transfer_targets(app: web.Application) -> None:
    """Mount the transfer-targets route."""
    app.router.add_get("/api/transfer-targets", targets)
