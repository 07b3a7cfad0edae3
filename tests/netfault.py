"""A link the tests can cut and slow down: a network namespace joined to this one by a veth pair.

Addresses exist only inside the pair (10.77.x.1 here, 10.77.x.2 in the namespace). Delay and
loss come from :mod:`tests.nfqueue_helper` on an NFQUEUE rule in the namespace (this kernel has
no ``sch_netem``). Everything is removed on exit, also when the test fails. Needs root,
``ip``, ``iptables`` and the NetfilterQueue package (``./run test`` installs them).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import random
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from media.sinks import FrameCounter
from media.sources import create_local_tracks

START_S = 10.0


def require_netfault() -> None:
    """Skip without what a namespace needs, except under ``CI=true`` (where CI runs as root)."""
    missing = [
        what
        for what, ok in (
            ("root", os.geteuid() == 0),
            ("ip", shutil.which("ip") is not None),
            ("iptables", shutil.which("iptables") is not None),
            ("NetfilterQueue", importlib.util.find_spec("netfilterqueue") is not None),
        )
        if not ok
    ]
    if missing:
        reason = f"a network namespace test needs {', '.join(missing)}; ./run test provides them"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason=reason)


async def _run(*args: str, check: bool = True) -> None:
    """Run a command to its end; with ``check``, its failure raises with what it printed."""
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    if check and process.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {out.decode(errors='replace')}")


async def _ip(*args: str) -> None:
    await _run("ip", *args)


class ImpairedLink:
    """``async with ImpairedLink() as link:`` a namespace ``link.netns`` at ``link.inside``."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 10000}{random.randrange(100):02d}"
        self.netns = f"vc{tag}"
        self.host_if, self.ns_if = f"vch{tag}", f"vcn{tag}"
        subnet = random.randrange(1, 250)
        self.outside, self.inside = f"10.77.{subnet}.1", f"10.77.{subnet}.2"
        self.queue = random.randrange(100, 60000)
        self._helper: asyncio.subprocess.Process | None = None

    def command(self, *args: str) -> list[str]:
        """``args`` run inside the namespace."""
        return ["ip", "netns", "exec", self.netns, *args]

    async def __aenter__(self) -> ImpairedLink:
        await _ip("netns", "add", self.netns)
        try:
            await _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            await _ip("link", "set", self.ns_if, "netns", self.netns)
            await _ip("addr", "add", f"{self.outside}/30", "dev", self.host_if)
            await _ip("link", "set", self.host_if, "up")
            await _ip("netns", "exec", self.netns, "ip", "addr", "add", f"{self.inside}/30", "dev", self.ns_if)  # fmt: skip
            await _ip("netns", "exec", self.netns, "ip", "link", "set", self.ns_if, "up")
            await _ip("netns", "exec", self.netns, "ip", "link", "set", "lo", "up")
        except BaseException:
            await self._remove()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        await self._remove()

    async def impair(self, delay_ms_each_way: float, loss: float = 0.0) -> None:
        """Every packet across the link held ``delay_ms_each_way`` (each way), ``loss`` dropped."""
        await self.clear()
        for chain, flag in (("OUTPUT", "-o"), ("INPUT", "-i")):
            await _run(
                *self.command("iptables", "-A", chain, flag, self.ns_if, "-j", "NFQUEUE",
                              "--queue-num", str(self.queue))
            )  # fmt: skip
        self._helper = await asyncio.create_subprocess_exec(
            *self.command(sys.executable, "-m", "tests.nfqueue_helper", str(self.queue),
                          str(delay_ms_each_way), str(loss)),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert self._helper.stdout is not None
        line = await asyncio.wait_for(self._helper.stdout.readline(), START_S)
        if line.strip() != b"ready":
            raise RuntimeError(f"the NFQUEUE helper did not start: {line!r}")

    async def cut(self) -> None:
        """Take the link down (both ways), as a pulled cable or a dead Wi-Fi would."""
        await _ip("link", "set", self.host_if, "down")

    async def restore(self) -> None:
        """Bring the link back up after :meth:`cut`."""
        await _ip("link", "set", self.host_if, "up")

    async def clear(self) -> None:
        """The link as it was: no delay, no loss."""
        await _run(*self.command("iptables", "-F"), check=False)
        helper, self._helper = self._helper, None
        if helper is not None and helper.returncode is None:
            helper.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(helper.wait(), 5)
            if helper.returncode is None:
                helper.kill()
                await helper.wait()

    async def _remove(self) -> None:
        await self.clear()
        await _run("ip", "netns", "del", self.netns, check=False)
        await _run("ip", "link", "del", self.host_if, check=False)


class NetnsPeer:
    """tests/media/peer_in_netns.py running in a namespace, its reports read as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.frames = 0
        self.state = "new"

    async def follow(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            words = line.decode().split()
            if len(words) == 4 and words[0] == "frames":
                self.frames, self.state = int(words[1]), words[3]


@dataclass
class Call:
    """A call across a link: this process's peer, the video it receives, the other end."""

    pc: RTCPeerConnection
    received: FrameCounter
    peer: NetnsPeer


@contextlib.asynccontextmanager
async def call_across(link: ImpairedLink, *, stock: bool = False) -> AsyncIterator[Call]:
    """A call between an aiortc peer here and tests/media/peer_in_netns.py in ``link``'s
    namespace (with ``stock``, that one without the kiosk's media settings), both sending
    synthetic video and sound, up once video arrives here; ended and cleaned up on exit."""
    media = create_local_tracks(True, "", "", label="outside")
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    received = FrameCounter()
    pc.addTrack(media.video)
    pc.addTrack(media.audio)

    @pc.on("track")
    def on_track(track: object) -> None:
        if getattr(track, "kind", "") == "video":
            received.start(track)  # type: ignore[arg-type]

    args = ["--stock-consent"] if stock else []
    process = await asyncio.create_subprocess_exec(
        *link.command(sys.executable, "-m", "tests.media.peer_in_netns", *args),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    peer = NetnsPeer(process)
    following: asyncio.Task[None] | None = None
    try:
        assert process.stdin is not None and process.stdout is not None
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"sdp": pc.localDescription.sdp, "type": "offer"}
        process.stdin.write(json.dumps(offer).encode() + b"\n")
        await process.stdin.drain()
        answer = json.loads(await asyncio.wait_for(process.stdout.readline(), 30))
        await pc.setRemoteDescription(RTCSessionDescription(**answer))
        following = asyncio.create_task(peer.follow())
        await received.wait_for(10, timeout=30)
        yield Call(pc, received, peer)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
        if following is not None:
            following.cancel()
        await pc.close()
        media.stop()
