"""``vcounter audit``: verify the audit trail, sign a checkpoint, export a session's bundle.

Verification never takes its key from the data it checks: the checkpoint keys it trusts
come from ``--key`` / ``--fingerprint`` or the ``audit_public_keys`` setting.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import select

from signaling.checkpointer import sign_checkpoint
from signaling.settings import Settings
from storage import store
from storage.blobs import FileBlobStore
from storage.bundle import export_bundle, verify_bundle
from storage.checkpoint_keys import PinnedKeys, fingerprint, load_or_create_key, public_pem
from storage.checkpoints import all_checkpoints
from storage.db import Database
from storage.errors import NotFound, VcounterError
from storage.models import CallSession
from storage.staff_audit import StaffLog
from storage.timestamps import load_roots
from storage.trail import Policy, check_checkpoints
from storage.verify import Problem, SessionReport, verify_session, verify_staff
from storage.witness import WitnessError, witness_from

F = TypeVar("F", bound=Callable[..., Any])


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj["settings"]
    return settings


def trust_options(command: F) -> F:
    """The options that say what a verifier trusts, from outside the data it checks."""
    for option in reversed(
        [
            click.option(
                "--key", "keys", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
                help="A pinned checkpoint public key (PEM, from `vcounter audit key`); repeatable.",
            ),
            click.option(
                "--fingerprint", "fingerprints", multiple=True, metavar="HEX",
                help="A pinned checkpoint key's SHA-256 fingerprint (64 hex); repeatable.",
            ),
            click.option(
                "--witness", default=None, metavar="DIR|URL",
                help="The witness holding every checkpoint (default: setting audit_witness).",
            ),
            click.option(
                "--max-gap", type=float, default=None, metavar="SECONDS",
                help="Longest an event may wait for a checkpoint (default: interval x slack).",
            ),
            click.option(
                "--tsa-root", "tsa_roots", multiple=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="A trusted time-stamping authority certificate; requires time stamps.",
            ),
        ]
    ):  # fmt: skip
        command = option(command)
    return command


async def build_policy(
    settings: Settings,
    keys: tuple[Path, ...] = (),
    fingerprints: tuple[str, ...] = (),
    witness: str | None = None,
    max_gap: float | None = None,
    tsa_roots: tuple[Path, ...] = (),
) -> Policy:
    """The verifier's policy: pinned keys, allowed gap, witness copies, time-stamp rules."""
    entries = [*settings.audit_public_keys, *fingerprints, *(str(k) for k in keys)]
    pinned = await asyncio.to_thread(PinnedKeys.parse, entries)
    source = witness_from(witness or settings.audit_witness)
    kept = await source.records() if source is not None else None
    roots = [*settings.tsa_roots, *tsa_roots]
    return Policy(
        pinned=pinned,
        max_gap_s=max_gap if max_gap is not None else settings.checkpoint_max_gap_s,
        witness=kept,
        require_timestamps=bool(settings.tsa_url or roots),
        tsa_roots=tuple(await asyncio.to_thread(load_roots, roots)),
    )


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
@trust_options
@click.pass_context
def audit_verify(
    ctx: click.Context,
    /,
    session: str | None,
    all_sessions: bool,
    bundle: Path | None,
    **trust: Any,
) -> None:
    """Recompute hash chains, re-hash recordings and documents, hold them against the signed
    checkpoints (their own chain, signed by a pinned key, on time, as the witness has them).

    Prints the first break of each session that does not verify (which event, file or
    checkpoint, expected against found) and exits with 1 if anything did not.
    """
    settings = _settings(ctx)
    if bundle is not None:

        async def run_bundle() -> tuple[str, list[Problem]]:
            return await verify_bundle(bundle, await build_policy(settings, **trust))

        try:
            session_id, problems = asyncio.run(run_bundle())
        except VcounterError as exc:
            raise click.ClickException(exc.message) from exc
        _print(session_id, problems)
        sys.exit(1 if problems else 0)
    if bool(session) == all_sessions:
        raise click.UsageError("name one SESSION or give --all")

    async def run() -> tuple[list[Problem], list[SessionReport], list[Problem] | None]:
        policy = await build_policy(settings, **trust)
        async with Database(settings.db_url) as db:
            await db.upgrade()
            blobs = FileBlobStore(settings.data_dir / "blobs")
            checkpoints = await all_checkpoints(db)
            trail = await check_checkpoints(checkpoints, policy)
            covered = {sid for cp in checkpoints for sid in cp.heads}
            staff = None
            if session:
                try:
                    await store.get_session(db, session)
                except NotFound:
                    if session not in covered:
                        raise
                ids = [session]
            else:
                staff = await verify_staff(db, checkpoints, policy)
                async with db.sessions() as s:
                    ids = list(
                        await s.scalars(select(CallSession.id).order_by(CallSession.created_at))
                    )
                # a session a checkpoint vouched for but which is gone altogether
                ids += sorted(sid for sid in covered if sid not in ids)
            reports = [await verify_session(db, blobs, sid, checkpoints, policy) for sid in ids]
            return trail, reports, staff

    try:
        trail, reports, staff = asyncio.run(run())
    except VcounterError as exc:
        click.echo(f"Error: {exc.message}", err=True)
        sys.exit(1)
    if trail:
        click.echo("checkpoints: BROKEN")
        for problem in trail:
            click.echo(f"  {problem}")
    else:
        click.echo("checkpoints: OK")
    bad = [r for r in reports if not r.ok]
    if staff is not None:
        click.echo("staff log: OK" if not staff else "staff log: BROKEN")
        for problem in staff:
            click.echo(f"  {problem}")
    for report in reports:
        if not report.ok or session:
            _print(report.session_id, report.problems, report.events, report.blobs)
    click.echo(f"{len(reports)} session(s) checked, {len(bad)} with problems")
    sys.exit(1 if bad or trail or staff else 0)


