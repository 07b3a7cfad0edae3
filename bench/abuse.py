"""Abuse: a clerk's sign-in and a kiosk's call set-up, quiet and while attackers hammer.

The real server runs in its own process (:func:`bench.server.bench_server`). First, quiet: a
clerk signs in (``POST /api/login``) and a kiosk's call is set up over socket.io
(``request_service`` -> ``call_accepted``, with an auto-accepting socket.io clerk; signalling
only), ``-n`` times each. Then the attackers start, in a process of their own so their
work does not slow this one's clock: each from its own loopback address (127.0.0.x), a
third posting junk to ``/verify``, a third guessing passwords at ``/api/login``, a third
opening sockets and sending junk frames; and the same sign-ins and call set-ups are timed
again while they run. The last line is JSON with ``login_p95_ms``, ``call_setup_p95_ms``,
``login_p95_ms_attack``, ``call_setup_p95_ms_attack``. Target: under attack within 2x.

    python -m bench.abuse            # 20 attackers for 30 s
    python -m bench.abuse --smoke    # 3 attackers for 3 s (the test suite runs this)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import subprocess
import sys
import time
from typing import Any

import aiohttp
import socketio

from bench.server import PASSWORD, bench_server, pct

SERVICE = "tax-registration"


async def login_ms(url: str, username: str = "bench") -> float:
    """One sign-in with the right password, in ms."""
    started = time.perf_counter()
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/api/login", json={"username": username, "password": PASSWORD}) as r,
    ):
        body = await r.json()
        if r.status != 200:
            raise RuntimeError(f"the bench clerk could not sign in: {r.status} {body}")
    return (time.perf_counter() - started) * 1000


class Clerk:
    """A socket.io clerk that accepts every call it is offered."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("call_offered", self._offered, namespace="/clerk")
        self.available = asyncio.Event()
        self.sio.on("clerk_status", self._status, namespace="/clerk")

    async def _status(self, data: Any) -> None:
        if isinstance(data, dict) and data.get("state") == "available":
            self.available.set()

    async def _offered(self, data: Any) -> None:
        await self.sio.emit("accept", {"session_id": data["session_id"]}, namespace="/clerk")

    async def start(self) -> None:
        await self.sio.connect(
            self.url, namespaces=["/clerk"], transports=["websocket"], auth={"token": self.token},
            wait_timeout=10,  # the library's 1 s is short for a server under attack
        )  # fmt: skip
        await self.sio.emit("set_availability", {"available": True}, namespace="/clerk")
        await asyncio.wait_for(self.available.wait(), 10)


