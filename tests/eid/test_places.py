"""Each e-ID is offered where its residents stand: 智方便 at Hong Kong kiosks, 一戶通 at Macau
ones, neither at a mainland kiosk (its applicants have neither); a kiosk at no place on the map
offers every provider. A kiosk asking for a provider its place does not offer is refused with
a sentence. No provider is reached: the refusals come first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from signaling.eid.config import EidProviderSettings
from storage import places as stored
from storage import store
from tests.conftest import RunningServer
from tests.directions.conftest import HK_PLACE, MAINLAND_PLACE, kiosk_at

MACAU_PLACE = "mo-taipa"
TWO_WAY_SERVICE = "hk-company-search"


def provider(secret: Path, provider_id: str, name: str, where: list[str]) -> dict[str, Any]:
    return {
        "id": provider_id, "name_zh_hant": name, "name_zh_hans": name, "name_en": provider_id,
        "issuer": f"https://{provider_id}.example.gov", "client_id": "vcounter",
        "client_secret_file": str(secret), "strong_acr": ["urn:loa:high"],
        "jurisdictions": where,
    }  # fmt: skip


@pytest.fixture
def server_extra(tmp_path: Path) -> dict[str, object]:
    secret = tmp_path / "eid-secret"
    secret.write_text("s3cret\n")
    return {
        "eid_providers": [
            provider(secret, "iamsmart", "智方便", ["hong-kong"]),
            provider(secret, "macau-one", "一戶通", ["macau"]),
        ]
    }


async def offered(server: RunningServer, token: str) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/api/eid/providers", headers=headers) as r,
    ):
        assert r.status == 200, await r.text()
        return [p["id"] for p in await r.json()]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
async def test_each_kiosk_offers_the_e_ids_of_its_place(server: RunningServer) -> None:
    mainland = await kiosk_at(server, MAINLAND_PLACE, "futian-1")
    hong_kong = await server.add_terminal("mong-kok-1")
    await stored.edit_place(server.db, HK_PLACE, {}, "mong-kok-1")
    macau = await server.add_terminal("taipa-1")
    await stored.edit_place(server.db, MACAU_PLACE, {}, "taipa-1")
    unplaced = await server.add_terminal("nowhere-1")

    assert await offered(server, hong_kong) == ["iamsmart"]
    assert await offered(server, macau) == ["macau-one"]
    assert await offered(server, mainland) == []
    assert await offered(server, unplaced) == ["iamsmart", "macau-one"]


async def test_a_provider_the_place_does_not_offer_is_refused_in_a_sentence(
    server: RunningServer,
) -> None:
    token = await kiosk_at(server, MAINLAND_PLACE, "futian-1")
    terminal = await store.find_terminal_by_token(server.db, token)
    assert terminal is not None
    terminal_id = terminal.id
    session = await server.router.request_service(terminal_id, "futian-1", "sid", TWO_WAY_SERVICE, "en")  # fmt: skip
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.url}/api/sessions/{session.id}/eid",
            json={"provider": "iamsmart", "language": "en"},
            headers={"Authorization": f"Bearer {token}"},
        ) as r,
    ):
        body = await r.json()
    assert r.status == 403 and body["code"] == "provider_not_here", body
    assert "serves residents of hong-kong" in body["message"]
    assert "this kiosk stands in mainland" in body["message"]
    assert "use the ID card" in body["message"]
    # what was there before is untouched: the applicant still waits in the queue
    assert (await server.session(session.id)).state == "queued"


def test_a_provider_names_only_known_jurisdictions(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    with pytest.raises(ValueError, match="jurisdictions"):
        EidProviderSettings(**provider(secret, "iamsmart", "智方便", ["taiwan"]))
