"""A bounded fuzz run of every socket event a kiosk or a console may send (issue 19).

Whatever payload arrives on any event of :data:`TERMINAL_EVENTS` and :data:`CLERK_EVENTS`,
the server logs no error (no traceback), answers every refusal with an ``error`` event that
has a code and a sentence, keeps the socket open, and still serves ``/livez`` and a kiosk.

The server runs in a thread of its own (hypothesis drives plain functions); the sockets live
in its event loop. After each fuzzed event the socket sends a probe (an unknown event): the
server handles one socket's events in order, so the probe's refusal arrives after every
answer to the fuzzed event, without waiting on a clock.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signaling.messages import CLERK_EVENTS, NAMESPACE_CLERK, NAMESPACE_TERMINAL, TERMINAL_EVENTS
from tests.conftest import CLERK_PASSWORD, make_settings, start_server
from tests.peers import login
from tests.security.sockets import RawSocket
from tests.security.test_messages import GOOD_SDP
from tests.sign.conftest import SERVICE

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
PROBE = "fuzz_probe"


class Errors(logging.Handler):
    """Every record at ERROR or above, from any logger of the process."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Target:
    url: str
    loop: asyncio.AbstractEventLoop
    sockets: dict[str, RawSocket]
    session_id: str  # a real session (another kiosk's, queued)
    errors: Errors
    kiosk_token: str
    http: list[aiohttp.ClientSession] = field(default_factory=list)

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    loop = asyncio.new_event_loop()
    ready: Future[Target] = Future()
    stop = asyncio.Event()
    errors = Errors()
    logging.getLogger().addHandler(errors)

    async def main() -> None:
        # no event budget: the fuzz would only meet the rate limit
        settings_ = make_settings(
            Path(tmp_path_factory.mktemp("fuzz-socket")),
            events_per_second=1_000_000.0,
            event_burst=1_000_000,
        )
        running, runner = await start_server(settings_)
        try:
            await running.add_clerk("alice")
            http = aiohttp.ClientSession()
            other = await RawSocket.open(http, running.url)
            await other.sign_in(NAMESPACE_TERMINAL, await running.add_terminal("kiosk-other"))
            await other.emit(NAMESPACE_TERMINAL, "request_service", {"service_id": SERVICE})
            session_id = (await other.until(NAMESPACE_TERMINAL, "session_opened"))["session_id"]
            kiosk = await RawSocket.open(http, running.url)
            kiosk_token = await running.add_terminal("kiosk-fuzz")
            await kiosk.sign_in(NAMESPACE_TERMINAL, kiosk_token)
            clerk = await RawSocket.open(http, running.url)
            await clerk.sign_in(NAMESPACE_CLERK, await login(running.url, "alice", CLERK_PASSWORD))
            sockets = {NAMESPACE_TERMINAL: kiosk, NAMESPACE_CLERK: clerk}
            ready.set_result(
                Target(running.url, loop, sockets, session_id, errors, kiosk_token, [http])
            )
            await stop.wait()
            for sock in (other, kiosk, clerk):
                await sock.ws.close()
            await http.close()
        finally:
            await runner.cleanup()
            # engine.io's ping timers sleep on: end them before the loop closes
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    found = ready.result(timeout=60)
    yield found
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)
    loop.close()
    logging.getLogger().removeHandler(errors)


def shaped(model: Any, session_id: str) -> st.SearchStrategy[dict[str, Any]]:
    """Payloads with the model's own field names, each value plausible or junk."""
    plausible = st.sampled_from(
        [session_id, "0" * 32, SERVICE, "offer", "answer", GOOD_SDP, "en", "text", 1, 2, 5, True]
    )
    values = plausible | JSON
    names = list(model.model_fields)
    return st.fixed_dictionaries({}, optional=dict.fromkeys(names, values)) | st.dictionaries(
        st.sampled_from([*names, "extra"]), values, max_size=6
    )


# a right value for each field name of the wire models, so the fuzz also gets past validation
# into the handlers (with a real session, another's, or none)
RIGHT: dict[str, list[Any]] = {
    "service_id": [SERVICE, "no-such-service"],
    "language": ["en", "zh-Hant"],
    "care_mode": [True, False],
    "offer": [GOOD_SDP, None],
    "recall_of": [None, "0" * 32],
    "rating": [1, 5],
    "comment": ["", "fine"],
    "type": ["offer", "answer"],
    "sdp": [GOOD_SDP],
    "candidate": ["candidate:1 1 udp 2122260223 127.0.0.1 9 typ host", ""],
    "sdp_mid": ["0", None],
    "sdp_mline_index": [0, None],
    "state": ["connected", "failed"],
    "reason": ["hangup", "fuzz"],
    "available": [True, False],
    "kind": ["text", "checklist", "place_document"],
    "text": ["please show your passport", ""],
    "items": [["passport"], []],
    "step": [1, 2, 3],
}


def right(model: Any, session_id: str) -> st.SearchStrategy[dict[str, Any]]:
    """Payloads with right values only (some fields left out)."""
    fields = {
        name: st.sampled_from(
            [session_id, "0" * 32] if name == "session_id" else RIGHT.get(name, [None])
        )
        for name in model.model_fields
    }
    return st.fixed_dictionaries({}, optional=fields)


async def exchange(sock: RawSocket, namespace: str, event: str, payload: Any) -> list[Any]:
    """Send the event, then the probe; every error the event got before the probe's."""
    await sock.emit(namespace, event, payload)
    await sock.emit(namespace, PROBE, {})
    errors = []
    while True:
        name, data = await sock.event(namespace, timeout=30)
        if name == "error":
            if data.get("event") == PROBE:
                return errors
            errors.append(data)


CASES = [(NAMESPACE_TERMINAL, e.value, m) for e, m in TERMINAL_EVENTS.items()] + [
    (NAMESPACE_CLERK, e.value, m) for e, m in CLERK_EVENTS.items()
]
BOUNDED = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize(
    ("namespace", "event", "model"), CASES, ids=[f"{c[0].strip('/')}-{c[1]}" for c in CASES]
)
@BOUNDED
@given(data=st.data())
def test_no_payload_makes_a_server_error(
    target: Target, namespace: str, event: str, model: Any, data: st.DataObject
) -> None:
    payload = data.draw(
        st.one_of(right(model, target.session_id), shaped(model, target.session_id), JSON),
        label="payload",
    )
    errors = target.run(exchange(target.sockets[namespace], namespace, event, payload))
    for error in errors:
        assert isinstance(error.get("code"), str) and error["code"], (payload, error)
        assert isinstance(error.get("message"), str) and " " in error["message"], (payload, error)
    logged = [r.getMessage() for r in target.errors.records]
    assert not logged, (event, payload, logged)


def test_the_server_still_serves_after_the_fuzz(target: Target) -> None:
    with urllib.request.urlopen(f"{target.url}/livez", timeout=10) as live:
        assert live.status == 200

    async def kiosk() -> Any:
        async with aiohttp.ClientSession() as http:
            sock = await RawSocket.open(http, target.url)
            await sock.sign_in(NAMESPACE_TERMINAL, target.kiosk_token)
            snapshot = await sock.until(NAMESPACE_TERMINAL, "snapshot")
            await sock.ws.close()
            return snapshot

    assert "resume_token" in target.run(kiosk())
    assert not [r.getMessage() for r in target.errors.records]
