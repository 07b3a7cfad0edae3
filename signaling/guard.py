"""What every HTTP request passes before its handler: body limits and security headers.

- **Body limits per route.** aiohttp's ``client_max_size`` is one number for the whole app
  and large because uploads need it; a JSON route must not parse 40 MiB for an anonymous
  caller. :data:`BODY_LIMITS` names the routes that take more than :data:`JSON_BODY_LIMIT`;
  the rest are refused with 413 from the ``Content-Length`` alone, before a byte is read.
- **A body needs a length.** A POST or PUT without ``Content-Length`` (chunked, or none at
  all) is refused with 411 rather than read as "empty" or without a bound.
- **Socket handshakes per address** are rate-limited (a junk-sending reconnect loop), and
  refused outright for an address whose sockets keep sending junk
  (:mod:`signaling.socket_server`'s strikes).
- **Refusals of throttled callers are held back** (:class:`~signaling.throttle.Tarpit`), so a
  script that retries at once cannot keep the event loop busy refusing it.
- **Security headers on every response**, errors included: pages that set their own
  Content-Security-Policy keep it, everything else gets one that allows nothing.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from aiohttp import web

from signaling.client_address import client_address
from signaling.http_auth import http_error
from signaling.keys import SETTINGS
from signaling.socket_server import SOCKET_SERVER
from signaling.throttle import RateLimit, Tarpit

JSON_BODY_LIMIT = 64 * 1024

# (method, canonical route) -> the most bytes a body may have. The uploads keep the limits
# their own modules check again while reading (segment, document, evidence sizes).
BODY_LIMITS: dict[tuple[str, str], int] = {
    (
        "PUT",
        r"/api/sessions/{session_id}/recordings/{side}/{index}",
    ): 32 * 1024 * 1024,
    ("PUT", "/api/sessions/{session_id}/documents/{sha256}"): 20 * 1024 * 1024,
    ("POST", "/api/phone/{token}/upload"): 20 * 1024 * 1024,
    # a material to follow, scanned at any kiosk (signaling/paperwork/to_follow_routes.py)
    ("PUT", "/api/to-follow/{session_id}/documents/{sha256}"): 20 * 1024 * 1024,
    ("POST", "/verify"): 10 * 1024 * 1024,
    # the identity report carries a few base64 JPEGs of at most 512 KiB each
    ("POST", "/api/sessions/{session_id}/identity"): 4 * 1024 * 1024,
    # a signature's strokes: thousands of points with time and pressure
    ("POST", "/api/sessions/{session_id}/signature"): 2 * 1024 * 1024,
    ("POST", "/api/sessions/{session_id}/signature/ink"): 1024 * 1024,
}
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

# For responses that set no policy of their own (JSON, images, PDFs, recordings): a document
# served from here may run nothing, load nothing and be framed by no one.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
SECURITY_HEADERS = {
    "Content-Security-Policy": API_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _TooLarge(web.HTTPClientError):
    # aiohttp's own 413 wants the sizes as arguments; ours says them in the message
    status_code = 413


def body_limit(request: web.Request) -> int:
    """The most bytes the body of ``request`` may have on its route."""
    route = request.match_info.route
    canonical = route.resource.canonical if route.resource is not None else request.path
    return BODY_LIMITS.get((request.method, canonical), JSON_BODY_LIMIT)


@web.middleware
async def limit_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a body without a length (411) or longer than its route allows (413)."""
    if request.method in _BODY_METHODS and not request.path.startswith("/socket.io/"):
        length = request.content_length
        if length is None:
            raise _unread(
                http_error(
                    web.HTTPLengthRequired,
                    "length_required",
                    "send the body with a Content-Length header (chunked bodies are not accepted)",
                )
            )
        limit = body_limit(request)
        if length > limit:
            raise _unread(
                http_error(
                    _TooLarge,
                    "too_large",
                    f"this request may carry at most {limit} bytes; the body has {length}",
                )
            )
    return await handler(request)


def _unread(refusal: web.HTTPException) -> web.HTTPException:
    # The body is still on its way and we will not read it: close the connection after the
    # answer, or it would sit waiting for the unread bytes (and hold a shutdown up).
    refusal.force_close()
    return refusal


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Hardening headers on every response; a page's own policy wins over the default."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    csp = response.headers["Content-Security-Policy"]
    if "frame-ancestors" not in csp:
        response.headers["Content-Security-Policy"] = f"{csp}; frame-ancestors 'none'"


SOCKET_CONNECTS = web.AppKey("socket_connects", RateLimit)
# refusals of throttled callers (429) are held back a while: see Tarpit
TARPIT = web.AppKey("tarpit", Tarpit)


async def too_many(request: web.Request, wait_s: float, message: str) -> web.HTTPException:
    """The ``rate_limited`` refusal (429, ``message``, Retry-After) for a public route to
    raise, given only after the tarpit's hold; its connection is closed."""
    await request.app[TARPIT].hold(wait_s)
    refusal = http_error(web.HTTPTooManyRequests, "rate_limited", message)
    refusal.headers["Retry-After"] = str(max(1, math.ceil(wait_s)))
    refusal.force_close()
    return refusal


@web.middleware
async def limit_socket_connects(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Socket.io handshakes per address: a client that reconnects in a loop to send junk
    is refused before the websocket is opened (a kiosk or console reconnects rarely)."""
    if request.path.startswith("/socket.io/"):
        address = client_address(request, request.app[SETTINGS])
        sockets = request.app.get(SOCKET_SERVER)
        junk_wait = sockets.handshake_wait(address) if sockets is not None else 0.0
        if junk_wait > 0:
            await request.app[TARPIT].hold(junk_wait)
            raise _unread(
                http_error(
                    web.HTTPTooManyRequests,
                    "rate_limited",
                    f"sockets from this address sent junk; wait {junk_wait:.0f} s",
                )
            )
        wait = request.app[SOCKET_CONNECTS].take(address)
        if wait > 0:
            await request.app[TARPIT].hold(wait)
            raise _unread(
                http_error(
                    web.HTTPTooManyRequests,
                    "rate_limited",
                    f"too many connections from this address; wait {wait:.0f} s",
                )
            )
    return await handler(request)


def setup_guard(app: web.Application) -> None:
    """Install the body limits and the headers; call after every route is added."""
    settings = app[SETTINGS]
    app[SOCKET_CONNECTS] = RateLimit(
        per_minute=settings.socket_connects_per_minute, burst=settings.socket_connect_burst
    )
    app[TARPIT] = Tarpit(settings.refusal_delay_s)
    app.middlewares.append(limit_socket_connects)
    app.middlewares.append(limit_bodies)
    app.on_response_prepare.append(security_headers)
