"""A real coturn TURN server on loopback for the tests, in its REST-secret mode.

coturn (Debian's ``coturn``, installed by ``./run``) is started with ``use-auth-secret``, the
mode vcounter mints credentials for (``signaling.auth.turn_credentials``): a username of
``expiry:user`` and an HMAC of it under the shared secret. It listens on one loopback port for
TURN over UDP and over TCP and relays between loopback addresses only.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
from pathlib import Path
from types import TracebackType

import pytest

CONFIG = """\
listening-ip=127.0.0.1
listening-port={port}
relay-ip=127.0.0.1
min-port={low}
max-port={high}
realm=vcounter.test
use-auth-secret
static-auth-secret={secret}
no-tls
no-dtls
no-cli
fingerprint
allow-loopback-peers
no-multicast-peers
userdb={workdir}/turndb
pidfile={workdir}/turnserver.pid
log-file=stdout
simple-log
verbose
"""
START_S = 10.0


class CoturnMissing(RuntimeError):
    """coturn's ``turnserver`` is not installed."""


def _free_port() -> int:
    """A port free for TCP and UDP on loopback alike (coturn takes both)."""
    while True:
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(port)


class Coturn:
    """``async with Coturn(tmp_path, secret) as turn:`` a running coturn; stopped on exit."""

    def __init__(self, workdir: Path, secret: str) -> None:
        self.workdir = workdir
        self.secret = secret
        self.port = 0
        self.log = workdir / "turnserver.log"
        self._process: asyncio.subprocess.Process | None = None

    def url(self, transport: str) -> str:
        """The TURN URL for ``transport`` (udp or tcp) to this server."""
        return f"turn:127.0.0.1:{self.port}?transport={transport}"

    def allocations(self) -> int:
        """How many relay allocations coturn has granted so far (from its log)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text.count("ALLOCATE processed, success")

    async def __aenter__(self) -> Coturn:
        binary = shutil.which("turnserver")
        if binary is None:
            raise CoturnMissing(
                "coturn is not installed; ./run installs it (apt-get install coturn)"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        low = random.randrange(50000, 60000, 100)  # a relay range of its own per server
        config = self.workdir / "turnserver.conf"
        config.write_text(
            CONFIG.format(port=self.port, low=low, high=low + 99, secret=self.secret,
                          workdir=self.workdir)
        )  # fmt: skip
        with self.log.open("wb") as out:
            self._process = await asyncio.create_subprocess_exec(
                binary, "-c", str(config), stdout=out, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_S
        while True:
            if self._process.returncode is not None:
                raise RuntimeError(f"coturn exited at start:\n{self.log.read_text()[-2000:]}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                if loop.time() > deadline:
                    await self._stop()
                    raise RuntimeError(
                        f"coturn did not listen within {START_S:g} s:\n{self.log.read_text()[-2000:]}"
                    ) from None
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        await self._stop()

    async def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


def require_coturn() -> None:
    """Skip without coturn, except under ``CI=true``, where its absence is a failure."""
    if shutil.which("turnserver") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("coturn (turnserver) is not installed under CI=true; ./run installs it")
        pytest.skip(reason="coturn (turnserver) is not installed; ./run test installs it")