class Kiosk:
    """A socket.io kiosk that asks for a service and hangs up once the call is accepted."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.sio = socketio.AsyncClient(reconnection=False)
        self.accepted: asyncio.Queue[str] = asyncio.Queue()
        self.ended: asyncio.Queue[str] = asyncio.Queue()
        self.sio.on("call_accepted", self._accepted, namespace="/terminal")
        self.sio.on("call_ended", self._ended, namespace="/terminal")

    async def _accepted(self, data: Any) -> None:
        await self.accepted.put(str(data["session_id"]))

    async def _ended(self, data: Any) -> None:
        await self.ended.put(str(data.get("session_id", "")))

    async def start(self) -> None:
        await self.sio.connect(
            self.url,
            namespaces=["/terminal"],
            transports=["websocket"],
            auth={"token": self.token},
            wait_timeout=10,  # the library's 1 s is short for a server under attack
        )

    async def call_ms(self) -> float:
        """One call set-up (request -> accepted), in ms; then hang up and wait for the end."""
        started = time.perf_counter()
        await self.sio.emit(
            "request_service", {"service_id": SERVICE, "language": "en"}, namespace="/terminal"
        )
        session_id = await asyncio.wait_for(self.accepted.get(), 30)
        elapsed = (time.perf_counter() - started) * 1000
        await self.sio.emit("hangup", {"session_id": session_id}, namespace="/terminal")
        await asyncio.wait_for(self.ended.get(), 30)
        return elapsed


async def measure(
    url: str, clerk_token: str, kiosk: Kiosk, n: int, until: float
) -> dict[str, list[float]]:
    """``n`` sign-ins and call set-ups (at least), going on until ``until`` (monotonic)."""
    logins: list[float] = []
    calls: list[float] = []
    while len(logins) < n or time.monotonic() < until:
        logins.append(await login_ms(url))
        calls.append(await kiosk.call_ms())
    return {"login": logins, "call": calls}


# ------------------------------------------------------------------ the attackers' process


# the keys of the JSON line (tests/bench/test_bench_smoke.py checks them)
KEYS = (
    "login_p95_ms",
    "call_setup_p95_ms",
    "login_p95_ms_attack",
    "call_setup_p95_ms_attack",
)


def _session(index: int) -> aiohttp.ClientSession:
    # each attacker from its own loopback address, so per-address limits see 20 callers
    address = f"127.0.0.{10 + index}"
    connector = aiohttp.TCPConnector(local_addr=(address, 0), force_close=True)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10))


async def _verify_junk(url: str, http: aiohttp.ClientSession) -> None:
    junk = b"%PDF-1.4\n" + random.randbytes(random.randint(100, 200_000))
    form = aiohttp.FormData()
    form.add_field("file", junk, filename="x.pdf", content_type="application/pdf")
    async with http.post(f"{url}/verify", data=form) as r:
        await r.read()


async def _login_guess(url: str, http: aiohttp.ClientSession) -> None:
    body = {"username": random.choice(["bench", "admin", f"u{random.randint(0, 999)}"]),
            "password": random.randbytes(8).hex()}  # fmt: skip
    async with http.post(f"{url}/api/login", json=body) as r:
        await r.read()


async def _socket_junk(url: str, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket") as ws:
        with contextlib.suppress(TimeoutError):
            await ws.receive(timeout=2)
        for frame in (
            '42/terminal,["connect",{}]',
            "4" + "x" * 70_000,
            "\x00\xff junk",
            "40/clerk,",
        ):
            if ws.closed:
                break
            await ws.send_str(frame)
        with contextlib.suppress(TimeoutError):
            await ws.receive(timeout=0.5)


KINDS = {"verify": _verify_junk, "login": _login_guess, "socket": _socket_junk}


async def attacker(url: str, index: int, until: float, kinds: list[str]) -> int:
    """Hammer one of the targets until ``until``; returns how many requests it made."""
    kind = KINDS[kinds[index % len(kinds)]]
    done = 0
    async with _session(index) as http:
        while time.monotonic() < until:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, ConnectionError):
                await kind(url, http)
            done += 1
    return done


async def attack(url: str, attackers: int, seconds: float, kinds: list[str]) -> None:
    until = time.monotonic() + seconds
    counts = await asyncio.gather(*(attacker(url, i, until, kinds) for i in range(attackers)))
    print(json.dumps({"attack_requests": sum(counts)}), flush=True)


# ------------------------------------------------------------------------------- driver


async def main(attackers: int, seconds: float, n: int, kinds: list[str]) -> dict[str, Any]:
    async with bench_server(prefix="vcounter-abuse-") as server:
        server.clerk()
        token = server.terminal()
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{server.url}/api/login", json={"username": "bench", "password": PASSWORD}
            ) as r,
        ):
            clerk_token = (await r.json())["token"]
        clerk, kiosk = Clerk(server.url, clerk_token), Kiosk(server.url, token)
        await clerk.start()
        await kiosk.start()
        try:
            await kiosk.call_ms()  # warm-up: first DB writes, imports
            quiet = await measure(server.url, clerk_token, kiosk, n, 0.0)
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.abuse", "--attack", server.url,
                "--attackers", str(attackers), "--seconds", str(seconds),
                "--kinds", ",".join(kinds),
                stdout=subprocess.PIPE,
            )  # fmt: skip
            await asyncio.sleep(min(1.0, seconds / 5))  # let the attack get going
            loud = await measure(
                server.url, clerk_token, kiosk, n, time.monotonic() + seconds * 0.8
            )
            out, _ = await process.communicate()
            attack_requests = json.loads(out.decode().strip().splitlines()[-1])["attack_requests"]
        finally:
            await kiosk.sio.disconnect()
            await clerk.sio.disconnect()
    result = {
        "attackers": attackers,
        "seconds": seconds,
        "attack_requests": attack_requests,
        "n_quiet": len(quiet["login"]),
        "n_attack": len(loud["login"]),
        "login_p50_ms": round(statistics.median(quiet["login"]), 1),
        "login_p95_ms": round(pct(quiet["login"], 0.95), 1),
        "call_setup_p50_ms": round(statistics.median(quiet["call"]), 1),
        "call_setup_p95_ms": round(pct(quiet["call"], 0.95), 1),
        "login_p50_ms_attack": round(statistics.median(loud["login"]), 1),
        "login_p95_ms_attack": round(pct(loud["login"], 0.95), 1),
        "call_setup_p50_ms_attack": round(statistics.median(loud["call"]), 1),
        "call_setup_p95_ms_attack": round(pct(loud["call"], 0.95), 1),
    }
    result["login_ratio"] = round(result["login_p95_ms_attack"] / result["login_p95_ms"], 2)
    result["call_setup_ratio"] = round(
        result["call_setup_p95_ms_attack"] / result["call_setup_p95_ms"], 2
    )
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="3 attackers for 3 s, few samples")
    parser.add_argument("--attackers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("-n", type=int, default=20, help="samples of each, at least")
    parser.add_argument(
        "--kinds", default="verify,login,socket", help="which attacks, in turn (default all)"
    )
    parser.add_argument("--attack", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attack:
        asyncio.run(attack(args.attack, args.attackers, args.seconds, args.kinds.split(",")))
        sys.exit(0)
    if args.smoke:
        args.attackers, args.seconds, args.n = 3, 3.0, 3
    out = asyncio.run(main(args.attackers, args.seconds, args.n, args.kinds.split(",")))
    print(
        f"abuse: {out['attackers']} attackers for {out['seconds']} s"
        f" ({out['attack_requests']} requests)\n"
        f"  sign-in     p95 {out['login_p95_ms']} ms quiet, {out['login_p95_ms_attack']} ms"
        f" under attack (x{out['login_ratio']})\n"
        f"  call set-up p95 {out['call_setup_p95_ms']} ms quiet,"
        f" {out['call_setup_p95_ms_attack']} ms under attack (x{out['call_setup_ratio']})"
    )
    print(json.dumps({**out, "smoke": bool(args.smoke)}))
