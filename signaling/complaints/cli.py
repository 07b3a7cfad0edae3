"""``vcounter complaints list``: the tickets, for operators (no applicant's words or numbers)."""

from __future__ import annotations

import asyncio

import click

from signaling.complaints.numbers import today
from signaling.settings import Settings
from storage import complaints, store
from storage.complaints import ComplaintSnap
from storage.db import Database
from storage.errors import VcounterError
from storage.models import utcnow


@click.group("complaints")
def complaints_group() -> None:
    """Complaints filed at the kiosks and how far their departments are with them."""


@complaints_group.command("list")
@click.option("--department", default=None, help="Only this department's tickets (its id).")
@click.option(
    "--state",
    type=click.Choice(complaints.STATES),
    default=None,
    help="Only tickets in this state (default: all).",
)
@click.option("--overdue", is_flag=True, help="Only open tickets past their due date.")
@click.pass_context
def complaints_list(
    ctx: click.Context, department: str | None, state: str | None, overdue: bool
) -> None:
    """List tickets, soonest due first: number, state, department, category, filed, due,
    whether overdue, assigned to. The applicants' words and phone numbers are not shown
    (the department's supervisors read them in the console)."""
    settings: Settings = ctx.obj["settings"]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    day = today(settings.complaint_timezone, utcnow())

    async def run() -> tuple[list[ComplaintSnap], dict[int, str]]:
        async with Database(settings.db_url) as db:
            await db.upgrade()
            found = await complaints.listed(
                db,
                states=[state] if state else complaints.STATES,
                departments=[department] if department else None,
                overdue_on=day if overdue else None,
            )
            return found, {c.id: c.username for c in await store.list_clerks(db)}

    try:
        found, usernames = asyncio.run(run())
    except VcounterError as exc:
        raise click.ClickException(exc.message) from exc
    if not found:
        click.echo("no complaints" + (" overdue" if overdue else "") + " match")
        return
    click.echo(
        f"{'number':<17} {'state':<9} {'department':<24} {'category':<10} {'filed':<17}"
        f" {'due':<10} {'overdue':<7} assigned"
    )
    for t in found:
        click.echo(
            f"{t.number:<17} {t.state:<9} {t.department_id:<24} {t.category:<10}"
            f" {t.filed_at:%Y-%m-%d %H:%M} {t.due_on.isoformat():<10}"
            f" {'yes' if t.overdue(day) else 'no':<7}"
            f" {usernames.get(t.assigned_to, '-') if t.assigned_to else '-'}"
        )
