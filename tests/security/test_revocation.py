"""Hole 5: tokens are revocable, never in URLs; kiosks can be revoked and rotated."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from signaling.auth import check_token
from signaling.cli import main
from signaling.media_links import sign_path
from storage import store
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.peers import login
from tests.security.conftest import Counter, assert_responsive, request, stored_state


async def test_a_disabled_clerks_token_stops_at_once(counter: Counter) -> None:
    server = counter.server
    path = f"/api/sessions/{counter.session_id}/application"
    assert (await counter.as_clerk("GET", path))[0] == 200
    await store.set_clerk_disabled(server.db, "alice", True)
    before = await stored_state(server)
    status, body = await counter.as_clerk("GET", path)
    assert status == 401 and "disabled" in body["message"]
    status, body = await request(
        server, "POST", "/api/login", json={"username": "alice", "password": CLERK_PASSWORD}
    )
    assert status == 401
    await store.set_clerk_disabled(server.db, "alice", False)
    # enabled again: the old token stays revoked; a new sign-in works
    status, body = await counter.as_clerk("GET", path)
    assert status == 401 and "revoked" in body["message"]
    fresh = await login(server.url, "alice", CLERK_PASSWORD)
    assert (await request(server, "GET", path, fresh))[0] == 200
    assert (await stored_state(server))["events"] == before["events"]


async def test_a_password_reset_revokes_the_old_sign_in(counter: Counter) -> None:
    path = f"/api/sessions/{counter.session_id}/application"
    await store.reset_password(counter.server.db, "alice", "a new password 2026")
    status, body = await counter.as_clerk("GET", path)
    assert status == 401 and "revoked" in body["message"]
    await assert_responsive(counter.server)


async def test_a_revoked_kiosk_is_refused_and_a_rotated_one_gets_a_new_token(
    counter: Counter,
) -> None:
    server = counter.server
    path = f"/api/sessions/{counter.session_id}/application"
    assert (await counter.as_kiosk("GET", path))[0] == 200
    await store.revoke_terminal(server.db, "kiosk-1")
    before = await stored_state(server)
    status, body = await counter.as_kiosk("GET", path)
    assert status == 401 and "revoked" in body["message"]
    assert await store.find_terminal_by_token(server.db, counter.terminal_token) is None
    _, token = await store.rotate_terminal(server.db, "kiosk-1")
    assert (await counter.as_kiosk("GET", path))[0] == 401  # the old token stays dead
    assert (await request(server, "GET", path, token))[0] == 200
    assert (await stored_state(server))["events"] == before["events"]


async def test_no_bearer_token_in_urls_and_signed_links_expire(
    server: RunningServer,
) -> None:
    await store.create_clerk(server.db, "sue", CLERK_PASSWORD, "Sue", ["taxation"], "supervisor")
    token = await login(server.url, "sue", CLERK_PASSWORD)
    sid = "a" * 32
    path = f"/api/supervisor/sessions/{sid}/recording/applicant.webm"
    status, _ = await request(server, "GET", f"{path}?token={token}")
    assert status == 401  # a token in the URL is not accepted
    claims = check_token(server.settings.signing_key(), token)
    key = server.settings.signing_key()
    good = sign_path(key, path, claims, 60)
    status, body = await request(server, "GET", good)
    assert status == 404  # past the link check: this session has no recording
    for bad in (
        good.replace("sig=", "sig=0"),  # changed signature
        sign_path(key, path.replace("applicant", "clerk"), claims, 60).replace(
            "clerk.webm", "applicant.webm"
        ),  # another path's link
        sign_path(key, path, claims, -1),  # expired
    ):
        status, body = await request(server, "GET", bad)
        assert status == 401 and body["code"] == "link_expired"
    await store.set_clerk_disabled(server.db, "sue", True)
    status, _ = await request(server, "GET", good)
    assert status == 401  # the clerk's links die with the clerk's tokens
    await assert_responsive(server)


async def test_the_account_and_device_commands(server: RunningServer, tmp_path: Path) -> None:
    await server.add_clerk("alice")
    await server.add_terminal("kiosk-9")
    args = ["--data-dir", str(server.settings.data_dir)]
    env = {"VCOUNTER_SECRET_KEY": "x" * 40}

    def cli(*more: str) -> str:
        result = CliRunner().invoke(main, [*args, *more], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    assert "alice\tclerk\tenabled" in await asyncio.to_thread(cli, "clerk", "list")
    await asyncio.to_thread(cli, "clerk", "disable", "alice")
    assert "alice\tclerk\tdisabled" in await asyncio.to_thread(cli, "clerk", "list")
    await asyncio.to_thread(cli, "clerk", "enable", "alice")
    await asyncio.to_thread(
        cli, "clerk", "reset-password", "alice", "--password", "another one 2026"
    )
    assert await login(server.url, "alice", "another one 2026")
    assert "kiosk-9\tactive" in await asyncio.to_thread(cli, "terminal", "list")
    await asyncio.to_thread(cli, "terminal", "revoke", "kiosk-9")
    assert "kiosk-9\trevoked" in await asyncio.to_thread(cli, "terminal", "list")
    token = (await asyncio.to_thread(cli, "terminal", "rotate", "kiosk-9")).strip().splitlines()[-1]
    assert await store.find_terminal_by_token(server.db, token) is not None
    result = await asyncio.to_thread(
        CliRunner().invoke, main, [*args, "clerk", "disable", "nobody"], env=env
    )
    assert result.exit_code == 2 and "vcounter clerk list" in result.output


async def test_a_short_lived_token_is_refreshed_only_while_it_is_valid(counter: Counter) -> None:
    server = counter.server
    path = f"/api/sessions/{counter.session_id}/application"
    status, fresh = await request(server, "POST", "/api/token/refresh", counter.clerk_token)
    assert status == 200 and fresh["expires_in_s"] == server.settings.token_ttl_s
    assert (await request(server, "GET", path, fresh["token"]))[0] == 200
    await store.set_clerk_disabled(server.db, "alice", True)
    for token in (counter.clerk_token, fresh["token"]):
        status, _ = await request(server, "POST", "/api/token/refresh", token)
        assert status == 401  # a revoked sign-in cannot be kept alive
