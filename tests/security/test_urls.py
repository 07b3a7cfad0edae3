"""Hole 1: links come from configuration, and the kiosk only talks to its own server."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from signaling.paperwork.messages import DocumentRef
from terminal_client.errors import PaperworkRefused
from terminal_client.paperwork import KioskPaperwork
from terminal_client.printer import PrintQueue, SpoolPrinter
from tests.security.conftest import Counter, assert_responsive, request, stored_state


async def test_a_forged_host_header_does_not_reach_the_links(counter: Counter) -> None:
    server = counter.server
    before = await stored_state(server)
    status, sign = await request(
        server,
        "POST",
        f"/api/sessions/{counter.session_id}/form",
        counter.clerk_token,
        headers={"Host": "evil.example:9999", "X-Forwarded-Host": "evil.example"},
    )
    assert status == 201, sign
    assert sign["preview_url"].startswith(f"{server.url}/api/sessions/")
    assert sign["form"]["url"].startswith(f"{server.url}/")
    assert "evil" not in str(sign)
    await assert_responsive(server)
    # the form itself was recorded; what was there before is untouched
    after = await stored_state(server)
    assert after["events"][: len(before["events"])] == before["events"]


async def test_the_kiosk_sends_its_token_to_no_other_host(counter: Counter, tmp_path: Path) -> None:
    seen: list[str] = []

    async def evil(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.Response(body=b"%PDF-1.4")

    app = web.Application()
    app.router.add_get("/{tail:.*}", evil)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        queue = PrintQueue(SpoolPrinter(tmp_path / "spool"), tmp_path / "queue")
        paperwork = KioskPaperwork(counter.server.url, counter.terminal_token, queue)
        ref = DocumentRef.model_validate(
            {
                "doc_id": "0" * 32,
                "kind": "receipt",
                "sha256": "0" * 64,
                "url": f"http://127.0.0.1:{port}/api/sessions/x/documents/y.pdf",
            }
        )
        with pytest.raises(PaperworkRefused, match="only fetches from its own server"):
            await paperwork.fetch(ref)
    finally:
        await runner.cleanup()
    assert seen == []
