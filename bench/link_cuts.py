"""Link cuts in a call (issue 14, first figures): how long each end's picture stays frozen.

    python -m bench.link_cuts                 # cuts of 2, 2, 5, 2, 2 and 5 s, the kiosk's settings
    python -m bench.link_cuts --stock         # the same with aiortc's and aioice's own behaviour
    python -m bench.link_cuts --smoke         # one 1 s cut (the suite runs this)

Two aiortc peers with the kiosk's settings (media/consent.py, media/stalls.py): one in a
network namespace behind a veth pair (tests/netfault.py), sending and receiving synthetic
video. Each cut is ``ip link set … down`` for its length; the figure is the time from the link
coming back to new video frames at each end (the namespaced end reports five times a second,
so its figures are 0.2 s coarse). Needs root. Not yet issue 14's bench.network (a Chromium
clerk and the kiosk through the real server): the peers here talk directly.

The last line is a JSON object: ``recover_p50_ms``, ``recover_p95_ms`` (over both ends of every
cut), ``worst_ms``, ``stock``.
"""

from __future__ import annotations

import asyncio
import time

from bench.cli import bench_parser, parse, report
from media import consent, stalls
from tests.netfault import ImpairedLink, call_across

GIVE_UP_S = 40.0
KEYS = ("recover_p50_ms", "recover_p95_ms", "worst_ms", "stock")


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def until(condition: object, limit_s: float) -> float | None:
    """Seconds until ``condition()`` holds (polled every 10 ms), None past ``limit_s``."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        if condition():  # type: ignore[operator]
            return time.monotonic() - started
        await asyncio.sleep(0.01)
    return None


async def run(cuts: list[float], stock: bool) -> dict[str, object]:
    """One call, the link cut ``cuts`` times; each end's recovery after each cut."""
    if not stock:
        consent.install()
        stalls.install()
    recoveries: list[float] = []
    async with ImpairedLink() as link, call_across(link, stock=stock) as call:
        received, peer = call.received, call.peer
        await until(lambda: peer.frames > 30, 30)
        for cut in cuts:
            await link.cut()
            await asyncio.sleep(cut)
            here, there = received.count, peer.frames
            await link.restore()
            back = await asyncio.gather(
                until(lambda: received.count > here + 2, GIVE_UP_S),  # noqa: B023
                until(lambda: peer.frames > there + 2, GIVE_UP_S),  # noqa: B023
            )
            shown = ["never" if b is None else f"{b * 1000:.0f} ms" for b in back]
            print(f"cut {cut:g} s: frames again here after {shown[0]}, in the namespace"
                  f" after {shown[1]}", flush=True)  # fmt: skip
            recoveries += [GIVE_UP_S if b is None else b for b in back]
            await asyncio.sleep(2)
    return {
        "recover_p50_ms": round(pct(recoveries, 0.5) * 1000),
        "recover_p95_ms": round(pct(recoveries, 0.95) * 1000),
        "worst_ms": round(max(recoveries) * 1000),
        "stock": stock,
    }


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--cuts", default="2,2,5,2,2,5", help="cut lengths in seconds")
    parser.add_argument("--stock", action="store_true", help="aiortc's and aioice's own behaviour")
    opts = parse(parser, smoke={"cuts": "1"})
    result = asyncio.run(run([float(c) for c in opts.cuts.split(",")], opts.stock))
    report(result, KEYS, smoke=opts.smoke)


if __name__ == "__main__":
    main()
