"""The real kiosk (:class:`TerminalClient`, synthetic camera) run inside a test's network namespace.

    ip netns exec NS python -m tests.media.kiosk_in_netns --server http://HOST-ADDRESS:PORT --token T

Driven by JSON lines on stdin, one command each::

    {"op": "request_service", "service_id": "tax-registration", "language": "en", "recall_of": null}
    {"op": "hangup"}
    {"op": "status"}
    {"op": "quit"}        (also when stdin closes: hang up media, wait for the recording's upload)

It reports JSON lines on stdout, each with ``"event"`` and the wall time ``"t"`` (the host's
clock, shared with the namespace): ``ready`` once connected; ``state`` at every change of
state (with ``session_id``, ``end_reason``, ``recall_of``); ``frames`` every ``--every`` s
(``video`` and ``audio`` frames decoded so far in this process, over all of its peer
connections, and ``video_at``, the wall times of the video frames decoded since the last
report, so recovery can be timed finer than the report); ``done`` answering a command (with
``session_id`` for request_service); ``error`` (a refused command or the server's error
event); ``closed`` last, with ``pending``, the recording segments the server does not have.
:class:`tests.netfault.NetnsKiosk` runs it and follows its reports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import av

from media import sources
from media.recording import RecordingSettings
from media.sources import SyntheticVideoTrack, create_local_tracks
from signaling.messages import ErrorEvent
from terminal_client.client import TerminalClient
from terminal_client.errors import TerminalError

log = logging.getLogger(__name__)


class Reporter:
    """Writes the JSON report lines and counts the frames the kiosk decodes."""

    def __init__(self) -> None:
        self.video = 0
        self.audio = 0
        self.video_at: list[float] = []
        self.terminal: TerminalClient | None = None

    def send(self, event: str, **fields: Any) -> None:
        print(json.dumps({"event": event, "t": time.time(), **fields}), flush=True)

    def on_video(self, _frame: av.VideoFrame | av.AudioFrame, wall: float) -> None:
        # counted here rather than from terminal.video_in, which starts again at each new peer
        self.video += 1
        self.video_at.append(round(wall, 4))

    def on_audio(self, _frame: av.VideoFrame | av.AudioFrame, _wall: float) -> None:
        self.audio += 1

    def call_fields(self) -> dict[str, Any]:
        terminal = self.terminal
        if terminal is None:
            return {}
        return {
            "state": terminal.state.value,
            "session_id": terminal.session_id,
            "end_reason": terminal.end_reason,
            "recall_of": terminal.recall_of,
            # which peer connection of the call (a new one after a failed one)
            "media_attempt": terminal.media_attempt,
            "weak": terminal.link.weak,
            "reconnecting": terminal.media_broken,
        }

    def on_change(self) -> None:
        self.send("state", **self.call_fields())

    def on_error(self, error: ErrorEvent) -> None:
        self.send("error", code=error.code, message=error.message, about=error.event)

    def frames(self) -> None:
        seen, self.video_at = self.video_at, []
        self.send("frames", video=self.video, audio=self.audio, video_at=seen, **self.call_fields())


async def report_frames(reporter: Reporter, every_s: float) -> None:
    while True:
        reporter.frames()
        await asyncio.sleep(every_s)


async def obey(terminal: TerminalClient, reporter: Reporter, command: dict[str, Any]) -> bool:
    """Carry out one command; False once told to quit."""
    op = command.get("op")
    try:
        if op == "request_service":
            session_id = await terminal.request_service(
                command.get("service_id", "tax-registration"),
                command.get("language", "en"),
                recall_of=command.get("recall_of"),
            )
            reporter.send("done", op=op, session_id=session_id)
        elif op == "hangup":
            await terminal.hangup()
            reporter.send("done", op=op)
        elif op == "status":
            reporter.frames()
            reporter.send("done", op=op)
        elif op == "quit":
            return False
        else:
            reporter.send("error", code="unknown_op", message=f"unknown op {op!r}", about=op)
    except TerminalError as exc:  # the kiosk's own errors (refused, not connected) as data
        reporter.send(
            "error", code=getattr(exc, "reason_code", "terminal"), message=str(exc), about=op
        )
    return True


async def main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    reporter = Reporter()
    recording = None if args.no_recording else RecordingSettings(segment_s=args.segment_s)
    terminal = TerminalClient(
        args.server, args.token,
        lambda: create_local_tracks(True, "", "", label=args.name),
        name=args.name, on_change=reporter.on_change, on_error=reporter.on_error,
        on_video_frame=reporter.on_video, on_audio_frame=reporter.on_audio,
        recording=recording, recording_dir=args.recording_dir,
        document_track=(
            (lambda: SyntheticVideoTrack(label="documents")) if args.document_camera else None
        ),
    )  # fmt: skip
    reporter.terminal = terminal
    reporting: asyncio.Task[None] | None = None
    try:
        await terminal.connect()
        reporter.send("ready", **reporter.call_fields())
        reporting = asyncio.create_task(report_frames(reporter, args.every))
        while line := await reader.readline():
            if line.strip() and not await obey(terminal, reporter, json.loads(line)):
                break
    finally:
        if reporting is not None:
            reporting.cancel()
        await terminal.close()  # waits for the last recording segments' upload
        pending = await asyncio.to_thread(terminal.backlog.pending)
        reporter.send("closed", pending=len(pending), video=reporter.video, audio=reporter.audio)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.strip().split("\n\n")[0])
    parser.add_argument("--server", required=True, help="the server's URL as seen from here")
    parser.add_argument("--token", required=True, help="the kiosk's terminal token")
    parser.add_argument("--name", default="kiosk-netns")
    parser.add_argument("--every", type=float, default=0.2, help="seconds between frame reports")
    parser.add_argument("--size", default="320x240", help="the synthetic camera's picture")
    parser.add_argument("--segment-s", type=float, default=RecordingSettings.segment_s)
    parser.add_argument("--no-recording", action="store_true")
    parser.add_argument(
        "--document-camera", action="store_true", help="a synthetic document camera as well"
    )
    parser.add_argument("--recording-dir", type=Path, default=None, help="a lasting backlog")
    parser.add_argument("--log-level", default="INFO", help="of its log on stderr")
    return parser.parse_args()


if __name__ == "__main__":
    opts = parse()
    width, height = (int(n) for n in opts.size.split("x"))
    # the suite's small camera (tests/conftest.py small_synthetic_camera), in this process too
    sources.SYNTHETIC_VIDEO = sources.VideoFormat(width, height, sources.SYNTHETIC_VIDEO.fps)
    logging.basicConfig(level=opts.log_level, stream=sys.stderr, format="%(name)s %(message)s")
    logging.getLogger("aioice").setLevel(logging.WARNING)  # a line per candidate pair
    asyncio.run(main(opts))
