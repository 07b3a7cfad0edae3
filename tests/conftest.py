"""Fixtures shared by the suite: a real server on a free port, accounts, tokens."""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from argon2 import PasswordHasher, profiles

from media import sources
from signaling.app import LINGERING_S, create_app
from signaling.keys import CATALOGUE, DATABASE, ROUTER
from signaling.router import Router
from signaling.settings import Settings
from storage import presence, routing, store
from storage.db import Database
from tests import dbutil
from tests.deadline import backstop, test_timeout, with_deadline
from tests.teardown import bounded

pytest_plugins = ["tests.hang_dumps"]

CLERK_PASSWORD = "correct horse battery"
SMALL_SYNTHETIC_VIDEO = sources.VideoFormat(320, 240, 30)


@dataclass
class RunningServer:
    url: str
    settings: Settings
    app: web.Application

    @property
    def db(self) -> Database:
        return self.app[DATABASE]

    @property
    def router(self) -> Router:
        return self.app[ROUTER]

    async def stored(self) -> None:
        """Let the router's matcher finish its round (every change is committed before it is
        told, so the store is already current)."""
        await self.router.settle()

    async def session(self, session_id: str) -> routing.SessionSnap:
        """The session as stored now (the state of record)."""
        found = await routing.get(self.db, session_id)
        assert found is not None, f"no session {session_id}"
        return found

    async def clerk(self, clerk_id: int) -> routing.ClerkSnap:
        """The clerk's presence as stored now."""
        found = await presence.clerk(self.db, clerk_id)
        assert found is not None, f"clerk {clerk_id} never connected"
        return found

    async def add_clerk(self, username: str, departments: list[str] | None = None) -> None:
        depts = departments or [d.id for d in self.app[CATALOGUE].departments]
        await store.create_clerk(self.db, username, CLERK_PASSWORD, f"Clerk {username}", depts)

    async def add_terminal(self, name: str = "kiosk-1") -> str:
        _, token = await store.register_terminal(self.db, name, "test hall")
        return token


async def start_server(
    settings: Settings, also_on: tuple[str, ...] = ()
) -> tuple[RunningServer, web.AppRunner]:
    """Start the real app on 127.0.0.1 with a free port; ``also_on``: more addresses to listen
    on at the same port (a namespaced kiosk's, tests/netfault.py), its URL still loopback's."""
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, lingering_time=LINGERING_S)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    for host in also_on:
        await web.TCPSite(runner, host, port).start()
    return RunningServer(f"http://127.0.0.1:{port}", settings, app), runner


def make_settings(tmp_path: Path, database_url: str | None = None, **extra: object) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        port=0,
        offer_timeout_s=extra.pop("offer_timeout_s", 5.0),  # type: ignore[arg-type]
        # no wrap-up after a call unless a test is about it (tests of work states set it):
        # most tests make one call after another with the same clerk
        wrap_up_s=extra.pop("wrap_up_s", 0.0),  # type: ignore[arg-type]
        secret_key="test-secret-key-0123456789-abcdefghijklmnop",
        **extra,  # type: ignore[arg-type]
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "real_password_hashing: hash clerk passwords at the production cost"
    )

    config.addinivalue_line(
        "markers",
        "call_media: kiosk pages receive the call's video and sound (see without_call_media)",
    )
    config.addinivalue_line(
        "markers", "full_size_camera: synthetic cameras send their default VGA, not 320x240"
    )
    config.addinivalue_line(
        "markers",
        "slow: runs first, so workers sharing the run do not end waiting on it (a minute or so)",
    )


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    _timeline("start", nodeid)


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    _timeline("end", nodeid)


def _timeline(what: str, nodeid: str) -> None:
    """With ``VCOUNTER_TEST_TIMELINE=FILE``, each test's start and end (wall clock, worker) go
    to FILE: which tests ran beside a failure that only a loaded run shows."""
    path = os.environ.get("VCOUNTER_TEST_TIMELINE")
    if path:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        with open(path, "a", encoding="utf-8") as out:
            out.write(f"{time.time():.3f} {worker} {what} {nodeid}\n")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every async test body a deadline of its own inside its pytest-timeout bound; put the
    tests marked ``slow`` first."""
    for item in items:
        if not isinstance(item, pytest.Function) or not inspect.iscoroutinefunction(item.obj):
            continue
        if getattr(item.obj, "hypothesis", None) is not None:
            continue  # hypothesis runs its own inner test; its settings bound each example
        timeout = test_timeout(item)
        if timeout > 0:
            # the body keeps its whole bound; pytest-timeout moves out to the backstop beyond
            item.obj = with_deadline(item.obj, timeout)
            item.add_marker(pytest.mark.timeout(backstop(timeout)), append=False)
    # the longest first: spread over workers, a minute-long test started last is the run's tail
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def cheap_password_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clerk passwords hashed with argon2-cffi's cheapest profile, unless the test is marked
    ``real_password_hashing``.

    argon2id at RFC 9106's cost (64 MiB, 3 passes) takes 1-1.5 s a hash or a check on the
    shared 2-core machine, and the suite adds clerks and signs them in by the hundred: that
    was minutes of the run spent on a cost no test checks. The hashes are still argon2id, a
    wrong password is still refused; ``tests/storage/test_store.py`` keeps the real cost.
    """
    if request.node.get_closest_marker("real_password_hashing") is None:
        monkeypatch.setattr(store, "_HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture(autouse=True)
def small_synthetic_camera(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Synthetic cameras send 320×240 (at their usual 30 fps) unless the test is marked
    ``full_size_camera``.

    Encoding and decoding VGA on both ends of every call, in one process beside the server,
    was most of the suite's CPU; nothing a test checks depends on the size. The VGA default
    is checked in ``tests/media/test_sources.py``.
    """
    if request.node.get_closest_marker("full_size_camera") is None:
        monkeypatch.setattr(sources, "SYNTHETIC_VIDEO", SMALL_SYNTHETIC_VIDEO)


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server_extra() -> dict[str, object]:
    """More settings for :func:`server`; a package's conftest overrides it (tests/payments
    points the server at its payment sandbox)."""
    return {}


@pytest.fixture
async def server(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, server_extra: dict[str, object]
) -> AsyncIterator[RunningServer]:
    """The real signalling server on a free loopback port, with its own fresh database.

    ``@pytest.mark.grace(SECONDS)`` shortens the reconnect grace period, for tests of what
    happens once a party is gone for good.
    """
    url = None
    extra: dict[str, object] = dict(server_extra)
    grace = request.node.get_closest_marker("grace")
    if grace is not None:
        extra["grace_s"] = float(grace.args[0])
    wrap_up = request.node.get_closest_marker("wrap_up")
    if wrap_up is not None:
        extra["wrap_up_s"] = float(wrap_up.args[0])
    if backend == "postgresql":
        if not dbutil.postgres_available():
            if os.environ.get("CI") == "true":
                pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 under CI=true")
            pytest.skip(reason="PostgreSQL is not reachable on 127.0.0.1:5432")
        url = await dbutil.create_pg_database()
    running, runner = await start_server(make_settings(tmp_path, url, **extra))
    try:
        yield running
    finally:
        await bounded(runner.cleanup(), "server")
        if url:
            await dbutil.drop_pg_database(url)
