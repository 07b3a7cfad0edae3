"""The server's periodic signed checkpoint of every session chain's head (see storage.checkpoints)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from signaling.keys import DATABASE, SETTINGS
from signaling.logs import context_log
from storage.checkpoints import chain_heads, latest_checkpoint, load_or_create_key, make_checkpoint
from storage.db import Database

log = logging.getLogger(__name__)


def checkpoint_key_path(data_dir: Path) -> Path:
    """Where the server's checkpoint signing key (Ed25519, PEM) lives."""
    return data_dir / "audit-signing.pem"


async def checkpoint_if_changed(db: Database, key_path: Path) -> bool:
    """Sign a new checkpoint unless the chains are where the last one left them."""
    latest = await latest_checkpoint(db)
    if latest is not None and latest.heads == await chain_heads(db):
        return False
    key = await asyncio.to_thread(load_or_create_key, key_path)
    await make_checkpoint(db, key)
    return True


async def _loop(db: Database, key_path: Path, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await checkpoint_if_changed(db, key_path)
        except (SQLAlchemyError, OSError) as exc:
            # the next round tries again; verification without a fresh checkpoint still works
            context_log(log, None, "server").error("checkpoint failed: %s", exc)


async def checkpointer(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: sign checkpoints every ``checkpoint_interval_s`` and once at shutdown."""
    settings = app[SETTINGS]
    key_path = checkpoint_key_path(settings.data_dir)
    task = None
    if settings.checkpoint_interval_s > 0:
        task = asyncio.get_running_loop().create_task(
            _loop(app[DATABASE], key_path, settings.checkpoint_interval_s)
        )
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(SQLAlchemyError, OSError):
            await checkpoint_if_changed(app[DATABASE], key_path)
