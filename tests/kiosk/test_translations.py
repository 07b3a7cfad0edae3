"""Every text the kiosk shows or says exists in all three languages, and none is hard-coded."""

from __future__ import annotations

import json
import re
import string
from html.parser import HTMLParser
from pathlib import Path

import pytest

from signaling.errors import SignalingError
from signaling.messages import LANGUAGES
from storage.errors import StorageError, VcounterError
from terminal_client.errors import TerminalError, TranslationMissing
from terminal_client.kiosk.messages import STEPS, Screen
from terminal_client.kiosk.signing import DECISIONS
from terminal_client.kiosk.translations import I18N_DIR, Translations

KIOSK = Path(__file__).resolve().parents[2] / "terminal_client" / "kiosk"
STATIC = KIOSK / "static"
CATALOGUES = {lang: json.loads((I18N_DIR / f"{lang}.json").read_text()) for lang in LANGUAGES}
KEYS = set(CATALOGUES["en"])
NAMESPACES = {key.split(".", 1)[0] for key in KEYS}
# a string literal that looks like a text key: "queue.position", 'step.3'
KEY_LITERAL = re.compile(r"""["'`]([a-z][a-z0-9_]*\.[A-Za-z0-9_.-]+)["'`]""")
CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


def _codes(base: type[VcounterError]) -> set[str]:
    found = {base.code}
    for sub in base.__subclasses__():
        found |= _codes(sub)
    return found


class _Markup(HTMLParser):
    """Collects data-i18n* keys and any text outside SVG/script/style."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: set[str] = set()
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("svg", "script", "style", "title"):
            self._skip += 1
        for name, value in attrs:
            if name in ("data-i18n", "data-i18n-placeholder", "data-i18n-aria") and value:
                self.keys.add(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("svg", "script", "style", "title"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.text.append(data.strip())


def _markup() -> _Markup:
    parser = _Markup()
    parser.feed((STATIC / "index.html").read_text(encoding="utf-8"))
    return parser


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_catalogue_has_every_key_and_no_blank_text(language: str) -> None:
    catalogue = CATALOGUES[language]
    assert set(catalogue) == KEYS, f"{language}: missing {KEYS - set(catalogue)}"
    assert not [k for k, v in catalogue.items() if not v.strip()]


def test_placeholders_match_across_languages() -> None:
    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    for key in KEYS:
        expected = fields(CATALOGUES["en"][key])
        for language in LANGUAGES:
            assert fields(CATALOGUES[language][key]) == expected, (language, key)


def test_loader_names_what_is_missing(tmp_path: Path) -> None:
    for language, catalogue in CATALOGUES.items():
        partial = {
            k: v
            for k, v in catalogue.items()
            if not (language == "zh-Hans" and k == "queue.cancel")
        }
        (tmp_path / f"{language}.json").write_text(json.dumps(partial))
    with pytest.raises(TranslationMissing, match=r"zh-Hans lacks queue\.cancel"):
        Translations.load(tmp_path)
    translations = Translations.load()
    assert translations.text("en", "queue.position", position=3) == "You are number 3 in line"
    with pytest.raises(TranslationMissing, match="add it to"):
        translations.text("en", "no.such_key")


def test_every_key_used_in_the_page_exists() -> None:
    markup = _markup()
    used = set(markup.keys)
    for script in STATIC.glob("*.js"):
        used |= {
            key
            for key in KEY_LITERAL.findall(script.read_text(encoding="utf-8"))
            if key.split(".", 1)[0] in NAMESPACES
        }
    assert used, "no keys found: has the markup convention changed?"
    assert not used - KEYS, f"used but not translated: {sorted(used - KEYS)}"


def test_every_key_the_kiosk_process_uses_exists() -> None:
    used = {
        key
        for module in KIOSK.glob("*.py")
        for key in KEY_LITERAL.findall(module.read_text(encoding="utf-8"))
        if key.split(".", 1)[0] in NAMESPACES
    }
    assert {"notice.queue_ended", "prompt.checklist"} <= used
    assert not used - KEYS, sorted(used - KEYS)


def test_key_families_are_complete() -> None:
    """Keys built at run time: steps, ratings, languages, spoken screens, error codes."""
    families = {f"step.{n}" for n in range(1, STEPS + 1)}
    families |= {f"rating.{n}" for n in range(1, 6)}
    families |= {f"language.{lang}" for lang in LANGUAGES}
    families |= {f"speak.{screen.value}" for screen in Screen}
    # the department's decision as the kiosk shows it (terminal_client/kiosk/signing.py)
    families |= {f"sign.decision.{state}" for state in DECISIONS}
    # every error the server can refuse a kiosk's event with, and the kiosk's own
    codes = _codes(SignalingError) | _codes(StorageError) | _codes(TerminalError) | {"no_answer"}
    families |= {f"error.{code}" for code in codes}
    assert not families - KEYS, f"missing: {sorted(families - KEYS)}"


def test_no_text_is_written_into_the_page() -> None:
    """All visible text comes from the catalogues: the markup and scripts hold no words."""
    # numbers (the step indicator's 1-7) are the same in every language
    assert [t for t in _markup().text if not t.isdigit()] == []
    for source in [*STATIC.glob("*.js"), STATIC / "index.html", STATIC / "kiosk.css"]:
        text = source.read_text(encoding="utf-8")
        assert not CJK.findall(text), f"{source.name} has Chinese text; move it to i18n/"
    scripts = "\n".join(p.read_text(encoding="utf-8") for p in STATIC.glob("*.js"))
    # text reaches the screen only through t(): no literal assigned as content or label
    assert not re.findall(r"""textContent\s*=\s*["'`]\w""", scripts)
    assert not re.findall(
        r"""setAttribute\(\s*["'](aria-label|placeholder|title)["']\s*,\s*["'`]""", scripts
    )
