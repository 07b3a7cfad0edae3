"""A bounded fuzz run of every REST route that takes a JSON body: whatever arrives, the
answer is a typed refusal or a success, never a server error, and the server stays up.

The server runs in a thread of its own (hypothesis drives plain functions); each route gets
arbitrary JSON and bodies shaped like its model with wrong values, sent with the token the
route wants (and a session that exists), so the fuzz reaches the validation and beyond.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_settings, start_server
from tests.sign.conftest import Counter, open_counter

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
# plausible keys with implausible values: gets past "not an object" into each model
FIELDS = [
    "username", "password", "outcome", "reason", "doc_id", "form_sha256", "width", "height",
    "strokes", "points", "job_id", "status", "attempts", "printer", "acceptance_number",
    "document_number", "face", "decision", "note", "material_id", "session_id", "evidence",
    "match", "liveness", "document", "failure_code", "provider", "language", "service_id",
    "number", "due_days", "materials", "slot_start", "name", "ticket",
]  # fmt: skip
SHAPED = st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6)


@dataclass
class Target:
    url: str
    counter: Counter
    loop: asyncio.AbstractEventLoop


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    loop = asyncio.new_event_loop()
    ready: Future[Target] = Future()
    stop = asyncio.Event()

    async def main() -> None:
        running, runner = await start_server(make_settings(Path(tmp_path_factory.mktemp("fuzz"))))
        try:
            counter = await open_counter(running)
            ready.set_result(Target(running.url, counter, loop))
            await stop.wait()
        finally:
            await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    found = ready.result(timeout=60)
    yield found
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)
    loop.close()


def _post(url: str, body: bytes, token: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _routes(t: Target) -> list[tuple[str, str | None]]:
    sid = t.counter.session_id
    clerk, kiosk = t.counter.clerk_token, t.counter.terminal_token
    return [
        ("/api/login", None),
        (f"/api/sessions/{sid}/decision", clerk),
        (f"/api/sessions/{sid}/print", clerk),
        (f"/api/sessions/{sid}/identity/override", clerk),
        (f"/api/sessions/{sid}/materials/business-licence/review", clerk),
        (f"/api/sessions/{sid}/capture", clerk),
        (f"/api/sessions/{sid}/signature/ink", kiosk),
        (f"/api/sessions/{sid}/signature", kiosk),
        (f"/api/sessions/{sid}/print-reports", kiosk),
        (f"/api/sessions/{sid}/identity", kiosk),
        ("/api/reprint", kiosk),
        (f"/api/sessions/{sid}/eid", kiosk),
        ("/api/self-service", kiosk),
        (f"/api/sessions/{sid}/self-service/document", kiosk),
        (f"/api/sessions/{sid}/self-service/finish", kiosk),
        (f"/api/sessions/{sid}/to-follow", clerk),
        ("/api/to-follow/lookup", kiosk),
        (f"/api/to-follow/{sid}/supplied", kiosk),
        ("/api/appointments", None),
        ("/api/appointments/lookup", None),
        ("/api/appointments/cancel", None),
        ("/api/appointments/check-in", kiosk),
    ]


ROUTES = 22  # len(_routes(...)): hypothesis draws an index before the target exists


BOUNDED = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@BOUNDED
@given(body=st.one_of(JSON, SHAPED), route=st.integers(min_value=0, max_value=ROUTES - 1))
def test_no_json_body_makes_a_server_error(target: Target, body: Any, route: int) -> None:
    path, token = _routes(target)[route]
    status = _post(target.url + path, json.dumps(body).encode(), token)
    assert status < 500, (path, body, status)


@BOUNDED
@given(raw=st.binary(max_size=300), route=st.integers(min_value=0, max_value=ROUTES - 1))
def test_no_raw_bytes_make_a_server_error(target: Target, raw: bytes, route: int) -> None:
    path, token = _routes(target)[route]
    status = _post(target.url + path, raw, token)
    assert status < 500, (path, raw, status)
    with urllib.request.urlopen(f"{target.url}/api/health", timeout=10) as health:
        assert health.status == 200


def test_json_nested_past_the_parsers_depth_is_a_bad_request(target: Target) -> None:
    assert len(_routes(target)) == ROUTES
    deep = b"[" * 30_000 + b"]" * 30_000  # within the 64 KiB limit, beyond json's recursion
    for path, token in _routes(target):
        # 429: the public booking routes are limited per address, and the fuzz used them up
        assert _post(target.url + path, deep, token) in (400, 401, 403, 429), path
