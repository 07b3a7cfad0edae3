"""``vcounter keys init`` and ``vcounter verify FILE.pdf``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from signaling.audit_cli import build_policy, trust_options
from signaling.catalogue import load_catalogue
from signaling.paperwork.messages import VerifyReport
from signaling.paperwork.seal_keys import init_keys, keys_dir, trust_roots
from signaling.paperwork.verify import verify_pdf
from signaling.settings import Settings
from storage.blobs import FileBlobStore
from storage.checkpoints import all_checkpoints
from storage.db import Database
from storage.errors import VcounterError


@click.group()
def keys() -> None:
    """Manage the departments' seal keys."""


@keys.command("init")
@click.pass_context
def keys_init(ctx: click.Context) -> None:
    """Create the development CA and a seal key and certificate per department (once).

    Refused when real seals are configured (setting ``seals``): the development CA is then
    neither made nor trusted. Existing keys are kept.
    """
    settings: Settings = ctx.obj["settings"]
    if settings.seals:
        raise click.ClickException(
            "real seals are configured (setting seals): the development CA is not made or"
            " trusted alongside them; configure a seal for every department instead"
        )
    departments = [
        d.id
        for d in load_catalogue(settings.catalogue_file).departments
        if d.id not in settings.seals
    ]
    made = init_keys(settings.data_dir, departments)
    where = keys_dir(settings.data_dir)
    click.echo(f"seal keys in {where}: {len(made)} created, {len(departments) - len(made)} kept")


def print_report(report: VerifyReport) -> None:
    """One line per check, then the verdict."""
    for check in report.checks:
        click.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.what}: {check.detail}")
    number = f" (acceptance number {report.acceptance_number})" if report.acceptance_number else ""
    click.echo(
        f"{'verified' if report.ok else 'NOT verified'}: {report.kind or 'document'}{number}"
    )


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@trust_options
@click.pass_context
def verify(ctx: click.Context, /, file: Path, **trust: Any) -> None:
    """Check a vcounter PDF: its seal, that it matches the stored original, that the chain
    still has the head and decision the sealed document states, the session's chain and the
    signed checkpoints (with the pinned key: --key / --fingerprint / audit_public_keys).

    Exits 1 and says where (which byte, which PDF object) when anything does not verify.
    """
    settings: Settings = ctx.obj["settings"]

    data = file.read_bytes()

    async def run() -> VerifyReport:
        policy = await build_policy(settings, **trust)
        async with Database(settings.db_url) as db:
            await db.upgrade()
            blobs = FileBlobStore(settings.data_dir / "blobs")
            roots = trust_roots(settings.data_dir, settings.seals)
            # the TSAs vouch for the seals' time stamps
            roots += [p.read_bytes() for p in (*settings.tsa_roots, *trust["tsa_roots"])]
            checkpoints = await all_checkpoints(db)
            return await verify_pdf(data, db, blobs, roots, checkpoints, policy)

    try:
        report = asyncio.run(run())
    except VcounterError as exc:  # a pinned key file or the witness cannot be read
        raise click.ClickException(exc.message) from exc
    print_report(report)
    sys.exit(0 if report.ok else 1)
