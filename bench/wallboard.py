"""Wallboard benchmark (issue 16): from a change in the store to the board's view that shows it.

    python -m bench.wallboard            # 20 changes
    python -m bench.wallboard -n 50

The real server runs in its own process with a supervisor's board stream open. The bench then
opens sessions one at a time by writing to the shared store itself, as another server
process would: nothing tells the board's process, so this is the slow path (its next read of
the store); a change made by the board's own process nudges it sooner. Each change is timed
from its commit to the first view on the stream that counts it, at random moments so the
store reads' rhythm is not hit the same way each time. Target: within a second.
Last line JSON: ``update_p50_ms``, ``update_p95_ms``, ``changes``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from typing import Any

import aiohttp

from bench.cli import bench_parser, parse, report
from bench.server import PASSWORD, bench_server, pct
from signaling.catalogue import load_catalogue
from storage import routing, store
from storage.db import Database, default_sqlite_url

KEYS = ("update_p50_ms", "update_p95_ms", "changes")


async def views(response: aiohttp.ClientResponse, into: asyncio.Queue[dict[str, Any]]) -> None:
    data: list[str] = []
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and data:
            into.put_nowait(json.loads("\n".join(data)))
            data = []


async def main(n: int) -> dict[str, Any]:
    catalogue = load_catalogue()
    service = catalogue.service("tax-registration")
    rng = random.Random(16)
    async with bench_server(prefix="vcounter-wallboard-") as server:
        server.clerk("sup", "--role", "supervisor")
        async with Database(default_sqlite_url(server.data)) as db:
            terminals = [(await store.register_terminal(db, f"wb-{i}"))[0].id for i in range(n)]
            timeout = aiohttp.ClientTimeout(total=None, sock_read=30)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                async with http.post(
                    f"{server.url}/api/login", json={"username": "sup", "password": PASSWORD}
                ) as r:
                    token = (await r.json())["token"]
                received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
                async with http.get(
                    f"{server.url}/api/wallboard/stream",
                    headers={"Authorization": f"Bearer {token}"},
                ) as response:
                    reader = asyncio.create_task(views(response, received))
                    await received.get()  # the first view, on opening
                    times: list[float] = []
                    for i, terminal_id in enumerate(terminals):
                        await asyncio.sleep(rng.uniform(0.1, 0.7))
                        await routing.open_session(
                            db,
                            session_id=uuid.uuid4().hex,
                            terminal_id=terminal_id,
                            service_id=service.id,
                            department_id=service.department_id,
                            language="en",
                            care_mode=False,
                            priority=0,
                            recall_of=None,
                            ice_servers=[],
                            early_offer=None,
                            actor="bench",
                        )
                        committed = time.perf_counter()
                        while (await asyncio.wait_for(received.get(), 10))["waiting"] < i + 1:
                            pass
                        times.append((time.perf_counter() - committed) * 1000)
                    reader.cancel()
    return {
        "update_p50_ms": round(pct(times, 0.5), 1),
        "update_p95_ms": round(pct(times, 0.95), 1),
        "changes": len(times),
    }


if __name__ == "__main__":
    parser = bench_parser(__doc__)
    parser.add_argument("-n", type=int, default=20, help="changes (default 20)")
    args = parse(parser, smoke={"n": 3})
    out = asyncio.run(main(args.n))
    print(
        f"wallboard: change in the store -> view on the board, {out['changes']} changes:"
        f" p50 {out['update_p50_ms']} ms, p95 {out['update_p95_ms']} ms"
    )
    report({**out, "smoke": args.smoke}, KEYS)
