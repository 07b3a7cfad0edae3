"""Runs a headless terminal: call, stay in the call until it ends, optionally call again."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence

from media.sources import create_local_tracks
from signaling.logs import context_log
from signaling.messages import Language
from terminal_client.client import TerminalClient, TerminalState
from terminal_client.errors import TerminalError

log = logging.getLogger(__name__)


async def run_terminal(
    server_url: str,
    token: str,
    services: Sequence[str],
    language: Language,
    synthetic: bool,
    camera: str,
    microphone: str,
    repeat: bool,
    pause_s: float = 5.0,
    name: str = "terminal",
) -> None:
    """Call for each service in turn (forever with ``repeat``), reconnecting after drops."""
    client = TerminalClient(
        server_url,
        token,
        lambda: create_local_tracks(synthetic, camera, microphone, label=name),
        name=name,
    )
    rounds = itertools.cycle(services) if repeat else iter(services)
    try:
        for service_id in rounds:
            if client.state == TerminalState.DISCONNECTED:
                await _connect(client, repeat, pause_s)
            await client.request_service(service_id, language)
            state = await client.wait_for(
                TerminalState.ENDED, TerminalState.DISCONNECTED, timeout=24 * 3600
            )
            context_log(log, client.session_id, f"terminal:{name}").info(
                "call over: %s (%s); video frames in %d, audio frames in %d",
                state,
                client.end_reason,
                client.video_in.count,
                client.audio_in.count,
            )
            if repeat:
                await asyncio.sleep(pause_s)
    finally:
        await client.close()


async def _connect(client: TerminalClient, retry: bool, pause_s: float) -> None:
    while True:
        try:
            await client.connect()
            return
        except TerminalError as exc:
            if not retry:
                raise
            log.warning("%s; retrying in %g s", exc.message, pause_s)
            await asyncio.sleep(pause_s)
