"""The address a request comes from, seen through the configured proxies.

Behind HAProxy every request arrives from the proxy's address; the proxy names the client in
``X-Forwarded-For``. That header is believed only when the request comes from an address in
``trusted_proxies``: anyone else could write whatever they like into it.
"""

from __future__ import annotations

from aiohttp import web

from signaling.settings import Settings


def client_address(request: web.Request, settings: Settings) -> str:
    """The client's address: the peer's, or the nearest untrusted hop a trusted proxy names."""
    peer = request.remote or "-"
    if peer not in settings.trusted_proxies:
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    # the rightmost hop not of our own proxies is the one that connected to them
    for hop in reversed(hops):
        if hop not in settings.trusted_proxies:
            return hop
    return peer
