"""Every failure of a reprint's ID re-check has its sentence in all three kiosk languages."""

from __future__ import annotations

import json
import typing

from media.errors import DeviceUnavailable, IdentityError
from signaling.messages import LANGUAGES
from signaling.paperwork.errors import IdentityMismatch
from storage.errors import VcounterError
from terminal_client.errors import ReaderError
from terminal_client.kiosk.messages import LookupView
from terminal_client.kiosk.translations import I18N_DIR


def _codes(base: type[VcounterError]) -> set[str]:
    found = {base.code}
    for sub in base.__subclasses__():
        found |= _codes(sub)
    return found


def test_reprint_texts_exist_in_every_language() -> None:
    codes = _codes(IdentityError) | _codes(ReaderError) | _codes(IdentityMismatch)
    codes |= {DeviceUnavailable.code, "network", "other"}
    wanted = {f"reprint.error.{c}" for c in codes}
    states = typing.get_args(LookupView.model_fields["state"].annotation)
    wanted |= {f"reprint.phase.{s}" for s in ("document", "reading", "face", "challenge", "failed")}
    assert set(states) >= {"document", "reading", "face", "challenge", "failed", "unavailable"}
    wanted |= {"reprint.unavailable", "reprint.retry", "error.no_id_reader"}
    for language in LANGUAGES:
        catalogue = json.loads((I18N_DIR / f"{language}.json").read_text())
        assert not wanted - set(catalogue), (language, sorted(wanted - set(catalogue)))
        assert "result.document_label" not in catalogue  # the ID number is read, never typed
