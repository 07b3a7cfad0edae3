"""`vcounter place add|edit|list|remove|seed` and the terminal commands' place options: bad
input is refused with a sentence that names it, and nothing saved is touched."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from signaling.cli import main
from storage.db import Database
from storage.staff_audit import StaffLog

NAMES = ["--name", "zh-Hant=灣仔服務處", "--name", "zh-Hans=湾仔服务处", "--name", "en=Wan Chai"]
ADDRESSES = [
    "--address", "zh-Hant=香港灣仔告士打道 5 號",
    "--address", "zh-Hans=香港湾仔告士打道 5 号",
    "--address", "en=5 Gloucester Road, Wan Chai",
]  # fmt: skip
GOOD = [
    "place", "add", "hk-wan-chai", "--kind", "kiosk", *NAMES, *ADDRESSES,
    "--city", "hong-kong", "--lat", "22.2790", "--lon", "114.1720",
    "--hours", "Mo-Fr 09:00-18:00; Sa 09:00-12:00", "--direction", "hk-to-mainland",
    "--service", "tax-filing", "--service", "pension-claim",
]  # fmt: skip


class Cli:
    def __init__(self, tmp_path: Path) -> None:
        self.data = tmp_path / "data"
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(main, ["--data-dir", str(self.data), *args])

    def places(self) -> dict[str, dict[str, object]]:
        listed = self("place", "list", "--json")
        assert listed.exit_code == 0, listed.output
        return {p["id"]: p for p in json.loads(listed.output[listed.output.index("[") :])}

    def staff_kinds(self) -> list[str]:
        async def read() -> list[str]:
            async with Database(f"sqlite+aiosqlite:///{self.data / 'vcounter.db'}") as db:
                return [e.kind for e in await StaffLog(db).events()]

        return asyncio.run(read())


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


@pytest.mark.parametrize(
    "command",
    [
        ["place"],
        ["place", "add"],
        ["place", "edit"],
        ["place", "list"],
        ["place", "remove"],
        ["place", "seed"],
    ],
    ids=" ".join,
)
def test_every_place_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"], prog_name="vcounter")
    assert result.exit_code == 0 and "Usage: vcounter place" in result.output, result.output


def test_add_edit_list_remove_and_every_change_is_in_the_staff_chain(cli: Cli) -> None:
    added = cli(*GOOD)
    assert added.exit_code == 0 and "place hk-wan-chai added" in added.output, added.output
    place = cli.places()["hk-wan-chai"]
    assert place["latitude"] == 22.279 and place["services"] == ["tax-filing", "pension-claim"]
    assert place["status"] == "offline" and place["terminal"] is None

    # a kiosk registered at the place: the place shows it, `terminal list` shows the place
    token = cli("terminal", "register", "wan-chai-1", "--place", "hk-wan-chai")
    assert token.exit_code == 0, token.output
    assert cli.places()["hk-wan-chai"]["terminal"] == "wan-chai-1"
    listed = cli("terminal", "list")
    assert "wan-chai-1\tactive" in listed.output and "place hk-wan-chai\toffline" in listed.output

    to_window = cli("place", "edit", "hk-wan-chai", "--kind", "window")
    assert to_window.exit_code == 2 and "a staffed window has none" in to_window.output

    edited = cli(
        "place",
        "edit",
        "hk-wan-chai",
        "--hours",
        "Mo-Su 08:00-22:00",
        "--name",
        "en=Wan Chai kiosk",
    )
    assert edited.exit_code == 0, edited.output
    place = cli.places()["hk-wan-chai"]
    # the languages not given keep their names
    assert place["names"] == {
        "zh-Hant": "灣仔服務處",
        "zh-Hans": "湾仔服务处",
        "en": "Wan Chai kiosk",
    }
    assert place["hours"] == "Mo-Su 08:00-22:00"

    removed = cli("place", "remove", "hk-wan-chai")
    assert removed.exit_code == 0 and "hk-wan-chai" not in cli.places()
    assert "terminal list" and "no place" in cli("terminal", "list").output
    kinds = cli.staff_kinds()
    assert kinds == ["place.added", "place.edited", "place.edited", "place.removed"]


def _with(option: str, value: str, base: list[str] = GOOD) -> list[str]:
    args = list(base)
    args[args.index(option) + 1] = value
    return args


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (_with("--lat", "114.172", _with("--lon", "22.279")), "look swapped"),
        (_with("--lat", "40.0"), "outside the Bay Area map"),
        (_with("--lon", "nan"), "'longitude': Input should be a finite number"),
        (_with("--city", "atlantis"), "unknown city 'atlantis'; the map has dongguan"),
        (_with("--service", "haircut"), "unknown service 'haircut'"),
        (_with("--hours", "Mon-Fri 9-6"), "opening hours 'Mon-Fri 9-6' are not in the form"),
        (_with("--hours", "Mo-Fr 18:00-09:00"), "18:00-09:00 closes before it opens"),
        ([*GOOD[:2], "Bad Slug!", *GOOD[3:]], "'slug': 'Bad Slug!' is not a place slug"),
        (_with("--name", "fr=Ouan Tchai"), "write LANGUAGE=TEXT with LANGUAGE one of"),
        ([*GOOD, "--phone", "+852 2345 6789"], "a kiosk has no phone number"),
        ([a for a in GOOD if a not in ADDRESSES], "place field 'addresses': Field required"),
    ],
    ids=[
        "swapped",
        "far",
        "nan",
        "city",
        "service",
        "hours",
        "backwards",
        "slug",
        "lang",
        "kiosk-phone",
        "no-address",
    ],
)
def test_bad_input_is_refused_with_a_sentence_and_nothing_is_saved(
    cli: Cli, args: list[str], sentence: str
) -> None:
    refused = cli(*args)
    assert refused.exit_code == 2, refused.output
    assert sentence in refused.output
    assert cli.places() == {}


def test_a_refused_edit_leaves_the_place_as_it_was(cli: Cli) -> None:
    assert cli(*GOOD).exit_code == 0
    before = cli.places()
    for bad in (
        ["--lat", "95"],
        ["--city", "tokyo"],
        ["--service", "nothing"],
        ["--hours", "always"],
    ):
        refused = cli("place", "edit", "hk-wan-chai", *bad)
        assert refused.exit_code == 2 and "place" in refused.output.lower(), refused.output
    assert cli.places() == before
    missing = cli("place", "edit", "nowhere", "--hours", "Mo 09:00-10:00")
    assert missing.exit_code == 2 and "no place 'nowhere'; `vcounter place list`" in missing.output
    window = cli("terminal", "register", "k9", "--place", "nowhere")
    assert window.exit_code == 2 and "no place 'nowhere'" in window.output
    # the refused registration registered nothing
    assert "k9" not in cli("terminal", "list").output


def test_seed_fills_an_empty_registry_once(cli: Cli) -> None:
    seeded = cli("place", "seed")
    assert seeded.exit_code == 0 and "19 places added" in seeded.output, seeded.output
    places = cli.places()
    kinds = [p["kind"] for p in places.values()]
    assert kinds.count("kiosk") == 7 and kinds.count("window") == 12
    assert {p["city"] for p in places.values()} >= {"hong-kong", "macau", "shenzhen", "zhuhai"}
    again = cli("place", "seed")
    assert "already has places" in again.output and len(cli.places()) == 19
    window = cli("terminal", "register", "k2", "--place", "gz-tianhe")
    assert window.exit_code == 2 and "is a staffed window" in window.output
