"""Callbacks over the real server: the kiosk is offered one on a long wait and leaves a number;
clerks of the department list, take (once) and close it; supervisors and the CLI count it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
from click.testing import CliRunner

from media.sources import create_local_tracks
from signaling.cli import main
from signaling.fanout import Place, QueueNotifier
from storage import store
from terminal_client.client import TerminalClient, TerminalState
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.peers import login

SERVICE = "tax-registration"


async def until(client: TerminalClient, condition: Callable[[], bool]) -> None:
    """Wait until ``condition()`` holds: the client calls ``on_change`` for every message."""
    changed = asyncio.Event()
    client.on_change = changed.set
    async with asyncio.timeout(10):
        while not condition():
            await changed.wait()
            changed.clear()


async def call(
    server: RunningServer, method: str, path: str, token: str, body: object = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, server.url + path, json=body, headers=headers) as r,
    ):
        return r.status, await r.json()


async def test_a_waiting_kiosk_leaves_a_number_and_clerks_call_back(server: RunningServer) -> None:
    token = await server.add_terminal("kiosk-cb")
    kiosk = TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="k"), name="k"
    )
    await server.add_clerk("carl", ["taxation"])
    await server.add_clerk("dora", ["taxation"])
    await server.add_clerk("hugo", ["housing-provident-fund"])
    await store.create_clerk(server.db, "sue", CLERK_PASSWORD, "Sue", [], "supervisor")
    carl, dora, hugo, sue = [
        await login(server.url, name, CLERK_PASSWORD) for name in ("carl", "dora", "hugo", "sue")
    ]
    try:
        await kiosk.connect()
        session_id = await kiosk.request_service(SERVICE, "en")
        # nobody on duty: the server offers the callback with the place in line
        await until(kiosk, lambda: kiosk.callback_offered)

        status, refused = await call(
            server, "POST", "/api/callbacks", token,
            {"session_id": session_id, "phone": "1234 5678", "region": "MO"},
        )  # fmt: skip
        assert status == 400 and refused["code"] == "invalid_phone"
        assert refused["message"] == (
            "This is not a phone number in use in Macau: check the first digits and the area"
            " you chose."
        )
        assert (await server.session(session_id)).state == "queued"

        status, made = await call(
            server, "POST", "/api/callbacks", token,
            {"session_id": session_id, "phone": "6612 3456", "region": "MO"},
        )  # fmt: skip
        assert status == 201 and made["expect_within_s"] == 4 * 3600
        ref = made["reference"]
        await kiosk.wait_for(TerminalState.ENDED, timeout=10)
        assert kiosk.end_reason == "callback"

        # the department's clerks see it (no number yet); another department's do not
        status, listed = await call(server, "GET", "/api/callbacks", carl)
        assert status == 200 and listed["max_attempts"] == 3
        (task,) = listed["tasks"]
        assert task["reference"] == ref and task["phone"] is None and task["state"] == "open"
        assert task["service_name"]["en"] == "Tax registration"
        assert (await call(server, "GET", "/api/callbacks", hugo))[1]["tasks"] == []
        status, body = await call(server, "POST", f"/api/callbacks/{ref}/take", hugo)
        assert status == 404 and body["message"] == f"no callback '{ref}' in your departments"

        status, taken = await call(server, "POST", f"/api/callbacks/{ref}/take", carl)
        assert status == 200 and taken["phone"] == "+85366123456"
        status, body = await call(server, "POST", f"/api/callbacks/{ref}/take", dora)
        assert status == 409 and body["code"] == "callback_conflict"
        assert (
            body["message"] == f"Callback {ref} is already taken by another clerk; pick another one"
        )
        assert (await call(server, "GET", "/api/callbacks", dora))[1]["tasks"] == []

        status, overview = await call(server, "GET", "/api/supervisor/overview", sue)
        assert overview["callbacks"] == []  # taken, no longer waiting for a clerk
        status, body = await call(
            server, "POST", f"/api/callbacks/{ref}/attempt", carl, {"outcome": "maybe"}
        )
        assert status == 400 and body["code"] == "invalid_message"
        status, body = await call(
            server, "POST", f"/api/callbacks/{ref}/attempt", carl, {"outcome": "no_answer"}
        )
        assert status == 200 and (body["state"], body["attempts"], body["phone"]) == (
            "open",
            1,
            None,
        )
        status, overview = await call(server, "GET", "/api/supervisor/overview", sue)
        (figure,) = overview["callbacks"]
        assert figure["department_id"] == "taxation" and figure["open"] == 1
        assert figure["department_name"]["en"] == "Taxation Bureau"

        result = await asyncio.to_thread(
            CliRunner().invoke,
            main,
            ["--data-dir", str(server.settings.data_dir), "callbacks", "list", "--state", "open"],
        )
        assert result.exit_code == 0, result.output
        assert ref in result.output and "taxation" in result.output
        assert "6612" not in result.output  # personal data stays out of the listing
        closed = await asyncio.to_thread(
            CliRunner().invoke,
            main,
            ["--data-dir", str(server.settings.data_dir), "callbacks", "list", "--state", "closed"],
        )
        assert closed.exit_code == 0 and closed.output.endswith("\nno closed callbacks\n")
    finally:
        await kiosk.close()


def test_a_callback_is_offered_past_the_setting_or_with_nobody_on_duty() -> None:
    notifier = QueueNotifier(
        None,
        None,
        None,
        dict,
        callback_offer_after_s=600,  # type: ignore[arg-type]
    )
    assert not notifier.offers_callback(Place(3, "queued", 540, 2, 1))
    assert not notifier.offers_callback(Place(3, "queued", 600, 2, 1))
    assert notifier.offers_callback(Place(9, "queued", 660, 2, 1))
    assert notifier.offers_callback(Place(1, "queued", None, 0, 1))
    assert not notifier.offers_callback(Place(0, "offered", 0, 0, 1))
    # a process without the setting never offers one
    silent = QueueNotifier(None, None, None, dict)  # type: ignore[arg-type]
    assert not silent.offers_callback(Place(9, "queued", 6000, 0, 1))
