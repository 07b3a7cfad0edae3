"""What the kiosk needs from TerminalClient: callbacks instead of polling, decoded frames for
the screen, care mode on the request, prompts and steps, and the rating."""

from __future__ import annotations

import asyncio
from typing import Any

import av
import pytest

from media.sources import create_local_tracks
from signaling.messages import ErrorEvent, Prompt
from terminal_client.client import TerminalClient, TerminalState
from terminal_client.errors import ServiceRefused, TerminalError
from tests.conftest import RunningServer
from tests.kiosk.conftest import Clerk, stored_rating


async def test_callbacks_frames_prompts_steps_and_rating(
    server: RunningServer, clerk: Clerk
) -> None:
    changes: list[TerminalState] = []
    prompts: list[Prompt] = []
    steps: list[int] = []
    pushed = asyncio.Event()

    def on_prompt(prompt: Prompt) -> None:
        prompts.append(prompt)
        pushed.set()

    frames: dict[str, int] = {"video": 0, "audio": 0}

    def on_frame(kind: str) -> Any:
        def count(frame: av.VideoFrame | av.AudioFrame, wall_time: float) -> None:
            assert wall_time > 0
            frames[kind] += 1

        return count

    client = TerminalClient(
        server.url,
        await server.add_terminal("kiosk-callbacks"),
        lambda: create_local_tracks(True, "", "", label="kiosk"),
        on_change=lambda: changes.append(client.state),
        on_prompt=on_prompt,
        on_step=steps.append,
        on_video_frame=on_frame("video"),
        on_audio_frame=on_frame("audio"),
    )
    try:
        await client.connect()
        with pytest.raises(TerminalError, match='cannot rate while "idle"'):
            await client.rate("0" * 32, 5)  # nothing has ended yet: no call to rate
        session_id = await client.request_service("tax-filing", "en", care_mode=True)
        assert clerk.peer.offers == [] and client.state == TerminalState.QUEUED
        await clerk.available()
        await client.wait_for(TerminalState.IN_CALL, timeout=20)
        # the frames are the clerk's, decoded, handed over as they arrive
        await client.video_in.wait_for(10, timeout=10)
        await client.audio_in.wait_for(10, timeout=10)
        assert frames["video"] >= 10 and frames["audio"] >= 10
        assert clerk.peer.offers[0].care_mode

        await clerk.step(5)
        await clerk.push("checklist", "", ["Passport"])  # sent after the step: arrives after
        await asyncio.wait_for(pushed.wait(), 5)
        assert (client.step, steps) == (5, [5])
        assert prompts[0].items == ["Passport"] and client.prompts == prompts

        await clerk.hangup()
        await client.wait_for(TerminalState.ENDED)
        await client.rate(session_id, 3, "ok")
        row = await stored_rating(server, session_id)
    finally:
        await client.close()
    # the UI heard every step of the way without polling
    path = [TerminalState.IDLE, TerminalState.QUEUED, TerminalState.CONNECTING]
    path += [TerminalState.IN_CALL, TerminalState.ENDED]
    seen = iter(changes)
    assert all(state in seen for state in path), changes
    with pytest.raises(TerminalError, match="not connected"):
        await client.hangup()
    assert (row.rating, row.rating_comment, row.care_mode) == (3, "ok", True)


async def test_a_refused_request_carries_the_server_code(server: RunningServer) -> None:
    errors: list[ErrorEvent] = []
    client = TerminalClient(
        server.url,
        await server.add_terminal("kiosk-refused"),
        lambda: create_local_tracks(True, "", "", label="kiosk"),
        on_error=errors.append,
    )
    try:
        await client.connect()
        with pytest.raises(ServiceRefused) as refused:
            await client.request_service("no-such-service", "en")
        assert refused.value.reason_code == "unknown_service"
        assert "no-such-service" in refused.value.message
        assert [e.code for e in errors] == ["unknown_service"]
    finally:
        await client.close()
