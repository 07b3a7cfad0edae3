"""Offline speech for care mode (关爱模式): espeak-ng renders text to WAV files.

Files are content-addressed (SHA-256 of voice, speed and text), so a screen's instruction is
synthesised once and then served from disk; the kiosk page plays them from ``/tts/<name>.wav``.
espeak-ng runs as a subprocess, so the event loop never waits on synthesis.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import shutil
from pathlib import Path

from signaling.messages import Language
from terminal_client.errors import SpeechError, SpeechUnavailable

log = logging.getLogger(__name__)

# Cantonese for Traditional Chinese (Hong Kong, Macau), Mandarin for Simplified Chinese.
VOICES: dict[Language, str] = {"zh-Hant": "yue", "zh-Hans": "cmn", "en": "en"}
# words per minute: slower than espeak's 175 default, for older listeners
CARE_SPEED_WPM = 140
SYNTH_TIMEOUT_S = 20.0
NAME_PATTERN = re.compile(r"^[0-9a-f]{64}$")
MAX_TEXT_CHARS = 2000


class Speech:
    """Turns text into WAV files under ``directory`` with espeak-ng; one instance per kiosk."""

    def __init__(
        self,
        directory: Path,
        executable: str = "espeak-ng",
        speed_wpm: int = CARE_SPEED_WPM,
        max_files: int = 500,
    ) -> None:
        self.directory = directory
        self.executable = executable
        self.speed_wpm = speed_wpm
        self.max_files = max_files
        self._inflight: dict[str, asyncio.Future[str]] = {}

    def check(self) -> str:
        """The path of espeak-ng; raises :class:`SpeechUnavailable` saying how to install it."""
        found = shutil.which(self.executable)
        if found is None:
            raise SpeechUnavailable(
                f"{self.executable!r} is not installed, so care mode cannot speak;"
                " install it with `apt-get install espeak-ng`"
            )
        return found

    def name_for(self, text: str, language: Language) -> str:
        """The file name (without ``.wav``) that ``text`` spoken in ``language`` has."""
        key = f"{VOICES[language]}\n{self.speed_wpm}\n{_normalize(text)}"
        return hashlib.sha256(key.encode("utf-8")).hexdigest()

    def path(self, name: str) -> Path:
        """Where the WAV called ``name`` lives; raises :class:`SpeechError` for a bad name."""
        if not NAME_PATTERN.match(name):
            raise SpeechError(f"{name!r} is not a speech file name (64 hex digits)")
        return self.directory / f"{name}.wav"

    def cached(self, text: str, language: Language) -> str | None:
        """The name of an existing WAV for ``text`` in ``language``, or None."""
        name = self.name_for(text, language)
        return name if self.path(name).exists() else None

    async def synthesize(self, text: str, language: Language) -> str:
        """Speak ``text`` in ``language`` into a WAV file and return its name.

        Concurrent requests for the same text share one espeak-ng run.
        """
        text = _normalize(text)
        if not text:
            raise SpeechError("nothing to say: the text is empty")
        name = self.name_for(text, language)
        if self.path(name).exists():
            return name
        running = self._inflight.get(name)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._inflight[name] = future
        try:
            await self._run(text, language, name)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:  # re-raised: only handed to the waiters as well
            future.set_exception(exc)
            future.exception()  # retrieved here, so asyncio does not warn if nobody waits
            raise
        else:
            future.set_result(name)
        finally:
            del self._inflight[name]
        return name

    async def _run(self, text: str, language: Language, name: str) -> None:
        executable = self.check()
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(name)
        partial = target.with_suffix(f".{os.getpid()}.part")
        process = await asyncio.create_subprocess_exec(
            executable, "-v", VOICES[language], "-s", str(self.speed_wpm),
            "-w", str(partial), "--stdin",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            # text on stdin: a prompt that starts with "-" must not be read as an option
            _, stderr = await asyncio.wait_for(
                process.communicate(text.encode("utf-8")), SYNTH_TIMEOUT_S
            )
        except TimeoutError as exc:
            process.kill()
            await process.wait()
            partial.unlink(missing_ok=True)
            raise SpeechError(
                f"espeak-ng took over {SYNTH_TIMEOUT_S:g} s for {len(text)} characters;"
                " check the machine's load"
            ) from exc
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            partial.unlink(missing_ok=True)
            raise
        if process.returncode != 0 or not partial.exists():
            partial.unlink(missing_ok=True)
            detail = stderr.decode("utf-8", "replace").strip() or f"exit code {process.returncode}"
            raise SpeechError(
                f"espeak-ng could not speak voice {VOICES[language]!r}: {detail};"
                " check that the espeak-ng-data voices are installed"
            )
        # rename last, so a half-written file is never served or taken for a cached one
        partial.replace(target)
        log.info("spoke %d characters in %s -> %s.wav", len(text), VOICES[language], name[:12])
        self._prune()

    def _prune(self) -> None:
        """Keep the newest ``max_files`` WAVs: clerk prompts are many and mostly one-off."""
        files = sorted(self.directory.glob("*.wav"), key=lambda p: p.stat().st_mtime)
        for old in files[: max(0, len(files) - self.max_files)]:
            old.unlink(missing_ok=True)


def _normalize(text: str) -> str:
    """Whitespace does not change what is said: one file for both spellings."""
    return " ".join(text.split())[:MAX_TEXT_CHARS]
