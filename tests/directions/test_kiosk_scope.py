"""A kiosk offers what its place serves: the kiosk's catalogue is narrowed to its place's
directions, and the server refuses a request for anything else with a sentence; the map lists
a place for a service only when it serves that service's direction."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import ClientSession

from media.sources import create_local_tracks
from signaling.catalogue import Catalogue
from signaling.directions_demo import seed_two_way
from signaling.errors import InvalidPlace
from signaling.keys import CATALOGUE
from signaling.places import check_place, spec_of
from signaling.places_cli import seed_demo_map
from storage import places as stored
from storage import store
from terminal_client.client import ServiceRefused, TerminalClient
from tests.conftest import RunningServer
from tests.directions.conftest import (
    HK_PLACE,
    MAINLAND_PLACE,
    kiosk_at,
    kiosk_catalogue,
    to_mainland_ids,
    two_way_ids,
)
from tests.places.conftest import public_places


def _ids(body: dict[str, list[dict[str, str]]]) -> tuple[set[str], set[str]]:
    return {s["id"] for s in body["services"]}, {d["id"] for d in body["departments"]}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
async def test_each_kiosk_gets_the_catalogue_of_its_place(server: RunningServer) -> None:
    catalogue: Catalogue = server.app[CATALOGUE]
    mainland = await kiosk_at(server, MAINLAND_PLACE, "futian-1")
    hong_kong = await server.add_terminal("mong-kok-1")
    await stored.edit_place(server.db, HK_PLACE, {}, "mong-kok-1")
    unplaced = await server.add_terminal("nowhere-1")

    status, body = await kiosk_catalogue(server, mainland)
    services, departments = _ids(body)
    assert status == 200 and services == two_way_ids(catalogue)
    assert "hk-immigration" in departments and "taxation" not in departments
    assert body["time_zone"] == "Asia/Shanghai"  # Shenzhen's clock, for the kiosk's top bar
    status, body = await kiosk_catalogue(server, hong_kong)
    services, departments = _ids(body)
    assert status == 200 and services == to_mainland_ids(catalogue)
    assert "hk-immigration" not in departments and "taxation" in departments
    assert body["time_zone"] == "Asia/Hong_Kong"
    # a kiosk at no place keeps what every kiosk offered before: the mainland's services
    status, body = await kiosk_catalogue(server, unplaced)
    assert status == 200 and _ids(body)[0] == to_mainland_ids(catalogue)
    assert body["time_zone"] is None  # the kiosk's own clock

    status, body = await kiosk_catalogue(server, None)
    assert status == 401 and "no device token" in body["message"]
    # the public catalogue stays whole: the map and the consoles name every service
    async with ClientSession() as http, http.get(server.url + "/api/catalogue") as r:
        whole = {s["id"] for s in (await r.json())["services"]}
    assert whole == two_way_ids(catalogue) | to_mainland_ids(catalogue)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
async def test_a_kiosk_is_refused_a_service_its_place_does_not_serve(
    server: RunningServer,
) -> None:
    token = await kiosk_at(server, MAINLAND_PLACE, "futian-1")
    terminal = TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"), name="k"
    )
    try:
        await terminal.connect()
        with pytest.raises(ServiceRefused) as refused:
            await terminal.request_service("tax-registration", "zh-Hans")
        assert refused.value.reason_code == "service_not_here"
        assert (
            "service 'tax-registration' runs hk-to-mainland or mo-to-mainland, which place"
            " 'sz-futian-kiosk' does not serve (it serves mainland-to-hk, mainland-to-mo);"
            " choose one of the services this kiosk shows"
        ) in refused.value.message
        # nothing was queued; the same kiosk may ask for a Hong Kong service
        session_id = await terminal.request_service("hk-company-search", "zh-Hans")
        row = await server.session(session_id)
        assert row.department_id == "hk-companies-registry"
    finally:
        await terminal.close()


async def test_the_map_lists_a_place_only_for_what_it_serves(server: RunningServer) -> None:
    catalogue: Catalogue = server.app[CATALOGUE]
    await kiosk_at(server, MAINLAND_PLACE, "futian-1")
    # a place stored before its directions were checked (or a catalogue changed since):
    # the Hong Kong kiosk lists a Hong Kong department's service it cannot offer
    place = await stored.get_place(server.db, HK_PLACE)
    await stored.edit_place(
        server.db, HK_PLACE, {"services": [*place.services, "hk-company-search"]}
    )
    places = await public_places(server)
    assert set(places[MAINLAND_PLACE]["services"]) == two_way_ids(catalogue)
    assert "hk-company-search" not in places[HK_PLACE]["services"]
    assert set(places[HK_PLACE]["services"]) <= to_mainland_ids(catalogue)
    offering = {p for p, body in places.items() if "hk-company-search" in body["services"]}
    assert offering == {MAINLAND_PLACE, "zh-gongbei-kiosk"}

    # and a new place with such a service is refused, with the way out
    spec = spec_of(
        {
            "slug": "hk-new", "kind": "kiosk", "names": place.names, "addresses": place.addresses,
            "city": "hong-kong", "latitude": place.latitude, "longitude": place.longitude,
            "hours": place.hours, "directions": ["hk-to-mainland"],
            "services": ["tax-filing", "hk-company-search"],
        }
    )  # fmt: skip
    with pytest.raises(InvalidPlace) as refused:
        check_place(spec, catalogue)
    assert refused.value.message == (
        "service 'hk-company-search' runs mainland-to-hk, which this place does not serve"
        " (it serves hk-to-mainland); add that direction or leave the service out"
    )


async def test_the_demo_seeds_a_mainland_kiosk_and_two_way_clerks(
    server: RunningServer, tmp_path: Path
) -> None:
    catalogue: Catalogue = server.app[CATALOGUE]
    demo_token = await server.add_terminal("demo-kiosk-1")
    await seed_demo_map(server.db, catalogue, demo_token)
    token_file = await seed_two_way(server.db, catalogue, tmp_path)
    assert token_file is not None
    status, body = await kiosk_catalogue(server, token_file.read_text().strip())
    assert status == 200 and _ids(body)[0] == two_way_ids(catalogue)
    hk = await store.find_clerk(server.db, "demo-hk")
    assert set(hk.departments) == {
        d.id for d in catalogue.departments if d.jurisdiction == "hong-kong"
    }
    # a second start keeps the same kiosk and clerks
    assert await seed_two_way(server.db, catalogue, tmp_path) == token_file
    status, _ = await kiosk_catalogue(server, token_file.read_text().strip())
    assert status == 200
