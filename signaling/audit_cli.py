"""``vcounter audit``: verify the audit trail, sign a checkpoint, export a session's bundle."""

from __future__ import annotations

import asyncio
import getpass
import sys
from pathlib import Path

import click
from sqlalchemy import select

from signaling.checkpointer import checkpoint_key_path
from signaling.settings import Settings
from storage import store
from storage.audit import ChainReport
from storage.blobs import FileBlobStore
from storage.bundle import export_bundle, verify_bundle
from storage.checkpoints import latest_checkpoint, load_or_create_key, make_checkpoint
from storage.db import Database
from storage.errors import NotFound, VcounterError
from storage.models import CallSession
from storage.staff_audit import StaffLog
from storage.verify import Problem, SessionReport, verify_session


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj["settings"]
    return settings


@click.group()
def audit() -> None:
    """Verify the audit trail and export sessions for auditors."""


@audit.command("verify")
@click.argument("session", required=False)
@click.option("--all", "all_sessions", is_flag=True, help="Verify every session in the store.")
@click.option(
    "--bundle",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Verify an exported bundle folder offline instead of the store.",
)
@click.pass_context
def audit_verify(
    ctx: click.Context, session: str | None, all_sessions: bool, bundle: Path | None
) -> None:
    """Recompute hash chains, re-hash recordings and documents, check the signed checkpoint.

    Prints the first break of each session that does not verify (which event or file,
    expected against found) and exits with 1 if any did not.
    """
    if bundle is not None:
        try:
            session_id, problems = verify_bundle(bundle)
        except VcounterError as exc:
            raise click.ClickException(exc.message) from exc
        _print(session_id, problems)
        sys.exit(1 if problems else 0)
    if bool(session) == all_sessions:
        raise click.UsageError("name one SESSION or give --all")
    settings = _settings(ctx)

    async def run() -> tuple[list[SessionReport], ChainReport | None]:
        async with Database(settings.db_url) as db:
            await db.upgrade()
            blobs = FileBlobStore(settings.data_dir / "blobs")
            key = load_or_create_key(checkpoint_key_path(settings.data_dir)).public_key()
            checkpoint = await latest_checkpoint(db)
            staff = None
            if session:
                try:
                    await store.get_session(db, session)
                except NotFound:
                    if not checkpoint or session not in checkpoint.heads:
                        raise
                ids = [session]
            else:
                staff = await StaffLog(db).verify()
                async with db.sessions() as s:
                    ids = list(
                        await s.scalars(select(CallSession.id).order_by(CallSession.created_at))
                    )
                # a session a checkpoint vouched for but which is gone altogether
                ids += [sid for sid in (checkpoint.heads if checkpoint else {}) if sid not in ids]
            return [await verify_session(db, blobs, sid, checkpoint, key) for sid in ids], staff

    try:
        reports, staff = asyncio.run(run())
    except VcounterError as exc:
        click.echo(f"Error: {exc.message}", err=True)
        sys.exit(1)
    bad = [r for r in reports if not r.ok]
    if staff is not None:
        if staff.first_break is None:
            click.echo(f"staff log: OK ({staff.count} events)")
        else:
            b = staff.first_break
            click.echo(
                f"staff log: BROKEN\n  event {b.seq}: {b.reason}: expected {b.expected}, found {b.found}"
            )
    for report in reports:
        if not report.ok or session:
            _print(report.session_id, report.problems, report.events, report.blobs)
    click.echo(f"{len(reports)} session(s) checked, {len(bad)} with problems")
    sys.exit(1 if bad or (staff is not None and not staff.ok) else 0)


@audit.command("checkpoint")
@click.pass_context
def audit_checkpoint(ctx: click.Context) -> None:
    """Sign the current head of every session's chain now (the server does it periodically)."""
    settings = _settings(ctx)

    async def run() -> int:
        async with Database(settings.db_url) as db:
            await db.upgrade()
            cp = await make_checkpoint(
                db, load_or_create_key(checkpoint_key_path(settings.data_dir))
            )
            return len(cp.heads)

    click.echo(f"checkpoint signed over {asyncio.run(run())} session chains")


@audit.command("export")
@click.argument("session")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write (default: ./audit-SESSION).",
)
@click.pass_context
def audit_export(ctx: click.Context, session: str, out: Path | None) -> None:
    """Write SESSION's events, recordings, documents and signed checkpoint into a folder that
    `vcounter audit verify --bundle FOLDER` checks offline."""
    settings = _settings(ctx)
    target = out or Path(f"audit-{session}")
    if target.exists() and any(target.iterdir()):
        raise click.UsageError(f"{target} exists and is not empty; choose another --out")

    async def run() -> int:
        async with Database(settings.db_url) as db:
            await db.upgrade()
            key = load_or_create_key(checkpoint_key_path(settings.data_dir))
            blobs = FileBlobStore(settings.data_dir / "blobs")
            cp = await make_checkpoint(db, key)
            problems = await export_bundle(db, blobs, session, target, cp, key.public_key())
            await StaffLog(db).append(
                f"cli:{getpass.getuser()}", "export", {"folder": str(target.resolve())}, session
            )
            return len(problems)

    try:
        problems = asyncio.run(run())
    except VcounterError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(
        f"bundle written to {target}" + (f" ({problems} problem(s) found)" if problems else "")
    )


def _print(
    session_id: str, problems: list[Problem], events: int | None = None, files: int | None = None
) -> None:
    counts = f" ({events} events, {files} files)" if events is not None else ""
    if not problems:
        click.echo(f"session {session_id}: OK{counts}")
        return
    click.echo(f"session {session_id}: BROKEN{counts}")
    for problem in problems:
        click.echo(f"  {problem}")
