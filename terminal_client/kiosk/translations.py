"""The kiosk's UI text: one flat JSON catalogue per language under ``kiosk/i18n/``.

The page loads the same files from ``/i18n/<language>.json``; the kiosk process reads them
for what it speaks in care mode. Values may hold ``{name}`` placeholders.
"""

from __future__ import annotations

import json
from pathlib import Path

from signaling.messages import LANGUAGES, Language
from terminal_client.errors import TranslationMissing

I18N_DIR = Path(__file__).parent / "i18n"


class Translations:
    """The three catalogues, checked at load to hold the same keys."""

    def __init__(self, catalogues: dict[Language, dict[str, str]]) -> None:
        self.catalogues = catalogues

    @classmethod
    def load(cls, directory: Path = I18N_DIR) -> Translations:
        """Read ``<language>.json`` for every language; raises :class:`TranslationMissing`."""
        catalogues: dict[Language, dict[str, str]] = {}
        for language in LANGUAGES:
            path = directory / f"{language}.json"
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise TranslationMissing(
                    f"cannot read the {language} catalogue {path}: {exc}; restore it from git"
                ) from exc
            if not isinstance(data, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in data.items()
            ):
                raise TranslationMissing(f"{path} must be one JSON object of text keys to text")
            catalogues[language] = data
        everything = set().union(*(c.keys() for c in catalogues.values()))
        gaps = [
            f"{language} lacks {', '.join(sorted(everything - c.keys()))}"
            for language, c in catalogues.items()
            if everything - c.keys()
        ]
        if gaps:
            raise TranslationMissing(
                f"the kiosk catalogues in {directory} differ: {'; '.join(gaps)}; add the keys"
            )
        return cls(catalogues)

    def text(self, language: Language, key: str, **params: object) -> str:
        """The text for ``key`` in ``language`` with ``{placeholders}`` filled in."""
        try:
            template = self.catalogues[language][key]
        except KeyError:
            raise TranslationMissing(
                f"no {language} text for {key!r}; add it to {I18N_DIR / (language + '.json')}"
            ) from None
        return template.format(**params) if params else template
