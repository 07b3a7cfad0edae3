"""Every identity error and phase has its sentence in all three kiosk languages."""

from __future__ import annotations

import json
import typing
from pathlib import Path

from media.errors import DeviceUnavailable, IdentityError
from media.liveness import Action
from signaling.messages import LANGUAGES
from storage.errors import VcounterError
from terminal_client.errors import IdentityUploadFailed, ReaderError
from terminal_client.id_reader import SimulatedCardReader
from terminal_client.identity import Progress
from terminal_client.kiosk.identity_step import KioskIdentity
from terminal_client.kiosk.messages import IdentityView
from terminal_client.kiosk.translations import I18N_DIR


def _codes(base: type[VcounterError]) -> set[str]:
    found = {base.code}
    for sub in base.__subclasses__():
        found |= _codes(sub)
    return found


def test_identity_texts_exist_in_every_language() -> None:
    phases = typing.get_args(IdentityView.model_fields["phase"].annotation)
    codes = _codes(IdentityError) | _codes(ReaderError)
    codes |= {IdentityUploadFailed.code, DeviceUnavailable.code}
    wanted = {f"identity.error.{c}" for c in codes}
    wanted |= {f"identity.phase.{p}" for p in phases}
    wanted |= {f"identity.action.{a.value}" for a in Action}
    for language in LANGUAGES:
        catalogue = json.loads((I18N_DIR / f"{language}.json").read_text())
        assert not wanted - set(catalogue), (language, sorted(wanted - set(catalogue)))


def test_the_spoken_instruction_names_the_movement_or_the_error() -> None:
    from terminal_client.kiosk.translations import Translations
    from terminal_client.kiosk.voice import Voice

    voice = Voice(None, Translations.load())
    asking = IdentityView(phase="challenge", action="turn_left", attempts=1)
    assert voice.identity_text(asking, "en") == (
        "Keep looking at the camera and do this. Slowly turn your head to your left"
    )
    failed = IdentityView(phase="failed", error_key="identity.error.card_removed", attempts=1)
    assert "證件在讀取完成前被取出" in voice.identity_text(failed, "zh-Hant")
    unknown = IdentityView(phase="failed", error_key="identity.error.something_new")
    assert "身份核验未能完成" in voice.identity_text(unknown, "zh-Hans")


async def test_a_failed_attempt_shows_its_reason_from_the_first_view() -> None:
    # the attempt reports "failed" with its code before the step keeps the error itself: a
    # view taken in between (the page's, or bench.full_flow's) had no reason to show
    step = KioskIdentity(lambda _engine, _worker: SimulatedCardReader(Path("/nonexistent")), "http://127.0.0.1:9", "token")  # fmt: skip
    try:
        step._session_id = "s" * 32
        step._on_progress(Progress("failed", error_code="card_removed"))
        view = step.view("s" * 32)
        assert view is not None and view.error_key == "identity.error.card_removed"
    finally:
        await step.close()
