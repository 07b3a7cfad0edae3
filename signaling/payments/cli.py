"""``vcounter payments``: reconcile our payment records with the provider's settlement."""

from __future__ import annotations

import asyncio
import sys
from datetime import date

import click

from signaling.payments.errors import PaymentUnavailable
from signaling.payments.reconcile import reconcile
from signaling.payments.routes import make_payments
from signaling.settings import Settings
from storage.db import Database
from storage.errors import VcounterError


@click.group("payments")
def payments_group() -> None:
    """Fees and payment: reconcile with the payment provider."""


@payments_group.command("reconcile")
@click.argument("day", metavar="DATE")
@click.pass_context
def reconcile_command(ctx: click.Context, day: str) -> None:
    """Compare the provider's settlement file of DATE (YYYY-MM-DD, UTC) with our records;
    prints every difference and exits 1 when there is any."""
    settings: Settings = ctx.obj["settings"]
    try:
        when = date.fromisoformat(day)
    except ValueError as exc:
        raise click.BadParameter(
            f"{day!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-12-05", param_hint="DATE"
        ) from exc

    async def run() -> list[str]:
        async with Database(settings.db_url) as db:
            await db.upgrade()
            payments = make_payments(settings, db)
            if payments is None:
                raise PaymentUnavailable(
                    "payments_url is not set: there is no provider to reconcile with"
                )
            try:
                return await reconcile(db, payments.provider, when)
            finally:
                await payments.provider.close()

    try:
        differences = asyncio.run(run())
    except VcounterError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    if not differences:
        click.echo(f"{when}: our records and the provider's settlement agree")
        return
    click.echo(f"{when}: {len(differences)} difference(s)")
    for line in differences:
        click.echo(f"- {line}")
    sys.exit(1)
