"""Offline speech with espeak-ng: real WAV files, one per text and voice, made off the loop."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from signaling.messages import LANGUAGES, Language
from terminal_client.errors import SpeechError, SpeechUnavailable
from terminal_client.kiosk.messages import Prompt
from terminal_client.kiosk.translations import Translations
from terminal_client.kiosk.tts import VOICES, Speech
from terminal_client.kiosk.voice import Voice
from tests.kiosk.conftest import wav_frames

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng)",
)

SAMPLES: dict[Language, str] = {
    "zh-Hant": "請將證件放在掃描器上",
    "zh-Hans": "请将证件放在扫描仪上",
    "en": "Please place your document on the scanner",
}


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("language", LANGUAGES)
async def test_each_language_speaks_with_its_voice(tmp_path: Path, language: Language) -> None:
    speech = Speech(tmp_path)
    name = await speech.synthesize(SAMPLES[language], language)
    path = speech.path(name)
    # at least half a second of sound at espeak-ng's 22050 Hz
    assert wav_frames(path) > 11025
    assert VOICES[language] in ("yue", "cmn", "en")


async def test_files_are_content_addressed_and_reused(tmp_path: Path) -> None:
    speech = Speech(tmp_path)
    first, second = await asyncio.gather(
        speech.synthesize("Thank you", "en"), speech.synthesize("Thank you", "en")
    )
    assert first == second == speech.name_for("Thank you", "en")
    made = speech.path(first).stat().st_mtime_ns
    assert await speech.synthesize("  Thank   you ", "en") == first
    assert speech.path(first).stat().st_mtime_ns == made
    assert speech.cached("Thank you", "en") == first
    assert speech.name_for("Thank you", "zh-Hans") != first  # another voice, another file
    assert _files(tmp_path) == [f"{first}.wav"]  # no partial files left


async def test_old_files_are_pruned(tmp_path: Path) -> None:
    speech = Speech(tmp_path, max_files=2)
    for word in ("one", "two", "three"):
        await speech.synthesize(word, "en")
    assert len(_files(tmp_path)) == 2


async def test_missing_espeak_says_how_to_install_it(tmp_path: Path) -> None:
    speech = Speech(tmp_path, executable="espeak-ng-not-here")
    with pytest.raises(SpeechUnavailable, match=r"apt-get install espeak-ng"):
        await speech.synthesize("hello", "en")


async def test_bad_names_and_empty_text_are_refused(tmp_path: Path) -> None:
    speech = Speech(tmp_path)
    with pytest.raises(SpeechError, match="64 hex digits"):
        speech.path("../../etc/passwd")
    with pytest.raises(SpeechError, match="empty"):
        await speech.synthesize("   ", "en")


async def test_voice_reads_a_prompt_with_its_lead_in(tmp_path: Path) -> None:
    voice = Voice(Speech(tmp_path), Translations.load())
    checklist = Prompt(id="p1", kind="checklist", text="", items=["身份證", "通行證"])
    assert voice.prompt_text(checklist, "zh-Hant") == "請準備以下材料。身份證。通行證"
    scanner = Prompt(id="p2", kind="place_document", text="Your passport.")
    assert voice.prompt_text(scanner, "en") == (
        "Please place your document on the scanner. Your passport"
    )
    url = await voice.url(voice.prompt_text(scanner, "en"), "en")
    assert url is not None and url.startswith("/tts/") and url.endswith(".wav")
    silent = Voice(Speech(tmp_path, executable="espeak-ng-not-here"), Translations.load())
    assert await silent.url("hello", "en") is None  # care mode still works, without sound
