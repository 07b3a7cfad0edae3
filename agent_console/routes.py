"""Serves the clerk console: its page, its ES modules and the vendored socket.io client.

Every console response carries a strict Content-Security-Policy (no inline script or style,
media only from the page itself or live streams) and the usual hardening headers.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from agent_console.errors import ConsoleAssetsMissing

log = logging.getLogger(__name__)

CONSOLE_DIR = Path(__file__).resolve().parent
STATIC_DIR = CONSOLE_DIR / "static"
NODE_MODULES = CONSOLE_DIR / "node_modules"
VENDOR_PREFIX = "/vendor/socket.io/"
STATIC_PREFIX = "/static/"
SUPERVISOR_PATH = "/supervisor"
ADMIN_PATH = "/admin"
WALLBOARD_PATH = "/wallboard"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The console needs the camera and microphone of its own origin and nothing else.
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=(), payment=()",
}


def socketio_dist(node_modules: Path = NODE_MODULES) -> Path:
    """The socket.io client's browser builds; raises :class:`ConsoleAssetsMissing` if absent."""
    dist = node_modules / "socket.io-client" / "dist"
    if not (dist / "socket.io.esm.min.js").is_file():
        raise ConsoleAssetsMissing(
            f"The clerk console's browser packages are not installed ({dist} is missing): "
            f"run `npm ci` in {CONSOLE_DIR}, or start the server with ./run, which does it for you"
        )
    return dist


def is_console_path(path: str) -> bool:
    """Whether ``path`` is served by the console (and so gets its security headers)."""
    return path in ("/", SUPERVISOR_PATH, ADMIN_PATH, WALLBOARD_PATH) or path.startswith(
        (STATIC_PREFIX, VENDOR_PREFIX)
    )


async def index(request: web.Request) -> web.FileResponse:
    """The console page; everything else it needs comes from /static/ and /vendor/."""
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def wallboard(request: web.Request) -> web.FileResponse:
    """The full-screen wallboard for a hall or team display (a supervisor signs it in)."""
    return web.FileResponse(STATIC_DIR / "wallboard.html", headers={"Cache-Control": "no-cache"})


async def supervisor(request: web.Request) -> web.FileResponse:
    """The supervisor console: live queues, service-level figures, search and replay."""
    return web.FileResponse(STATIC_DIR / "supervisor.html", headers={"Cache-Control": "no-cache"})


async def admin(request: web.Request) -> web.FileResponse:
    """The administrator's page: accounts and kiosks (disable, reset, revoke, rotate)."""
    return web.FileResponse(STATIC_DIR / "admin.html", headers={"Cache-Control": "no-cache"})


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if not is_console_path(request.path):
        return
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    # Revalidate on every load so a clerk gets a new console after a deploy, not a stale mix.
    response.headers.setdefault("Cache-Control", "no-cache")


def setup_console(app: web.Application, *, node_modules: Path = NODE_MODULES) -> None:
    """Mount the console at ``/``; fails early, with the fix, if its npm packages are missing."""
    dist = socketio_dist(node_modules)
    app.router.add_get("/", index)
    app.router.add_get(SUPERVISOR_PATH, supervisor)
    app.router.add_get(ADMIN_PATH, admin)
    app.router.add_get(WALLBOARD_PATH, wallboard)
    app.router.add_static(STATIC_PREFIX, STATIC_DIR, name="console_static")
    app.router.add_static(VENDOR_PREFIX, dist, name="console_vendor_socketio")
    app.on_response_prepare.append(_security_headers)
    log.debug("console served from %s (socket.io client from %s)", STATIC_DIR, dist)
