"""Hole 3: the public /verify is cheap, rate-limited and says only genuine or not, per part."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.security.conftest import Counter, assert_responsive, stored_state
from tests.sign.conftest import sign


async def _upload(url: str, data: bytes) -> tuple[int, str]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename="x.pdf", content_type="application/pdf")
    async with aiohttp.ClientSession() as http, http.post(f"{url}/verify", data=form) as r:
        return r.status, await r.text()


async def test_a_changed_copy_does_not_read_back_the_stored_original(counter: Counter) -> None:
    signed = await sign(counter)
    server = counter.server
    receipt = next(d for d in signed["documents"] if d["kind"] == "receipt")
    status, pdf = await counter.as_kiosk("GET", receipt["url"].removeprefix(server.url))
    assert status == 200
    before = await stored_state(server)
    changed = bytearray(pdf)
    changed[2000] ^= 0x20
    status, text = await _upload(server.url, bytes(changed))
    assert status == 409
    assert "differs from the stored original" in text
    # no offset, no stored byte value, no hash of the original
    for leak in ("byte 2000", "0x", receipt["sha256"], "object"):
        assert leak not in text
    assert await stored_state(server) == before
    await assert_responsive(server)


async def test_a_flood_of_checks_is_refused_per_address(counter: Counter) -> None:
    server = counter.server
    junk = b"%PDF-1.4 not ours " * 100
    results = await asyncio.gather(*(_upload(server.url, junk) for _ in range(15)))
    statuses = [s for s, _ in results]
    assert 429 in statuses  # the burst is 5, then 20 a minute
    assert statuses.count(409) <= 6
    await assert_responsive(server)


async def test_an_oversized_upload_is_refused_before_it_is_read(counter: Counter) -> None:
    server = counter.server
    status, text = await _upload(server.url, b"%PDF" + b"\0" * (11 * 1024 * 1024))
    assert status == 413 and "at most" in text
    await assert_responsive(server)
