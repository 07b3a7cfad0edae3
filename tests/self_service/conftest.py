"""A department sandbox process on a free port, and the server's connectors pointed at it.

The sandbox runs as ``python -m signaling.departments.sandbox`` (its own process, as the demo
and the benchmark run it); one sandbox answers for every department with a self-service
service. Store-touching tests run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from click.testing import CliRunner, Result

from signaling.catalogue import load_catalogue
from signaling.cli import main
from signaling.departments.sandbox import DepartmentSandbox, sandbox_process
from signaling.payments import signatures as sig
from storage.checkpoint_keys import fingerprint, load_or_create_key
from tests.conftest import RunningServer

TAX = "income-tax-record-print"
SOCIAL = "social-insurance-certificate-print"
# the sandbox's people: the simulated ID cards' number, and one it finds not eligible
KNOWN = "K1234567"
NOT_ELIGIBLE = "M7654321"
UNKNOWN = "Z9999999"


@dataclass
class RunningDepartment:
    url: str
    key: Path  # the department's public key (pinned by the server)
    client_key: Path  # our private key (the sandbox pins its .pub)

    async def control(self, **behaviour: Any) -> dict[str, Any]:
        """Make the sandbox slow or failing (``delay_ms``, ``fail``, ``fail_count``)."""
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.url}/control", json=behaviour) as r,
        ):
            assert r.status == 200, await r.text()
            return dict(await r.json())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sandbox_process: the department sandbox runs as its own process"
    )


@pytest.fixture
async def department(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[RunningDepartment]:
    """The sandbox in the test's event loop, or, with ``@pytest.mark.sandbox_process``, as
    its own process (``python -m signaling.departments.sandbox``, as the demo runs it)."""
    keys = tmp_path / "department-keys"
    dept_key, client_key = keys / "department.pem", keys / "vcounter.pem"
    if request.node.get_closest_marker("sandbox_process") is not None:
        async with sandbox_process(dept_key, client_key) as url:
            yield RunningDepartment(url, sig.public_path(dept_key), client_key)
        return
    client = sig.load_or_create_key(client_key)
    box = DepartmentSandbox(sig.load_or_create_key(dept_key), {"vcounter": client.public_key()})
    runner = web.AppRunner(box.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        yield RunningDepartment(url, sig.public_path(dept_key), client_key)
    finally:
        await runner.cleanup()


def connectors(department: RunningDepartment, **options: object) -> dict[str, object]:
    """``department_connectors`` for every department with a self-service service."""
    catalogue = load_catalogue()
    departments = {s.department_id for s in catalogue.services if s.self_service is not None}
    return {
        dept: {"url": department.url, "key": str(department.client_key),
               "department_key": str(department.key), **options}
        for dept in departments
    }  # fmt: skip


@pytest.fixture
def server_extra(department: RunningDepartment) -> dict[str, object]:
    # the failure tests wait out a timeout: short, with one retry
    return {"department_connectors": connectors(department, timeout_s=2.0, slow_after_s=0.3)}


class Kiosk:
    """A kiosk's REST calls with its device token."""

    def __init__(self, server: RunningServer, token: str) -> None:
        self.server = server
        self.token = token

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as http, http.request(
            method, f"{self.server.url}{path}", json=body,
            headers={"Authorization": f"Bearer {self.token}"},
        ) as r:  # fmt: skip
            data = await r.json() if r.content_type == "application/json" else await r.read()
            return r.status, data

    async def open(self, service: str = TAX) -> str:
        status, opened = await self.call(
            "POST", "/api/self-service", {"service_id": service, "language": "zh-Hant"}
        )
        assert status == 201, opened
        return str(opened["session_id"])

    async def identify(self, session_id: str, number: str = KNOWN, verified: bool = True) -> int:
        """Report an identity attempt as the kiosk's identity step does (no evidence)."""
        document = {
            "source": "chip", "format": "TD1", "document_type": "ID", "issuing_state": "HKG",
            "document_number": number, "surname": "CHAN", "given_names": "TAI MAN",
            "nationality": "CHN", "birth_date": "1990-01-01", "sex": "M",
            "expiry_date": "2034-12-31",
        }  # fmt: skip
        score = 0.91 if verified else 0.12
        report = {
            "outcome": "verified" if verified else "failed", "document": document,
            "match": {"score": score, "threshold": 0.4, "matched": verified},
            "liveness": {"passed": True, "challenge": ["blink"], "completed": ["blink"],
                         "frames": 20, "matched_frames": 18 if verified else 0},
        }  # fmt: skip
        status, _ = await self.call("POST", f"/api/sessions/{session_id}/identity", report)
        return status

    async def document(self, session_id: str) -> tuple[int, Any]:
        return await self.call("POST", f"/api/sessions/{session_id}/self-service/document")


@pytest.fixture
async def kiosk(server: RunningServer) -> Kiosk:
    return Kiosk(server, await server.add_terminal("kiosk-ss"))


async def verify_cli(server: RunningServer, pdf: Path) -> Result:
    """``vcounter verify PDF`` on the server's store, with its checkpoint key pinned."""
    pin = fingerprint(load_or_create_key(server.settings.checkpoint_key_path))
    args = ["--data-dir", str(server.settings.data_dir), "verify", "--fingerprint", pin, str(pdf)]
    env = {"VCOUNTER_SECRET_KEY": "x" * 40}
    if server.settings.database_url:
        env["VCOUNTER_DATABASE_URL"] = server.settings.database_url
    # the CLI runs its own event loop: give it a thread of its own
    return await asyncio.to_thread(CliRunner().invoke, main, args, env=env)


# the kiosk tests' Chromium fixtures, for the SELF_SERVICE screen
from tests.kiosk.conftest import browser, page  # noqa: E402, F401
