"""The test link's host end carries no address, ever: Chromium on this host sees no network
change (it fails the requests in flight when an address comes or goes)."""

from __future__ import annotations

import asyncio
import subprocess

from tests.netfault import ImpairedLink, require_netfault

# the kernel adds an IPv6 link-local address a second or two after a link comes up
SETTLE_S = 3.0


def addresses(interface: str) -> list[str]:
    out = subprocess.run(
        ["ip", "-o", "address", "show", "dev", interface], capture_output=True, check=True
    )
    return sorted(line.split()[3] for line in out.stdout.decode().splitlines())


async def test_the_host_end_gains_no_address_after_it_is_up_or_a_cut() -> None:
    require_netfault()
    async with ImpairedLink() as link:
        assert addresses(link.host_if) == []
        await asyncio.sleep(SETTLE_S)
        await link.cut()
        await link.restore()
        await asyncio.sleep(SETTLE_S)
        assert addresses(link.host_if) == []
