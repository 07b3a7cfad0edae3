"""A link the tests can cut and slow down: a network namespace joined to this one by a veth pair.

The namespace has one address (10.77.x.y) and reaches this host at its own address (e.g. eth0's);
this host reaches it by a route. The host's end of the pair carries no address: Chromium takes
any address added to or removed from this host for a network change and fails every request in
flight with ERR_NETWORK_CHANGED, and its WebRTC would gather candidates on that end, which
another test then cuts or deletes under a call of its own (both seen with tests run in parallel:
a sign-in page whose scripts never loaded, a monitor that never decoded). Delay and
loss come from :mod:`tests.nfqueue_helper` on an NFQUEUE rule in the namespace (this kernel has
no ``sch_netem``). Everything is removed on exit, also when the test fails. Needs root,
``ip``, ``iptables`` and the NetfilterQueue package (``./run test`` installs them).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

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


async def _run(*args: str, check: bool = True) -> str:
    """Run a command to its end: what it printed; with ``check``, its failure raises with it."""
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    if check and process.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {out.decode(errors='replace')}")
    return out.decode(errors="replace")


async def _ip(*args: str) -> None:
    await _run("ip", *args)


def no_ipv6(interface: str) -> None:
    """No IPv6 on this host's ``interface``: its link-local address would appear ~1.5 s after
    the link comes up (and again after each cut), and Chromium on this host takes any new
    address for a network change and fails the loads in flight with ERR_NETWORK_CHANGED (the
    console's scripts once, so its sign-in form never worked)."""
    switch = Path("/proc/sys/net/ipv6/conf") / interface / "disable_ipv6"
    if switch.exists():  # a kernel without IPv6 has no switch, and no address to add
        switch.write_text("1")


class NoHostAddress(RuntimeError):
    """This host has no address for a namespace to reach it by."""


def host_address() -> str:
    """An IPv4 address of this host on an interface of its own (not loopback, not a test link's)."""
    out = subprocess.run(
        ["ip", "-4", "-o", "address", "show", "scope", "global"], capture_output=True, check=True
    )
    for line in out.stdout.decode().splitlines():
        interface, address = line.split()[1], line.split()[3]
        if not interface.startswith("vc"):
            return address.split("/")[0]
    raise NoHostAddress(
        "this host has no IPv4 address but loopback, so a test's network namespace cannot reach "
        "it: give an interface an address (e.g. `ip link add vhost type dummy; ip addr add "
        "192.0.2.2/24 dev vhost; ip link set vhost up`)"
    )


_LINKS = itertools.count()


def _link_number() -> int:
    """A number no other link on this host has: from this process's id (below 2**22) and which
    of its last four links this is."""
    return (os.getpid() << 2 | next(_LINKS) % 4) & 0xFFFFFF


class ImpairedLink:
    """``async with ImpairedLink() as link:`` a namespace ``link.netns`` at ``link.inside``,
    which reaches this host at ``link.outside``."""

    def __init__(self) -> None:
        n = _link_number()
        tag = f"{n:06x}"
        self.netns = f"vc{tag}"
        self.host_if, self.ns_if = f"vch{tag}", f"vcn{tag}"
        self.outside = host_address()
        self.inside = f"10.{n >> 16}.{n >> 8 & 255}.{n & 255}"
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
            no_ipv6(self.host_if)
            await _ip("link", "set", self.host_if, "up")
            # a route is no address: Chromium does not watch routes
            await _ip("route", "add", f"{self.inside}/32", "dev", self.host_if)
            inside = ("ip", "netns", "exec", self.netns, "ip")
            await _run(*inside, "addr", "add", f"{self.inside}/32", "dev", self.ns_if)
            await _run(*inside, "link", "set", self.ns_if, "up")
            await _run(*inside, "link", "set", "lo", "up")
            await self._route_out()
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
        """Take the kiosk's link down (both ways), as a pulled cable or a dead Wi-Fi at the
        kiosk would. The namespace's end goes down: taking the host's end down instead
        flaps an interface of the machine Chromium runs on, and Chromium re-gathers its
        candidates (2-3 s more to recover, a cut of the clerk's own network)."""
        await _ip("netns", "exec", self.netns, "ip", "link", "set", self.ns_if, "down")

    async def packets(self) -> int:
        """Packets the namespace's end has received and sent so far (the kernel's counts)."""
        counts = []
        for way in ("rx_packets", "tx_packets"):
            path = f"/sys/class/net/{self.ns_if}/statistics/{way}"
            counts.append(int(await _run(*self.command("cat", path))))
        return sum(counts)

    async def restore(self) -> None:
        """Bring the link back up after :meth:`cut`."""
        await _ip("netns", "exec", self.netns, "ip", "link", "set", self.ns_if, "up")
        # taking a link down drops the routes through it: the default one is not made again
        await self._route_out()

    async def _route_out(self) -> None:
        # no gateway address: the host's end answers ARP for every address of this host
        await _ip(
            "netns", "exec", self.netns, "ip", "route", "replace", "default", "dev", self.ns_if
        )

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


ROOT = Path(__file__).resolve().parents[1]  # python -m tests.media... runs from here
KIOSK_START_S = 30.0  # to connected: a cold Python with aiortc, PyAV and socket.io to import
KIOSK_QUIT_S = 40.0  # hanging up media and waiting for the recording's upload (20 s at most)


class KioskFailed(RuntimeError):
    """The namespaced kiosk did not do what it was told in time; the message has its last words."""


@dataclass
class KioskReport:
    """What tests/media/kiosk_in_netns.py last said about itself."""

    state: str = "disconnected"
    session_id: str | None = None
    end_reason: str | None = None
    recall_of: str | None = None
    media_attempt: int = 0
    weak: bool = False  # its screen says the connection is weak
    reconnecting: bool = False  # its screen says the connection dropped
    video: int = 0
    audio: int = 0
    # the wall time of every video frame it decoded (the host's clock: the namespace shares it)
    video_at: list[float] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    closed: dict[str, Any] | None = None


class NoLink:
    """No namespace: a :class:`NetnsKiosk` on this host's loopback (a kiosk process of its own,
    e.g. to measure its CPU)."""

    netns = "this host's loopback"

    def command(self, *args: str) -> list[str]:
        return list(args)


class NetnsKiosk:
    """The real kiosk (:mod:`tests.media.kiosk_in_netns`) in ``link``'s namespace, connected to
    ``server_url`` (an address of the link's outside end) with ``token``.

    ``async with NetnsKiosk(link, url, token) as kiosk:`` it is connected; its reports are in
    ``kiosk.report``. Leaving the block quits it (hanging up media, waiting for its recording's
    upload), and kills it if it will not go, also when the block failed.
    """

    def __init__(
        self,
        link: ImpairedLink | NoLink,
        server_url: str,
        token: str,
        *args: str,
        name: str = "kiosk",
    ) -> None:
        self.link = link
        self.command = link.command(
            sys.executable, "-m", "tests.media.kiosk_in_netns",
            # "--token=…": a token may begin with "-", which argparse would take for an option
            f"--server={server_url}", f"--token={token}", f"--name={name}", *args,
        )  # fmt: skip
        self.report = KioskReport()
        self.process: asyncio.subprocess.Process | None = None
        self._following: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()
        self._answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._last_lines: list[str] = []
        self._said: list[str] = []  # its last lines but the frame reports, for failures
        self._ended = False  # its output ended: it exited

    async def __aenter__(self) -> NetnsKiosk:
        self.process = await asyncio.create_subprocess_exec(
            *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )  # fmt: skip
        self._following = asyncio.create_task(self._follow())
        try:
            await self.until(lambda r: r.state != "disconnected", KIOSK_START_S, "to connect")
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        await self.close()

    # ------------------------------------------------------------------ commands

    async def request_service(
        self, service_id: str = "tax-registration", language: str = "en",
        recall_of: str | None = None,
    ) -> str:  # fmt: skip
        """Ask for a clerk; the session id once the server queued the request."""
        answer = await self._ask(
            {"op": "request_service", "service_id": service_id, "language": language,
             "recall_of": recall_of},
            timeout=30,
        )  # fmt: skip
        return str(answer["session_id"])

    async def hangup(self) -> None:
        """End the call from the kiosk."""
        await self._ask({"op": "hangup"}, timeout=10)

    async def close(self) -> None:
        """Quit the kiosk (hang up, upload the recording), killing it if it will not; idempotent."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            if process.stdin is not None and not process.stdin.is_closing():
                with contextlib.suppress(ConnectionError):
                    process.stdin.write(b'{"op": "quit"}\n')
                    await process.stdin.drain()
                process.stdin.close()
            await asyncio.wait_for(process.wait(), KIOSK_QUIT_S)
        except TimeoutError:
            process.kill()
            await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            if self._following is not None:
                # the last lines (``closed``) are read before the pipe ends
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._following), 2)
                self._following.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._following

    # ------------------------------------------------------------------ waiting

    async def until(
        self, condition: Callable[[KioskReport], bool], timeout: float, what: str = ""
    ) -> None:
        """Wait until ``condition(kiosk.report)`` holds; :class:`KioskFailed` after ``timeout``."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: condition(self.report) or self._ended)
        except TimeoutError:
            raise KioskFailed(
                f"the kiosk in {self.link.netns} did not {what or 'get there'} within"
                f" {timeout:g} s; it is {self.report.state!r}; what it said:\n"
                + "\n".join([*self._said[-8:], *self._last_lines[-2:]])
            ) from None
        if not condition(self.report):
            raise KioskFailed(
                f"the kiosk in {self.link.netns} ended before it could {what or 'get there'}"
                " (its error output is the test's); what it said:\n" + "\n".join(self._said[-8:])
            )

    async def wait_state(self, *states: str, timeout: float = 30.0) -> str:
        """Wait until the kiosk's state is one of ``states``; returns it."""
        await self.until(lambda r: r.state in states, timeout, f"reach {'/'.join(states)}")
        return self.report.state

    def frames_since(self, t: float) -> int:
        """Video frames the kiosk decoded after wall time ``t`` (as reported so far)."""
        return sum(1 for at in self.report.video_at if at > t)

    async def frames_after(self, t: float, count: int = 1, timeout: float = 30.0) -> float:
        """Wait until ``count`` video frames decoded after wall time ``t`` are reported; the
        wall time of the first of them."""
        await self.until(
            lambda _: self.frames_since(t) >= count, timeout, f"decode {count} frames after {t:.3f}"
        )
        return next(at for at in self.report.video_at if at > t)

    # ------------------------------------------------------------------ internals

    async def _ask(self, command: dict[str, Any], timeout: float) -> dict[str, Any]:
        process = self.process
        if process is None or process.stdin is None:
            raise KioskFailed(f"the kiosk in {self.link.netns} is not running")
        while not self._answers.empty():
            self._answers.get_nowait()
        process.stdin.write(json.dumps(command).encode() + b"\n")
        await process.stdin.drain()
        try:
            answer = await asyncio.wait_for(self._answers.get(), timeout)
        except TimeoutError:
            raise KioskFailed(
                f"the kiosk did not answer {command['op']} within {timeout:g} s: "
                + "\n".join(self._last_lines[-5:])
            ) from None
        if answer["event"] == "error":
            raise KioskFailed(f"the kiosk refused {command['op']}: {answer.get('message')}")
        return answer

    async def _follow(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode(errors="replace").strip()
            self._last_lines = [*self._last_lines[-9:], line]
            try:
                message = json.loads(line)
            except ValueError:
                continue  # a library's stray print
            if message.get("event") != "frames":
                self._said = [*self._said[-19:], line]
            self._take(message)
            async with self._changed:
                self._changed.notify_all()
        self._ended = True
        async with self._changed:
            self._changed.notify_all()

    def _take(self, message: dict[str, Any]) -> None:
        report, event = self.report, message.get("event")
        for key in (
            "state", "session_id", "end_reason", "recall_of", "media_attempt", "weak",
            "reconnecting",
        ):  # fmt: skip
            if key in message:
                setattr(report, key, message[key])
        if event == "frames":
            report.video, report.audio = message["video"], message["audio"]
            report.video_at.extend(message["video_at"])
        elif event == "error":
            report.errors.append(message)
            if message.get("about") in ("request_service", "hangup", "status"):
                self._answers.put_nowait(message)
        elif event == "done":
            self._answers.put_nowait(message)
        elif event == "closed":
            report.closed = message