@audit.command("checkpoint")
@click.option(
    "--adopt-existing",
    is_flag=True,
    help="Sign the first checkpoint even over events older than the allowed gap"
    " (once, after upgrading a store that had no checkpoint chain).",
)
@click.pass_context
def audit_checkpoint(ctx: click.Context, adopt_existing: bool) -> None:
    """Sign the current head of every chain now (the server does it periodically).

    Refuses, and signs nothing, when a chain no longer extends what the last checkpoint
    covered.
    """
    settings = _settings(ctx)

    async def run() -> int:
        async with Database(settings.db_url) as db:
            await db.upgrade()
            cp = await sign_checkpoint(db, settings, adopt=adopt_existing)
            return cp.seq if cp else 0

    try:
        seq = asyncio.run(run())
    except VcounterError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"checkpoint {seq} signed" if seq else "another process signed it first")


@audit.command("key")
@click.pass_context
def audit_key(ctx: click.Context) -> None:
    """Print the checkpoint signing key's public half and fingerprint, to pin at verifiers."""
    settings = _settings(ctx)
    key = load_or_create_key(settings.checkpoint_key_path)
    click.echo(public_pem(key), nl=False)
    click.echo(f"fingerprint: {fingerprint(key)}")


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
    """Write SESSION's events, recordings, documents and signed checkpoints into a folder that
    `vcounter audit verify --bundle FOLDER --key KEY` checks offline."""
    settings = _settings(ctx)
    target = out or Path(f"audit-{session}")
    if target.exists() and any(target.iterdir()):
        raise click.UsageError(f"{target} exists and is not empty; choose another --out")

    async def run() -> int:
        async with Database(settings.db_url) as db:
            await db.upgrade()
            blobs = FileBlobStore(settings.data_dir / "blobs")
            await sign_checkpoint(db, settings)
            own = fingerprint(load_or_create_key(settings.checkpoint_key_path))
            policy = await build_policy(settings, fingerprints=(own,))
            checkpoints = await all_checkpoints(db)
            problems = await export_bundle(db, blobs, session, target, checkpoints, policy)
            await StaffLog(db).append(
                f"cli:{getpass.getuser()}", "export", {"folder": str(target.resolve())}, session
            )
            return len(problems)

    try:
        problems = asyncio.run(run())
    except (VcounterError, WitnessError) as exc:
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
