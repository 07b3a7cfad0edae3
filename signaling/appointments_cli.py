"""``vcounter appointments day``: a day's bookings, from the store, as the consoles list them."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, date, datetime

import click

from signaling.appointment_messages import DayBookings
from signaling.appointments import day_list
from signaling.catalogue import load_catalogue
from signaling.settings import Settings
from storage.db import Database
from storage.errors import VcounterError


@click.group()
def appointments() -> None:
    """Appointments (办事预约) booked on the public page /book."""


@appointments.command("day")
@click.option("--date", "day", default=None, help="The day, YYYY-MM-DD (default: today, HKT).")
@click.option(
    "--department", "departments", multiple=True,
    help="A department id (repeat for more; default: every department that takes bookings).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_context
def appointments_day(
    ctx: click.Context, day: str | None, departments: tuple[str, ...], as_json: bool
) -> None:
    """The day's bookings: time, booking number, service, state and the name masked (as the
    consoles show it; the document number is never stored in clear)."""
    settings: Settings = ctx.obj["settings"]
    catalogue = load_catalogue(settings.catalogue_file)
    try:
        wanted = date.fromisoformat(day) if day else None
    except ValueError as exc:
        raise click.BadParameter(
            f"{day!r} is not a date; use YYYY-MM-DD, e.g. 2026-12-07", param_hint="--date"
        ) from exc
    unknown = [d for d in departments if d not in catalogue.bookings]
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)} take(s) no bookings; departments that do:"
            f" {', '.join(catalogue.bookings)}",
            param_hint="--department",
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def run() -> DayBookings:
        async with Database(settings.db_url) as db:
            await db.upgrade()
            chosen = departments or tuple(catalogue.bookings)
            return await day_list(db, catalogue, chosen, wanted, datetime.now(UTC))

    try:
        listed = asyncio.run(run())
    except VcounterError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(listed.model_dump_json(indent=2, by_alias=True))
        return
    click.echo(
        f"Bookings on {listed.date.isoformat()} ({listed.zone_label}): {len(listed.bookings)}"
    )
    for b in listed.bookings:
        state = b.state + (" (late)" if b.late else "")
        click.echo(f"{b.local_time}  {b.number}  {b.service_id:<34} {state:<18} {b.name}")
