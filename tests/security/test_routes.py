"""Every route: security headers on every answer, the token checked before anything about a
session is said (hole 8), a body without a length refused (411)."""

from __future__ import annotations

import re

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import RunningServer
from tests.security.conftest import assert_responsive

# a value for each placeholder that passes the route's pattern
_VALUES = {
    "session_id": "0" * 32, "doc_id": "1" * 32, "sha256": "2" * 64, "token": "t" * 32,
    "index": "0", "side": "applicant", "material_id": "business-licence", "name": "phone.js",
    "reference": "CB7K2M9Q", "payment_id": "3" * 32, "number": "CP20261205000014",
}  # fmt: skip
_ANONYMOUS = (
    "/",
    "/supervisor",
    "/admin",
    "/wallboard",
    "/verify",
    "/api/health",
    "/api/catalogue",
    "/api/login",
    # the operator's probes and scrape (README "Running several processes"; the proxy keeps
    # /metrics from the outside)
    "/livez",
    "/readyz",
    "/metrics",
    # the public booking page and its API (README "Appointments"), limited per address
    "/book",
    "/api/appointments/services",
    "/api/appointments/slots",
    "/api/appointments",
    "/api/appointments/lookup",
    "/api/appointments/cancel",
    # the public service map (README "The service map"), cached and limited per address
    "/map",
    "/api/map/cities",
    "/api/places",
    # a complaint's status, for its number and access code (README "Complaints")
    "/complaint",
    "/api/complaints/status",
)
# the payment provider's notifications: believed only with the provider's signature
# (tests/payments/test_payment_api.py refuses forged, replayed and unknown ones)
_SIGNED = ("/api/payments/notify/",)
# the e-ID phone pages (README "e-ID sign-in"): a single-use link, the provider's answer
# checked against the attempt's state, nonce and PKCE verifier; limited per address
# (tests/eid/test_sign_in.py refuses replayed and forged answers)
_PHONE_EID = ("/eid/", "/eid-assets/")


def routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, a concrete path) for every route but socket.io's and HEAD twins."""
    found = set()
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        canonical = route.resource.canonical
        if canonical.startswith("/socket.io"):
            continue
        if canonical in ("/static", "/vendor/socket.io"):
            canonical += "/console.css" if canonical == "/static" else "/socket.io.esm.min.js"
        values = {**_VALUES, "action": "revoke" if "/terminals/" in canonical else "disable"}
        path = re.sub(r"\{(\w+)\}", lambda m, v=values: v.get(m.group(1), "x"), canonical)
        found.add((route.method, path))
    return sorted(found)


async def _send(http: aiohttp.ClientSession, url: str, method: str) -> aiohttp.ClientResponse:
    data = b"{}" if method in ("POST", "PUT") else None
    return await http.request(method, url, data=data, allow_redirects=False)


async def test_every_route_answers_with_the_security_headers(server: RunningServer) -> None:
    checked = 0
    async with aiohttp.ClientSession() as http:
        for method, path in routes(server.app):
            async with await _send(http, f"{server.url}{path}", method) as r:
                csp = r.headers.get("Content-Security-Policy", "")
                assert "frame-ancestors 'none'" in csp, (method, path, r.status)
                assert r.headers.get("X-Content-Type-Options") == "nosniff", (method, path)
                assert r.headers.get("Referrer-Policy") == "no-referrer", (method, path)
                assert r.headers.get("X-Frame-Options") == "DENY", (method, path)
                checked += 1
    assert checked > 40
    await assert_responsive(server)


async def test_the_token_is_checked_before_a_session_is_looked_up(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        for method, path in routes(server.app):
            if path in _ANONYMOUS or path.startswith(("/verify", "/api/verify", "/phone")):
                continue
            if path.startswith(
                (
                    "/api/phone/",
                    "/static",
                    "/vendor",
                    "/book-static",
                    "/map-static",
                    *_SIGNED,
                    *_PHONE_EID,
                )
            ) or path.startswith("/complaint-static"):
                continue
            async with await _send(http, f"{server.url}{path}", method) as r:
                # an unknown session and no token: "sign in", never "no such session"
                assert r.status == 401, (method, path, r.status, await r.text())


@pytest.mark.parametrize("path", ["/api/login", "/api/reprint", "/verify"])
async def test_a_body_without_a_length_is_refused(server: RunningServer, path: str) -> None:
    async def body():  # type: ignore[no-untyped-def]
        yield b"{}"

    async with aiohttp.ClientSession() as http, http.post(f"{server.url}{path}", data=body()) as r:
        assert r.status == 411
    await assert_responsive(server)


def test_every_upload_limit_names_a_real_route(server_app_routes: set[tuple[str, str]]) -> None:
    from signaling.guard import BODY_LIMITS

    missing = set(BODY_LIMITS) - server_app_routes
    assert not missing, f"limits for routes that do not exist (renamed?): {missing}"


@pytest.fixture
def server_app_routes(tmp_path: object) -> set[tuple[str, str]]:
    from pathlib import Path

    from signaling.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(Path(str(tmp_path))))
    return {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None}
