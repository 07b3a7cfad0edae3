"""A payment sandbox on a free port, and the server pointed at it (``server_extra``).

The sandbox runs in the test's event loop as its own aiohttp server, as ``python -m
signaling.payments.sandbox`` runs it (the demo starts it that way). Store-touching tests
run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from signaling.cli import main
from signaling.payments import signatures as sig
from signaling.payments.sandbox import Sandbox
from tests.conftest import CLERK_PASSWORD
from tests.peers import login
from tests.sign.conftest import (
    DOCUMENT_NUMBER,
    Counter,
    append_stand_in_identity,
    open_counter,
    strokes,
)
from tests.signaling.test_router import wait_until

MERCHANT = "vcounter"
FEE_SERVICE = "driving-licence-exchange"  # CNY 10.00 before submission


@dataclass
class RunningSandbox:
    url: str
    box: Sandbox
    key: Ed25519PrivateKey  # the provider's: tests sign notifications with it
    merchant_key: Path
    public_key: Path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[RunningSandbox]:
    keys = tmp_path / "payment-keys"
    merchant = sig.load_or_create_key(keys / "merchant.pem")
    provider = sig.load_or_create_key(keys / "provider.pem")
    box = Sandbox(provider, {MERCHANT: merchant.public_key()})
    runner = web.AppRunner(box.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    box.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield RunningSandbox(
            box.base_url, box, provider, keys / "merchant.pem",
            sig.public_path(keys / "provider.pem"),
        )  # fmt: skip
    finally:
        await runner.cleanup()


@pytest.fixture
def server_extra(sandbox: RunningSandbox) -> dict[str, object]:
    return {
        "payments_url": sandbox.url,
        "payments_merchant_id": MERCHANT,
        "payments_merchant_key": sandbox.merchant_key,
        "payments_provider_public_key": sandbox.public_key,
        "payments_order_ttl_s": 60,
    }


async def signed_at_counter(c: Counter) -> tuple[int, dict[str, Any]]:
    """Show the form and sign it at the kiosk; returns the signature answer."""
    status, form = await c.as_clerk("POST", f"/api/sessions/{c.session_id}/form")
    assert status == 201, form
    body = {"form_sha256": form["form"]["sha256"], "width": 600, "height": 200,
            "strokes": strokes()}  # fmt: skip
    status, signed = await c.as_kiosk("POST", f"/api/sessions/{c.session_id}/signature", body)
    return status, dict(signed)


async def fee_counter(server: Any, n: int = 1) -> Counter:
    """The ``n``-th session of the fee service (its own kiosk and clerk), in call."""
    return await open_counter(server, f"clerk{n}", f"kiosk-{n}", FEE_SERVICE)


async def payer(code_url: str, action: str = "pay") -> dict[str, Any]:
    """What the payer's phone page does when "Pay" (or "Decline") is pressed."""
    base, _, query = code_url.partition("?")
    async with aiohttp.ClientSession() as http, http.post(f"{base}/{action}?{query}") as r:
        return dict(await r.json())


async def application(c: Counter) -> dict[str, Any]:
    status, view = await c.as_clerk("GET", f"/api/sessions/{c.session_id}/application")
    assert status == 200, view
    return dict(view)


async def wait_application(
    c: Counter, check: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    """Poll the application (as the clerk) until ``check`` holds; returns it."""
    seen: dict[str, Any] = {}

    async def ok() -> bool:
        seen.clear()
        seen.update(await application(c))
        return check(seen)

    await wait_until(ok, what, tries=1500)  # sealing PDFs on a shared machine: seconds
    return seen


async def payments_cli(server: Any, sandbox: RunningSandbox, *args: str) -> Result:
    """``vcounter payments ARGS`` on the server's store and sandbox, as an operator runs it."""
    s = server.settings
    env = {
        "VCOUNTER_SECRET_KEY": "x" * 40,
        "VCOUNTER_PAYMENTS_URL": sandbox.url,
        "VCOUNTER_PAYMENTS_MERCHANT_KEY": str(sandbox.merchant_key),
        "VCOUNTER_PAYMENTS_PROVIDER_PUBLIC_KEY": str(sandbox.public_key),
        **({"VCOUNTER_DATABASE_URL": s.database_url} if s.database_url else {}),
    }
    command = ["--data-dir", str(s.data_dir), "payments", *args]
    # the CLI runs its own event loop: give it a thread of its own
    return await asyncio.to_thread(CliRunner().invoke, main, command, env=env)


async def approved_with_fee_on_approval(
    server: Any, document_number: str = DOCUMENT_NUMBER
) -> tuple[Counter, dict[str, Any]]:
    """A signed, approved application of a service whose fee (CNY 80.00) is due on approval;
    its service needs a second approver (bob). Returns the counter and the signature answer."""
    c = await open_counter(server, service="property-transfer-registration")
    await append_stand_in_identity(server, c.session_id, document_number)
    status, signed = await signed_at_counter(c)
    assert status == 201 and signed["payment"] is None, signed
    decide = f"/api/sessions/{c.session_id}/decision"
    assert (await c.as_clerk("POST", decide, {"outcome": "approved", "reason": "ok"}))[0] == 200
    await server.add_clerk("bob")
    second = await login(server.url, "bob", CLERK_PASSWORD)
    status, view = await c.call("POST", decide, second, {"outcome": "approved", "reason": "ok"})
    assert status == 200 and view["state"] == "approved", view
    return c, signed
