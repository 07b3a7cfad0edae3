"""The phone's routes are public: each page carries the public pages' strict policy, and an
address that asks too often is held back (429) before any lookup."""

from __future__ import annotations

import aiohttp
import pytest

from signaling.public_pages import PUBLIC_CSP
from tests.conftest import RunningServer
from tests.eid.conftest import Oidc


@pytest.fixture
def server_extra(oidc_proxy: Oidc) -> dict[str, object]:
    return {
        "eid_providers": [oidc_proxy.settings()],
        "eid_per_minute": 1.0,
        "refusal_delay_s": 0.0,
    }


async def test_phone_pages_are_locked_down_and_rate_limited(server: RunningServer) -> None:
    unknown = f"{server.url}/eid/{'x' * 22}"
    async with aiohttp.ClientSession() as http:
        async with http.get(unknown) as r:
            assert r.status == 404
            assert r.headers["Content-Security-Policy"] == PUBLIC_CSP
            assert r.headers["Cache-Control"] == "no-store"
            assert "Ask the kiosk for a new QR code" in await r.text()
        async with http.get(f"{server.url}/eid-assets/eid.css") as r:
            assert r.status == 200 and r.content_type == "text/css"
        async with http.get(f"{server.url}/eid/callback?state=forged&code=x") as r:
            assert r.status == 400 and 'data-code="eid_unknown_attempt"' in await r.text()
        statuses = []
        for _ in range(10):
            async with http.get(unknown) as r:
                statuses.append(r.status)
        assert statuses[-1] == 429, statuses
        async with http.get(f"{server.url}/eid/callback?state=forged") as r:
            assert r.status == 429 and (await r.json())["code"] == "rate_limited"
