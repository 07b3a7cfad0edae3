"""The `vcounter` command line: every command explains itself; accounts and kiosks are created."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from signaling.cli import main

COMMANDS = [
    [],
    ["serve"],
    ["demo"],
    ["terminal"],
    ["terminal", "register"],
    ["clerk"],
    ["clerk", "add"],
    ["clerk", "skills"],
    ["db"],
    ["db", "upgrade"],
    ["audit"],
    ["audit", "verify"],
    ["audit", "export"],
    ["audit", "checkpoint"],
    ["audit", "key"],
    ["verify"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "vcounter")
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"], prog_name="vcounter")
    assert result.exit_code == 0, result.output
    assert "Usage: vcounter" in result.output
    # a docstring line, not just the usage: the command says what it does
    assert len(result.output.splitlines()) > 4


def test_clerk_add_terminal_register_and_db_upgrade(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    result = runner.invoke(main, [*data, "db", "upgrade"])
    assert result.exit_code == 0 and "up to date" in result.output, result.output
    result = runner.invoke(
        main,
        [*data, "clerk", "add", "alice", "--password", "long-enough-1", "--department", "taxation"],
    )
    assert result.exit_code == 0 and "clerk alice created" in result.output, result.output
    again = runner.invoke(main, [*data, "clerk", "add", "alice", "--password", "long-enough-1"])
    assert again.exit_code != 0 and "alice" in again.output
    token = runner.invoke(main, [*data, "terminal", "register", "kiosk-1"])
    assert token.exit_code == 0 and len(token.output.strip()) >= 32


def test_clerk_add_names_a_bad_department_and_a_short_password(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    bad = runner.invoke(
        main, [*data, "clerk", "add", "bob", "--password", "x" * 9, "--department", "nope"]
    )
    assert bad.exit_code == 2 and "unknown department nope" in bad.output
    short = runner.invoke(main, [*data, "clerk", "add", "bob", "--password", "short"])
    assert short.exit_code == 2 and "at least 8 characters" in short.output


def test_a_supervisor_account_is_made_with_role(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    made = runner.invoke(
        main, [*data, "clerk", "add", "sue", "--password", "long-enough-1", "--role", "supervisor"]
    )
    assert made.exit_code == 0 and "supervisor sue created" in made.output, made.output
    bad = runner.invoke(main, [*data, "clerk", "add", "x", "--password", "y" * 9, "--role", "boss"])
    assert bad.exit_code == 2 and "'boss' is not one of 'clerk', 'supervisor'" in bad.output


def test_clerk_skills_are_set_shown_and_refused_with_a_sentence(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    made = runner.invoke(
        main, [*data, "clerk", "add", "alice", "--password", "long-enough-1",
               "--department", "taxation"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    shown = runner.invoke(main, [*data, "clerk", "skills", "alice"])
    assert "no skills set" in shown.output and "level 3" in shown.output
    set_ = runner.invoke(
        main, [*data, "clerk", "skills", "alice", "service:tax-registration=4", "lang:yue=5"]
    )
    assert set_.exit_code == 0, set_.output
    # (the log lines of the database's upgrade come first)
    assert set_.output.splitlines()[-2:] == ["lang:yue\t5", "service:tax-registration\t4"]
    for bad, sentence in [
        (["lang:fr=3"], "skill 'lang:fr': no such lang; known: cmn, en, yue"),
        (["care=9"], "the level must be a whole number 1-5, not 9"),
        (["service:nope=2"], "skill 'service:nope': no such service"),
        (["--remove", "care"], "alice has no skill 'care' to remove"),
        (["care=2", "--remove", "care"], "care: both set and removed"),
    ]:
        refused = runner.invoke(main, [*data, "clerk", "skills", "alice", *bad])
        assert refused.exit_code == 2, refused.output
        assert sentence in refused.output
    malformed = runner.invoke(main, [*data, "clerk", "skills", "alice", "care"])
    assert malformed.exit_code == 2 and "write SKILL=LEVEL" in malformed.output
    removed = runner.invoke(
        main, [*data, "clerk", "skills", "alice", "--remove", "lang:yue", "--json"]
    )
    assert removed.output.splitlines()[-1] == '{"service:tax-registration": 4}'
