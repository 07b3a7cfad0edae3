"""The server's periodic signed checkpoint of every chain's head (see storage.checkpoints)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from signaling.keys import DATABASE, SETTINGS
from signaling.logs import context_log
from signaling.settings import Settings
from storage.checkpoint_keys import PinnedKeys, load_or_create_key
from storage.checkpoints import Checkpoint, CheckpointRefused, Timestamper, make_checkpoint
from storage.db import Database
from storage.errors import VcounterError
from storage.timestamps import TimestampFailed, request_token
from storage.witness import witness_from

log = logging.getLogger(__name__)


def timestamper(settings: Settings) -> Timestamper | None:
    """Ask ``tsa_url`` for a token; an unreachable TSA is logged and the checkpoint signed anyway."""
    url = settings.tsa_url
    if not url:
        return None

    async def stamp(digest: bytes) -> str | None:
        try:
            return await request_token(url, digest)
        except TimestampFailed as exc:
            # a checkpoint without a token is still a checkpoint; verification names the gap
            context_log(log, None, "server").error("%s", exc.message)
            return None

    return stamp


async def sign_checkpoint(
    db: Database, settings: Settings, *, only_if_changed: bool = False, adopt: bool = False
) -> Checkpoint | None:
    """Sign the next checkpoint as ``settings`` say (key, pinned keys, witness, TSA).

    Raises :class:`CheckpointRefused` when the chains do not extend the last checkpoint.
    """
    key = await asyncio.to_thread(load_or_create_key, settings.checkpoint_key_path)
    pinned = await asyncio.to_thread(PinnedKeys.parse, settings.audit_public_keys)
    gap = settings.checkpoint_max_gap_s
    return await make_checkpoint(
        db,
        key,
        trusted=pinned.fingerprints,
        witness=witness_from(settings.audit_witness),
        timestamper=timestamper(settings),
        only_if_changed=only_if_changed,
        first_max_age_s=None if adopt else gap,
    )


async def checkpoint_if_changed(db: Database, settings: Settings) -> bool:
    """Sign a new checkpoint unless the chains are where the last one left them."""
    return await sign_checkpoint(db, settings, only_if_changed=True) is not None


async def _round(db: Database, settings: Settings) -> None:
    try:
        await checkpoint_if_changed(db, settings)
    except CheckpointRefused:
        pass  # logged loudly where it was refused; nothing is signed until someone looks
    except (SQLAlchemyError, OSError, VcounterError) as exc:
        # the next round tries again
        context_log(log, None, "server").error("checkpoint failed: %s", exc)


async def _loop(db: Database, settings: Settings) -> None:
    while True:
        await asyncio.sleep(settings.checkpoint_interval_s)
        await _round(db, settings)


async def checkpointer(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: sign checkpoints every ``checkpoint_interval_s`` and once at shutdown."""
    settings = app[SETTINGS]
    task = None
    if settings.checkpoint_interval_s > 0:
        task = asyncio.get_running_loop().create_task(_loop(app[DATABASE], settings))
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await _round(app[DATABASE], settings)


__all__ = ["TimestampFailed", "checkpoint_if_changed", "checkpointer", "sign_checkpoint"]
