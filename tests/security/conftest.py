"""Helpers for the attack tests: what is stored before and after, and a liveness probe.

Each test in this folder is written as the attack: it asserts the refusal, that the server
still answers, and that nothing already stored changed (:func:`stored_state`).
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from storage.models import CallSession, Clerk, SessionEvent, Terminal
from tests.conftest import RunningServer
from tests.sign.conftest import Counter, counter, open_counter  # noqa: F401


def _files(root: Path) -> list[tuple[str, str]]:
    return sorted(
        (str(p.relative_to(root)), hashlib.sha256(p.read_bytes()).hexdigest())
        for p in root.rglob("*")
        if p.is_file()
    )


async def stored_state(server: RunningServer) -> dict[str, Any]:
    """A fingerprint of what the store holds: sessions, their chains, accounts, kiosks, files."""
    async with server.db.sessions() as s:
        events = [(e.session_id, e.seq, e.hash) for e in await s.scalars(select(SessionEvent))]
        sessions = [
            (r.id, r.state, r.clerk_id, r.ended_at) for r in await s.scalars(select(CallSession))
        ]
        clerks = [
            (c.username, c.password_hash, c.disabled, c.token_version)
            for c in await s.scalars(select(Clerk))
        ]
        terminals = [
            (t.name, t.token_hash, t.revoked_at) for t in await s.scalars(select(Terminal))
        ]
    blobs = await asyncio.to_thread(_files, server.settings.data_dir / "blobs")
    return {
        "events": sorted(events),
        "sessions": sorted(sessions, key=lambda r: r[0]),
        "clerks": sorted(clerks),
        "terminals": sorted(terminals, key=lambda t: t[0]),
        "blobs": blobs,
    }


async def assert_responsive(server: RunningServer) -> None:
    """The server still answers an ordinary request."""
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/api/health") as r:
        assert r.status == 200
        assert (await r.json())["status"] == "ok"


async def request(
    server: RunningServer,
    method: str,
    path: str,
    token: str | None = None,
    **kw: Any,
) -> tuple[int, Any]:
    """One request; the JSON body (or the bytes) and the status."""
    headers = dict(kw.pop("headers", {}))
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"{server.url}{path}", headers=headers, **kw) as r,
    ):
        body = await r.read()
        if r.content_type == "application/json":
            import json

            return r.status, json.loads(body)
        return r.status, body
