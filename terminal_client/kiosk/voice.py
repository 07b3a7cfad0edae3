"""What the kiosk says in care mode (关爱模式): each screen's instruction and each clerk prompt.

The words come from the translation catalogues (``speak.<screen>``, ``prompt.*``); the
sound from :class:`~terminal_client.kiosk.tts.Speech`. Pages play ``/tts/<name>.wav``.
"""

from __future__ import annotations

import logging

from signaling.messages import Language
from terminal_client.errors import SpeechError
from terminal_client.kiosk.messages import IdentityView, Prompt, Screen
from terminal_client.kiosk.translations import Translations
from terminal_client.kiosk.tts import Speech

log = logging.getLogger(__name__)


def speech_url(name: str) -> str:
    """The kiosk page's URL of the WAV file ``name``."""
    return f"/tts/{name}.wav"


class Voice:
    """Turns screens and prompts into WAV URLs; without espeak-ng it stays silent."""

    def __init__(self, speech: Speech | None, translations: Translations) -> None:
        self.speech = speech
        self.translations = translations
        self._failed = False

    def screen_text(self, screen: Screen, language: Language) -> str:
        """The main instruction of ``screen``, as it is spoken."""
        return self.translations.text(language, f"speak.{screen.value}")

    def prompt_text(self, prompt: Prompt, language: Language) -> str:
        """A clerk prompt as it is spoken: the kind's lead-in, the text, each item."""
        t = self.translations.text
        parts = {
            "text": [prompt.text],
            "checklist": [t(language, "prompt.checklist"), prompt.text, *prompt.items],
            "place_document": [t(language, "prompt.place_document"), prompt.text],
        }[prompt.kind]
        # a full stop between parts makes espeak-ng pause, as a person reading a list would
        stop = ". " if language == "en" else "。"
        return stop.join(p.strip().rstrip(".。") for p in parts if p.strip())

    def identity_text(self, view: IdentityView, language: Language) -> str:
        """The identity step's instruction as it is spoken: what to do, or what went wrong."""
        t = self.translations.text
        phase = "identity.confirmed_by_clerk" if view.confirmed_by_clerk else None
        parts = [t(language, phase or f"identity.phase.{view.phase}")]
        if view.action is not None and view.phase in ("face", "challenge"):
            parts.append(t(language, f"identity.action.{view.action}"))
        if view.error_key is not None:
            known = view.error_key in self.translations.catalogues[language]
            parts.append(t(language, view.error_key if known else "identity.error.identity_error"))
        stop = ". " if language == "en" else "。"
        return stop.join(p.strip().rstrip(".。:：") for p in parts if p.strip())

    def cached_url(self, text: str, language: Language) -> str | None:
        """The URL of ``text`` if it was spoken before (no waiting), else None."""
        if self.speech is None:
            return None
        name = self.speech.cached(text, language)
        return speech_url(name) if name else None

    async def url(self, text: str, language: Language) -> str | None:
        """Speak ``text`` and return its URL; None (logged once) if speech is unavailable."""
        if self.speech is None or not text.strip():
            return None
        try:
            return speech_url(await self.speech.synthesize(text, language))
        except SpeechError as exc:
            # care mode stays usable without sound; say so once, not on every screen
            if not self._failed:
                self._failed = True
                log.error("care mode cannot speak: %s", exc.message)
            return None
