"""``vcounter payments``: reconcile our payment records with the provider's settlement."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from datetime import date
from typing import Any, TypeVar

import click

from signaling.payments.errors import PaymentUnavailable
from signaling.payments.fees import format_amount
from signaling.payments.reconcile import reconcile
from signaling.payments.routes import make_payments
from signaling.payments.service import Payments
from signaling.settings import Settings
from storage import payments as store
from storage.db import Database
from storage.errors import VcounterError
from storage.payments import PaymentRecord, PaymentState


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
            payments = _payments(settings, db)
            try:
                return await reconcile(db, payments.provider, when)
            finally:
                await payments.provider.close()

    differences = _run(run)
    if not differences:
        click.echo(f"{when}: our records and the provider's settlement agree")
        return
    click.echo(f"{when}: {len(differences)} difference(s)")
    for line in differences:
        click.echo(f"- {line}")
    sys.exit(1)


@payments_group.command("retry-refunds")
@click.pass_context
def retry_refunds(ctx: click.Context) -> None:
    """Ask the provider again for every refund it could not take (state refund_failed); each
    outcome goes into its session's chain. Exits 1 when some still failed."""
    settings: Settings = ctx.obj["settings"]

    async def run() -> list[PaymentRecord]:
        async with Database(settings.db_url) as db:
            await db.upgrade()
            payments = _payments(settings, db)
            try:
                done: list[PaymentRecord] = []
                failed = await store.in_state(db, PaymentState.REFUND_FAILED)
                for session_id in dict.fromkeys(p.session_id for p in failed):
                    done += await payments.refund_session(session_id, "refund retried by staff")
                return done
            finally:
                await payments.provider.close()

    done = _run(run)
    if not done:
        click.echo("no refunds waiting to be retried")
        return
    for p in done:
        amount = format_amount(p.amount_minor, p.currency)
        click.echo(f"{p.id} (session {p.session_id}, {amount}): {p.state}")
    if any(p.state == PaymentState.REFUND_FAILED for p in done):
        sys.exit(1)


def _payments(settings: Settings, db: Database) -> Payments:
    payments = make_payments(settings, db)
    if payments is None:
        raise PaymentUnavailable("payments_url is not set: there is no payment provider to ask")
    return payments


T = TypeVar("T")


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(work())
    except VcounterError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
