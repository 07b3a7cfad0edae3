"""The kiosk's e-ID card: every phase has its text in every language, and care mode speaks
what to do now, or what went wrong, in the applicant's language."""

from __future__ import annotations

import json
import typing

from signaling.messages import LANGUAGES
from terminal_client.kiosk.eid_ui import KNOWN_REFUSALS, spoken
from terminal_client.kiosk.messages import EidView
from terminal_client.kiosk.translations import I18N_DIR, Translations


def test_every_phase_and_refusal_has_its_text_in_every_language() -> None:
    phases = typing.get_args(EidView.model_fields["phase"].annotation)
    wanted = {f"eid.phase.{p}" for p in phases} | {"eid.phase.done_lower", "eid.refused.other"}
    wanted |= {f"eid.refused.{code}" for code in KNOWN_REFUSALS}
    for language in LANGUAGES:
        catalogue = json.loads((I18N_DIR / f"{language}.json").read_text(encoding="utf-8"))
        assert not wanted - set(catalogue), (language, sorted(wanted - set(catalogue)))


def test_care_mode_says_what_to_do_or_what_went_wrong() -> None:
    texts = Translations.load()
    showing = EidView(phase="qr", providers=[], provider="iamsmart", expires_in_s=300)
    assert spoken(showing, "en", texts) == (
        "Scan this QR code with your phone's camera, then sign in on your phone."
        " The code works for 5 minutes."
    )
    refused = EidView(phase="refused", providers=[], error_key="eid.refused.eid_bad_signature")
    assert spoken(refused, "zh-Hant", texts) == (
        "電子身份登入未能完成。可以再試，或插入證件。身份證明的簽名無效，已拒絕。"
    )
    unknown = EidView(phase="refused", providers=[], error_key="eid.refused.eid_new_code")
    assert "请再试，或请职员协助" in spoken(unknown, "zh-Hans", texts)
    weaker = EidView(phase="done", providers=[], assurance="lower")
    assert spoken(weaker, "en", texts) == "You are signed in. The clerk will confirm your identity."
