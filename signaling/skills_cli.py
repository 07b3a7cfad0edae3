"""``vcounter clerk skills USERNAME [SKILL=LEVEL ...] [--remove SKILL ...]``: a clerk's skills
and levels, as routing uses them (storage/skills.py). A change reaches a clerk already on duty
at their next routing round, and is recorded in the staff chain."""

from __future__ import annotations

import json

import click

from signaling.accounts_cli import _run
from signaling.catalogue import load_catalogue
from signaling.settings import Settings
from storage import skills as clerk_skills
from storage.db import Database
from storage.errors import InvalidValue
from storage.staff_audit import StaffLog
from storage.store import find_clerk


def _parse(assignment: str) -> tuple[str, int]:
    name, sep, level = assignment.partition("=")
    if not sep or not level.strip().isdigit():
        raise click.BadParameter(
            f"{assignment!r}: write SKILL=LEVEL, e.g. service:tax-registration=4 or lang:yue=5"
        )
    return name.strip(), int(level)


def add_skill_commands(clerk: click.Group) -> None:
    """Attach ``skills`` to the ``clerk`` group."""

    @clerk.command("skills")
    @click.argument("username")
    @click.argument("assignments", nargs=-1, metavar="[SKILL=LEVEL]...")
    @click.option("--remove", "removals", multiple=True, metavar="SKILL", help="Drop a skill.")
    @click.option("--json", "as_json", is_flag=True, help="Print the skills as JSON.")
    @click.pass_context
    def clerk_skills_command(
        ctx: click.Context,
        username: str,
        assignments: tuple[str, ...],
        removals: tuple[str, ...],
        as_json: bool,
    ) -> None:
        """Show or change USERNAME's skills: service:<id>, dept:<id>, lang:yue|cmn|en or
        care, each at a level 1-5 (5: expert)."""
        assigned = dict(_parse(a) for a in assignments)
        changes: dict[str, int | None] = {**assigned, **dict.fromkeys(removals)}
        settings: Settings = ctx.obj["settings"]
        catalogue = load_catalogue(settings.catalogue_file)

        async def work(db: Database) -> dict[str, int]:
            if not changes:
                return dict((await find_clerk(db, username)).skills or {})
            if both := set(assigned) & set(removals):
                raise InvalidValue(f"{', '.join(sorted(both))}: both set and removed; pick one")
            before, after = await clerk_skills.set_clerk_skills(
                db,
                username,
                changes,
                services=[s.id for s in catalogue.services],
                departments=[d.id for d in catalogue.departments],
            )
            await StaffLog(db).append(
                "cli",
                "clerk.skills_changed",
                {"username": username, "before": before, "after": after},
            )
            return after

        result = _run(ctx, work)
        if as_json:
            click.echo(json.dumps(result, sort_keys=True))
        elif not result:
            click.echo(
                f"{username} has no skills set (a department they serve counts as level"
                f" {clerk_skills.MEMBER_LEVEL})"
            )
        else:
            for name, level in sorted(result.items()):
                click.echo(f"{name}\t{level}")
