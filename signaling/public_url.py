"""The server's own address, from configuration only: links it hands out, origins it trusts.

A request's ``Host`` header is chosen by whoever sends the request; a link built from it
would send a kiosk (and its device token) wherever an attacker names. So links are built
from ``public_url`` when it is set, else from the configured ``host`` and the port the
server is actually listening on (the socket's own address, not anything the client says).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from signaling.keys import SETTINGS
from signaling.settings import Settings

_WILDCARDS = {"0.0.0.0", "::", ""}
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def _local_address(request: web.Request) -> tuple[str, int] | None:
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        return str(sockname[0]), int(sockname[1])
    return None


def _bracket(host: str) -> str:
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` (lower case), the way browsers send ``Origin``."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def public_base(request: web.Request, settings: Settings | None = None) -> str:
    """The server's base URL for links in responses; never taken from the request's headers."""
    settings = settings or request.app[SETTINGS]
    if settings.public_url:
        return settings.public_url.rstrip("/")
    local = _local_address(request)
    host = settings.host
    port = settings.port
    if local is not None:
        if host in _WILDCARDS:
            host = local[0]  # the server's own address the connection arrived on
        port = local[1] if port == 0 else port
    return f"http://{_bracket(host)}:{port}"


def allowed_origins(settings: Settings, request: web.Request | None) -> set[str]:
    """Origins whose pages may open the consoles' sockets."""
    origins = {origin_of(o) for o in settings.allowed_origins}
    if settings.public_url:
        origins.add(origin_of(settings.public_url))
        return origins
    if request is not None:
        base = public_base(request, settings)
        origins.add(origin_of(base))
        port = urlsplit(base).port
        if settings.host in ("127.0.0.1", "localhost", "::1"):
            # the same loopback server under its other names
            origins.update(f"http://{name}:{port}" for name in _LOOPBACK_NAMES)
    return origins


def socket_origin_check(settings: Settings) -> Any:
    """A ``cors_allowed_origins`` callable for python-socketio that allows only our origins.

    (An empty list would switch the check off altogether.) Clients that send no ``Origin``
    (the kiosk's python-socketio client) are not browsers and are judged by their token.
    """

    def allowed(origin: str | None, environ: Mapping[str, Any] | None = None) -> bool:
        if origin is None:
            return True
        request = environ.get("aiohttp.request") if environ else None
        return origin.lower() in allowed_origins(settings, request)

    return allowed
