"""``vcounter clerk list|disable|enable|reset-password`` and ``vcounter terminal
list|revoke|rotate``: cutting off an account or a device takes effect at its next request.

Disabling a clerk or resetting the password bumps the account's token version, so every
token it holds is refused (REST at once, sockets at their next connect); a revoked kiosk's
token is refused the same way, and ``rotate`` gives the kiosk a new one.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from signaling.places import StaffPlace, staff_places
from signaling.settings import Settings
from storage import store
from storage.db import Database
from storage.errors import VcounterError
from storage.models import Terminal

T = TypeVar("T")


def _run(ctx: click.Context, work: Callable[[Database], Awaitable[T]]) -> T:
    settings: Settings = ctx.obj["settings"]
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def run() -> T:
        async with Database(settings.db_url) as db:
            await db.upgrade()
            return await work(db)

    try:
        return asyncio.run(run())
    except VcounterError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)


def _when(value: object) -> str:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else "-"


def add_account_commands(clerk: click.Group, terminal: click.Group) -> None:
    """Attach the account and device commands to the ``clerk`` and ``terminal`` groups."""

    @clerk.command("list")
    @click.pass_context
    def clerk_list(ctx: click.Context) -> None:
        """List every account: username, role, departments, enabled or disabled."""
        for c in _run(ctx, store.list_clerks):
            state = "disabled" if c.disabled else "enabled"
            click.echo(
                f"{c.username}\t{c.role}\t{state}\t{','.join(c.departments) or '-'}\t{c.display_name}"
            )

    @clerk.command("disable")
    @click.argument("username")
    @click.pass_context
    def clerk_disable(ctx: click.Context, username: str) -> None:
        """Disable USERNAME: no sign-in, and every token it holds is refused from now on."""
        _run(ctx, lambda db: store.set_clerk_disabled(db, username, True))
        click.echo(f"{username} disabled; its sign-ins are revoked")

    @clerk.command("enable")
    @click.argument("username")
    @click.pass_context
    def clerk_enable(ctx: click.Context, username: str) -> None:
        """Enable USERNAME again (it signs in anew; old tokens stay revoked)."""
        _run(ctx, lambda db: store.set_clerk_disabled(db, username, False))
        click.echo(f"{username} enabled")

    @clerk.command("reset-password")
    @click.argument("username")
    @click.option("--password", default=None, help="New password (prompted when omitted).")
    @click.pass_context
    def clerk_reset_password(ctx: click.Context, username: str, password: str | None) -> None:
        """Set a new password for USERNAME; every token issued before is revoked."""
        if password is None:
            password = getpass.getpass(f"New password for {username}: ")
        _run(ctx, lambda db: store.reset_password(db, username, password))
        click.echo(f"password of {username} reset; its sign-ins are revoked")

    @terminal.command("list")
    @click.pass_context
    def terminal_list(ctx: click.Context) -> None:
        """List every kiosk: name, revoked or active, last seen, location, its place on the
        service map and its live status there (online, in_call, offline; printer trouble)."""

        async def work(db: Database) -> tuple[list[Terminal], dict[str, StaffPlace]]:
            at = {p.terminal: p for p in await staff_places(db) if p.terminal}
            return await store.list_terminals(db), at

        terminals, at = _run(ctx, work)
        for t in terminals:
            state = f"revoked {_when(t.revoked_at)}" if t.revoked_at else "active"
            place = at.get(t.name)
            where = f"place {place.id}\t{place.status}" if place else "no place\t-"
            if place and place.printer and place.printer != "ok":
                where += f",printer {place.printer}"
            click.echo(
                f"{t.name}\t{state}\tlast seen {_when(t.last_seen_at)}\t{t.location}\t{where}"
            )

    @terminal.command("revoke")
    @click.argument("name")
    @click.pass_context
    def terminal_revoke(ctx: click.Context, name: str) -> None:
        """Refuse kiosk NAME's token from now on (a lost, stolen or retired device)."""
        _run(ctx, lambda db: store.revoke_terminal(db, name))
        click.echo(f"terminal {name} revoked")

    @terminal.command("rotate")
    @click.argument("name")
    @click.pass_context
    def terminal_rotate(ctx: click.Context, name: str) -> None:
        """Give kiosk NAME a new token (printed once); the old one stops working at once."""
        _, token = _run(ctx, lambda db: store.rotate_terminal(db, name))
        click.echo(token)
