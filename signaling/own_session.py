"""The session a REST route names, for the one party it belongs to.

Routes of a call's kiosk (identity reports, device reports) and of the clerk who took the
call (identity panel, kiosk devices) check the same thing: the stored row, not a socket, says
whose session it is, whichever process holds the call's sockets. A 404 when the session does
not exist, a 403 ``not_your_session`` saying what to do when it is someone else's.
"""

from __future__ import annotations

from aiohttp import web

from signaling.auth import ClerkClaims
from signaling.http_auth import clerk_of, http_error, terminal_of
from signaling.keys import DATABASE
from storage import store
from storage.errors import NotFound
from storage.models import CallSession, Terminal


async def session_of(request: web.Request) -> CallSession:
    """The stored session named by the route's ``session_id``; 404 if there is none."""
    try:
        return await store.get_session(request.app[DATABASE], request.match_info["session_id"])
    except NotFound as exc:
        raise http_error(web.HTTPNotFound, "not_found", exc.message) from exc


async def kiosk_session(request: web.Request, only: str) -> tuple[CallSession, Terminal]:
    """The session and the kiosk calling, which must be the session's own; ``only`` ends the
    refusal (e.g. "report only your own applicant")."""
    terminal = await terminal_of(request)
    row = await session_of(request)
    if row.terminal_id != terminal.id:
        raise http_error(
            web.HTTPForbidden, "not_your_session", f"session {row.id} is not this kiosk's; {only}"
        )
    return row, terminal


async def clerk_session(
    request: web.Request, what: str, *, consulted: bool = False
) -> tuple[CallSession, ClerkClaims]:
    """The session and the signed-in clerk, who must be the clerk who took its call (or, with
    ``consulted``, for reading, the clerk the call is being discussed with in a warm
    transfer); ``what`` names what is refused (e.g. "identity details")."""
    claims = await clerk_of(request)
    row = await session_of(request)
    asked = consulted and row.consult_clerk_id == claims.clerk_id and row.consult_state == "talking"
    if row.clerk_id != claims.clerk_id and not asked:
        raise http_error(
            web.HTTPForbidden,
            "not_your_session",
            f"{what} are shown only to the clerk who took this call",
        )
    return row, claims
