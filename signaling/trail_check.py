"""The server's own hold of a session's chain against the signed checkpoints.

The public ``/verify`` page and the supervisor's chain badge used to recompute the chain
from its rows only, which whoever holds the database passes by rewriting every hash. Here
the chain is also held against every checkpoint signed by a trusted key
(:func:`storage.trail.chain_against`): ``audit_public_keys`` when configured, else the
server's own checkpoint key as read at start.

Cheap enough for the public: the checkpoints are loaded once and again only when a newer
one exists (one small query per check), and the comparison is one pass over the session's
events and the checkpoints. The auditor's full check (checkpoint chain, witness, time
stamps) stays ``vcounter audit verify``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from signaling.keys import DATABASE, SETTINGS
from storage.checkpoint_keys import PinnedKeys, fingerprint, load_or_create_key
from storage.checkpoints import Checkpoint, all_checkpoints, latest_checkpoint
from storage.db import Database
from storage.models import SessionEvent
from storage.problems import Problem
from storage.trail import ChainEvent, Policy, chain_against


class TrailCheck:
    """Holds session chains against the signed checkpoints; one per app."""

    def __init__(self, db: Database, pinned: PinnedKeys, max_gap_s: float | None) -> None:
        self.db = db
        self.pinned = pinned
        self.max_gap_s = max_gap_s
        self._checkpoints: list[Checkpoint] = []
        self._seq: int | None = None
        self._lock = asyncio.Lock()

    async def _current(self) -> list[Checkpoint]:
        latest = await latest_checkpoint(self.db)
        seq = latest.seq if latest is not None else 0
        async with self._lock:
            if seq != self._seq:
                self._checkpoints = await all_checkpoints(self.db)
                self._seq = seq
            return self._checkpoints

    async def problems(self, session_id: str, events: Sequence[SessionEvent]) -> list[Problem]:
        """What the checkpoints say against this chain (empty when they vouch for it)."""
        checkpoints = await self._current()
        chain = [ChainEvent(e.seq, e.hash, e.created_at) for e in events]
        policy = Policy(self.pinned, max_gap_s=self.max_gap_s)
        return chain_against("chain", session_id, chain, checkpoints, policy)


TRAIL = web.AppKey("trail_check", TrailCheck)


async def trail_check(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the app's :class:`TrailCheck` (after the database and checkpointer)."""
    settings = app[SETTINGS]
    pinned = await asyncio.to_thread(PinnedKeys.parse, settings.audit_public_keys)
    if not pinned:
        key = await asyncio.to_thread(load_or_create_key, settings.checkpoint_key_path)
        pinned = PinnedKeys.parse([fingerprint(key)])
    app[TRAIL] = TrailCheck(app[DATABASE], pinned, settings.checkpoint_max_gap_s)
    yield
