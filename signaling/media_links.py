"""Signed, short-lived links for what a browser opens by itself (a video ``src``, a file in a
new tab), where no ``Authorization`` header can be set.

A link is ``PATH?exp=UNIX&u=CLERK&v=VERSION&sig=HMAC`` with the HMAC-SHA256 (server's secret)
over the path, the expiry, the clerk and the clerk's token version: it opens that one path
only, only until it expires, and no longer once the clerk's tokens are revoked. No bearer
token ever sits in a URL, where it would end up in logs and browser history.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

from aiohttp import web

from signaling.auth import ClerkClaims
from signaling.http_auth import http_error
from signaling.keys import DATABASE, SETTINGS
from storage.models import Clerk


def _mac(key: str, path: str, expires: int, clerk_id: int, version: int) -> str:
    message = f"{path}\n{expires}\n{clerk_id}\n{version}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def sign_path(key: str, path: str, who: ClerkClaims, ttl_s: int) -> str:
    """``path`` with the query that lets ``who`` open it for ``ttl_s`` seconds."""
    expires = int(time.time()) + ttl_s
    sig = _mac(key, path, expires, who.clerk_id, who.version)
    query = urlencode({"exp": expires, "u": who.clerk_id, "v": who.version, "sig": sig})
    return f"{path}?{query}"


def signed_link(request: web.Request, path: str, who: ClerkClaims) -> str:
    """A signed link to ``path`` for the clerk behind ``request``, valid ``media_url_ttl_s``."""
    settings = request.app[SETTINGS]
    return sign_path(settings.signing_key(), path, who, settings.media_url_ttl_s)


async def signed_clerk(request: web.Request) -> ClerkClaims | None:
    """The clerk a valid signed link on ``request`` was made for; None when it carries none.

    A link that is expired, changed, for another path or whose clerk was revoked is a 401.
    """
    query = request.query
    if "sig" not in query:
        return None
    refused = http_error(
        web.HTTPUnauthorized,
        "link_expired",
        "this link has expired or is not valid; open it again from the page",
    )
    try:
        expires, clerk_id, version = int(query["exp"]), int(query["u"]), int(query["v"])
    except (KeyError, ValueError) as exc:
        raise refused from exc
    key = request.app[SETTINGS].signing_key()
    good = _mac(key, request.path, expires, clerk_id, version)
    if not hmac.compare_digest(good, query["sig"]) or expires < time.time():
        raise refused
    async with request.app[DATABASE].sessions() as session:
        clerk = await session.get(Clerk, clerk_id)
    if clerk is None or clerk.disabled or clerk.token_version != version:
        raise refused
    return ClerkClaims(clerk.id, clerk.username, clerk.role, clerk.token_version)
