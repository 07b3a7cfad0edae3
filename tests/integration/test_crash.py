"""kill -9 of the one server process (SQLite), then a restart on the same data: nobody loses
their place. The server runs as a real `vcounter serve` subprocess; the kiosk (aiortc) and
the clerk (aiortc) live in the test and reconnect with their resume tokens."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from media.sources import create_local_tracks
from storage import routing, store
from storage.audit import AuditLog
from storage.db import Database, default_sqlite_url
from terminal_client.client import TerminalClient, TerminalState
from tests.conftest import CLERK_PASSWORD
from tests.peers import ClerkPeer, login

SERVICE = "tax-registration"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`vcounter serve` in its own process, killable with SIGKILL and restartable."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: asyncio.subprocess.Process | None = None
        self.log = data_dir / "server.log"
        self.grace_s = 30.0

    async def start(self) -> None:
        env = {
            **os.environ,
            "VCOUNTER_DATA_DIR": str(self.data_dir),
            "VCOUNTER_PORT": str(self.port),
            "VCOUNTER_GRACE_S": str(self.grace_s),
        }
        code = "from signaling.cli import main; main()"
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", code, "serve", env=env, stdout=out, stderr=out
            )
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                if self.proc.returncode is not None:
                    raise AssertionError(f"server exited: {self.log.read_text()[-2000:]}")
                try:
                    async with http.get(f"{self.url}/api/health") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"server did not start: {self.log.read_text()[-2000:]}")

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.proc.wait(), 10)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await asyncio.wait_for(self.proc.wait(), 10)


@pytest.fixture
async def crashing(tmp_path: Path) -> AsyncIterator[tuple[ServerProcess, Database]]:
    server = ServerProcess(tmp_path / "data")
    server.data_dir.mkdir()
    await server.start()
    db = Database(default_sqlite_url(server.data_dir))
    try:
        async with db:
            yield server, db
    finally:
        await server.stop()


async def accounts(db: Database) -> str:
    await store.create_clerk(db, "alice", CLERK_PASSWORD, "Alice", ["taxation"])
    _, token = await store.register_terminal(db, "kiosk-crash", "hall")
    return token


def kiosk(url: str, token: str) -> TerminalClient:
    client = TerminalClient(
        url, token, lambda: create_local_tracks(True, "", "", label="kiosk"), name="kiosk"
    )
    client.resume_for_s = 60
    return client


async def back_online(terminal: TerminalClient) -> None:
    for _ in range(300):
        if terminal.online:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the kiosk did not reconnect to the restarted server")


def tail(server: ServerProcess) -> str:
    return server.log.read_text(errors="replace")[-3000:]


async def test_kill_9_mid_queue_keeps_the_place(
    crashing: tuple[ServerProcess, Database],
) -> None:
    server, db = crashing
    token = await accounts(db)
    terminal = kiosk(server.url, token)
    clerk = ClerkPeer(server.url, await login(server.url, "alice", CLERK_PASSWORD))
    try:
        await terminal.connect()
        session_id = await terminal.request_service(SERVICE, "en")
        assert terminal.state == TerminalState.QUEUED
        await server.kill()
        await server.start()
        await back_online(terminal)
        assert terminal.session_id == session_id and terminal.state == TerminalState.QUEUED, tail(
            server
        )
        stored = await routing.get(db, session_id)
        assert stored is not None and stored.state == "queued"
        # the waiting applicant is served once a clerk comes
        await clerk.connect()
        await clerk.wait(lambda: clerk.status is not None)
        await clerk.emit("set_availability", {"available": True})
        await terminal.wait_for(TerminalState.IN_CALL, timeout=30)
        assert terminal.session_id == session_id
        await terminal.hangup()
        await terminal.wait_for(TerminalState.ENDED, timeout=10)
    finally:
        await terminal.close()
        await clerk.close()
    assert (await AuditLog(db).verify(session_id)).ok


async def test_kill_9_mid_call_carries_on(crashing: tuple[ServerProcess, Database]) -> None:
    server, db = crashing
    token = await accounts(db)
    terminal = kiosk(server.url, token)
    clerk = ClerkPeer(server.url, await login(server.url, "alice", CLERK_PASSWORD))
    try:
        await clerk.connect()
        await clerk.wait(lambda: clerk.status is not None)
        await clerk.emit("set_availability", {"available": True})
        await terminal.connect()
        session_id = await terminal.request_service(SERVICE, "en")
        await terminal.wait_for(TerminalState.IN_CALL, timeout=30)
        await clerk.video_in.wait_for(10, timeout=20)
        await server.kill()
        await server.start()
        await back_online(terminal)
        for _ in range(100):
            try:
                await clerk.connect(resume=True)
                break
            except Exception:  # the server is still starting; the console retries
                await asyncio.sleep(0.2)
        await clerk.wait(lambda: clerk.status is not None and clerk.status.state == "busy")
        assert clerk.status is not None and clerk.status.session_id == session_id
        assert terminal.state == TerminalState.IN_CALL and terminal.session_id == session_id
        frames = clerk.video_in.count
        await clerk.video_in.wait_for(frames + 20, timeout=20)  # the media never stopped
        await terminal.hangup()
        await terminal.wait_for(TerminalState.ENDED, timeout=10)
        stored = await routing.get(db, session_id)
        assert stored is not None and stored.state == "ended"
    finally:
        await terminal.close()
        await clerk.close()
    assert (await AuditLog(db).verify(session_id)).ok


async def test_a_restart_resolves_what_nobody_came_back_for(
    crashing: tuple[ServerProcess, Database],
) -> None:
    """A kiosk that never returns: after the grace period its session ends as lost."""
    server, db = crashing
    token = await accounts(db)
    terminal = kiosk(server.url, token)
    try:
        await terminal.connect()
        session_id = await terminal.request_service(SERVICE, "en")
        terminal.resume_for_s = 0  # this kiosk is gone for good
        await server.kill()
    finally:
        await terminal.close()
    server.grace_s = 1.0
    await server.start()
    for _ in range(200):
        stored = await routing.get(db, session_id)
        if stored is not None and not stored.active:
            break
        await asyncio.sleep(0.1)
    assert stored is not None and stored.state == "cancelled"
    assert stored.end_reason == "terminal_lost"
