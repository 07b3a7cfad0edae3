"""The ``vcounter`` command: run the server, a terminal, the demo; manage clerks and the store."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import getpass
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click
from aiohttp import web

from signaling.accounts_cli import add_account_commands
from signaling.appointments_cli import appointments
from signaling.audit_cli import audit
from signaling.catalogue import Catalogue, load_catalogue
from signaling.complaints.cli import complaints_group
from signaling.directions import kiosk_scope
from signaling.directions_demo import TWO_WAY_CLERKS, seed_two_way
from signaling.jurisdictions import UNPLACED_DIRECTIONS
from signaling.logs import configure_logging
from signaling.messages import LANGUAGES, Language
from signaling.paperwork.cli import keys, verify
from signaling.payments.cli import payments_group
from signaling.places_cli import (
    add_place_commands,
    attach_terminal,
    place_for_terminal,
    seed_demo_map,
)
from signaling.report_cli import report
from signaling.settings import Settings, load_settings
from signaling.skills_cli import add_skill_commands
from storage import callbacks, store
from storage.db import Database, upgrade_database
from storage.errors import VcounterError

log = logging.getLogger(__name__)

DEMO_CLERK = "demo"
DEMO_PASSWORD = "demo-clerk-2026"
DEMO_SUPERVISOR = "demo-supervisor"
DEMO_SUPERVISOR_PASSWORD = "demo-supervisor-2026"


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj["settings"]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _fail(exc: VcounterError) -> None:
    click.echo(f"error: {exc.message}", err=True)
    sys.exit(2)


@click.group()
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TOML settings file (keys as in VCOUNTER_* variables, lower case).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the SQLite database, keys and files live (default ./.data).",
)
@click.pass_context
def main(ctx: click.Context, config: Path | None, data_dir: Path | None) -> None:
    """vcounter: a remote video counter. Kiosks call clerks; the server routes and records."""
    overrides: dict[str, Any] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    try:
        settings = load_settings(config, **overrides)
    except VcounterError as exc:
        _fail(exc)
    configure_logging(settings.log_level)
    ctx.obj = {"settings": settings}


# seconds in-flight requests get to finish at shutdown (uploads resume after a restart)
SHUTDOWN_S = 5.0


async def _serve(
    settings: Settings, extra: Callable[[str], Coroutine[Any, Any, None]] | None = None
) -> None:
    from signaling.app import LINGERING_S, create_app
    from signaling.collector import keep_collector, watch_pauses
    from signaling.keys import METRICS
    from signaling.operations import drain
    from signaling.socket_server import SOCKET_SERVER

    # At SIGTERM every socket is told goodbye first; a client that never answers it (a
    # frozen kiosk) must not hold the restart up for aiohttp's default minute.
    app = create_app(settings)
    runner = web.AppRunner(
        app, access_log=None, shutdown_timeout=SHUTDOWN_S, lingering_time=LINGERING_S
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    # Everything loaded at start (catalogue, models, libraries) lives as long as the process:
    # moved out of the collector's reach, full collections stay short. Measured: with 2,000
    # sockets the p99 event latency here was dominated by GC pauses; freezing cut it ~10x.
    gc.collect()
    gc.freeze()
    # and then again as sockets come and stay: see signaling/collector.py
    unwatch = watch_pauses(app[METRICS].observe_gc_pause)
    keeper = asyncio.create_task(
        keep_collector(
            settings.gc_freeze_interval_s,
            settings.gc_full_interval_s,
            opened=lambda: app[SOCKET_SERVER].opened,
        )
    )
    port = runner.addresses[0][1]
    url = settings.public_url or f"http://{settings.host}:{port}"
    click.echo(f"vcounter server on {url}  (clerk console: {url}/)")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[None]] = []
    if extra is not None:
        tasks.append(asyncio.create_task(extra(url)))
    try:
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not waiter and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in [*tasks, waiter, keeper]:
            task.cancel()
        await asyncio.gather(*tasks, waiter, keeper, return_exceptions=True)
        unwatch()
        # readiness false first, serving on for drain_s while the proxy notices
        await drain(app, settings.drain_s)
        await runner.cleanup()


@main.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to bind (default 8080).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the signalling server and the clerk console until Ctrl-C."""
    settings = _settings(ctx).model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    asyncio.run(_serve(settings))


@main.command()
@click.option("--port", type=int, default=None, help="Port to bind (default 8080).")
@click.option(
    "--language",
    type=click.Choice(LANGUAGES),
    default="zh-Hant",
    help="The simulated applicant's language.",
)
@click.pass_context
def demo(ctx: click.Context, port: int | None, language: Language) -> None:
    """Run the server plus one simulated kiosk that keeps calling; sign in and take its calls."""
    settings = _settings(ctx)
    if port is not None:
        settings = settings.model_copy(update={"port": port})
    asyncio.run(_demo(settings, language))


async def _demo(settings: Settings, language: Language) -> None:
    from terminal_client.runner import run_terminal

    catalogue = load_catalogue(settings.catalogue_file)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token_file = settings.data_dir / "demo-terminal.token"
    async with Database(settings.db_url) as db:
        await db.upgrade()
        with contextlib.suppress(VcounterError):
            await store.create_clerk(
                db, DEMO_CLERK, DEMO_PASSWORD, "Demo Clerk 示范职员",
                [d.id for d in catalogue.departments],
            )  # fmt: skip
        with contextlib.suppress(VcounterError):
            await store.create_clerk(
                db, DEMO_SUPERVISOR, DEMO_SUPERVISOR_PASSWORD, "Demo Supervisor 示范主管",
                [d.id for d in catalogue.departments], "supervisor",
            )  # fmt: skip
        token = token_file.read_text().strip() if token_file.exists() else ""
        if not token or await store.find_terminal_by_token(db, token) is None:
            count = 1
            while True:
                try:
                    _, token = await store.register_terminal(db, f"demo-kiosk-{count}", "Demo hall")
                    break
                except VcounterError:
                    count += 1
            token_file.write_text(token)
            token_file.chmod(0o600)
        await seed_demo_map(db, catalogue, token)
        # the demo kiosk asks only for what its place serves; a mainland kiosk and the Hong
        # Kong and Macau clerks show the services that run the other way
        mainland_token = await seed_two_way(db, catalogue, settings.data_dir)
        found = await store.find_terminal_by_token(db, token)
        directions = (await kiosk_scope(db, found.id)).directions if found else UNPLACED_DIRECTIONS
        # the headless demo kiosk calls clerks; self-service services are tried at a kiosk screen
        services = [s.id for s in catalogue.serving(directions).services if s.self_service is None]

    async def kiosk(url: str) -> None:
        click.echo("")
        click.echo(f"  Open the clerk console:  {url}/")
        click.echo(f"  Sign in as:              {DEMO_CLERK} / {DEMO_PASSWORD}")
        click.echo("  Click 'Available' and take the calls the demo kiosk keeps making.")
        click.echo(f"  Supervisor console:      {url}/supervisor")
        click.echo(f"  Public service map:      {url}/map")
        click.echo(f"  Sign in as:              {DEMO_SUPERVISOR} / {DEMO_SUPERVISOR_PASSWORD}")
        for username, password, _, jurisdiction in TWO_WAY_CLERKS:
            label = {"hong-kong": "Hong Kong's clerk:", "macau": "Macau's clerk:"}[jurisdiction]
            click.echo(f"  {label:<24} {username} / {password}")
        if mainland_token is not None:
            click.echo("  Mainland kiosk (Futian Port; Hong Kong's and Macau's services):")
            click.echo(
                f'    ./run vcounter terminal --server {url} --token "$(cat {mainland_token})"'
            )
        click.echo("")
        await run_terminal(
            url, token, services, language, synthetic=True, camera="", microphone="",
            repeat=True, name="demo-kiosk",
        )  # fmt: skip

    async with contextlib.AsyncExitStack() as stack:
        if settings.payments_url is None:
            settings = await _demo_payments(stack, settings)
        if not settings.department_connectors:
            settings = await _demo_departments(stack, settings, catalogue)
        if not settings.eid_providers:
            settings = await _demo_eid(stack, settings)
        await _serve(settings, kiosk)


async def _demo_payments(stack: contextlib.AsyncExitStack, settings: Settings) -> Settings:
    """The payment sandbox as its own process, and the server's settings pointed at it."""
    from signaling.payments.sandbox import sandbox_process
    from signaling.payments.signatures import public_path

    provider_key = settings.data_dir / "payments-sandbox.pem"
    url = await stack.enter_async_context(
        sandbox_process(provider_key, settings.payments_merchant_key_path,
                        settings.payments_merchant_id)
    )  # fmt: skip
    click.echo(f"  Payment sandbox:         {url}  (the kiosk's QR codes open its payer page)")
    return settings.model_copy(
        update={"payments_url": url, "payments_provider_public_key": public_path(provider_key)}
    )


async def _demo_departments(
    stack: contextlib.AsyncExitStack, settings: Settings, catalogue: Catalogue
) -> Settings:
    """The department sandbox as its own process, the connector of every department with a
    self-service service pointed at it (the self-service services then appear at the kiosk)."""
    from signaling.departments.config import ConnectorSettings
    from signaling.departments.sandbox import sandbox_process
    from signaling.payments.signatures import public_path

    department_key = settings.data_dir / "department-sandbox.pem"
    client_key = settings.data_dir / "department-client.pem"
    url = await stack.enter_async_context(sandbox_process(department_key, client_key))
    click.echo(f"  Department sandbox:      {url}  (POST {url}/control makes it slow or fail)")
    connector = ConnectorSettings(
        url=url, key=client_key, department_key=public_path(department_key)
    )
    wanted = {s.department_id for s in catalogue.services if s.self_service is not None}
    return settings.model_copy(
        update={"department_connectors": dict.fromkeys(sorted(wanted), connector)}
    )


async def _demo_eid(stack: contextlib.AsyncExitStack, settings: Settings) -> Settings:
    """The development e-ID provider (npm oidc-provider) as its own process, and the server's
    settings pointed at it; without node the demo runs without e-ID sign-in."""
    from signaling.eid.dev_process import dev_provider_process
    from signaling.eid.errors import EidConfigError

    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    base = (settings.public_url or f"http://{host}:{settings.port}").rstrip("/")
    try:
        provider = await stack.enter_async_context(
            dev_provider_process(settings.data_dir, f"{base}/eid/callback")
        )
    except EidConfigError as exc:
        click.echo(f"  e-ID sign-in:            off ({exc.message})")
        return settings
    click.echo(f"  e-ID provider (dev):     {provider.issuer}  (sign in as chan.taiman / demo)")
    return settings.model_copy(update={"eid_providers": [provider]})


@main.group(invoke_without_command=True)
@click.option(
    "--server",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="The signalling server's URL.",
)
@click.option(
    "--token",
    envvar="VCOUNTER_TERMINAL_TOKEN",
    default=None,
    help="Device token from `vcounter terminal register` (or VCOUNTER_TERMINAL_TOKEN).",
)
@click.option(
    "--ui/--headless",
    default=True,
    show_default=True,
    help="Show the touch screen for applicants, or call --service by itself with no screen.",
)
@click.option(
    "--kiosk-port",
    type=click.IntRange(0, 65535),
    default=8090,
    show_default=True,
    help="Loopback port of the kiosk screen (with --ui): http://127.0.0.1:PORT/.",
)
@click.option(
    "--open-browser/--no-open-browser",
    default=True,
    show_default=True,
    help="With --ui and a display: show the screen in Chromium --kiosk (full screen).",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=5),
    default=90.0,
    show_default=True,
    help="With --ui: seconds without a touch before the screen warns it will start over.",
)
@click.option(
    "--idle-warning",
    type=click.FloatRange(min=1),
    default=20.0,
    show_default=True,
    help="With --ui: seconds the warning counts down before the screen starts over.",
)
@click.option(
    "--service",
    "services",
    multiple=True,
    help="With --headless: service id to ask for (repeatable; see /api/catalogue).",
)
@click.option(
    "--language",
    type=click.Choice(LANGUAGES),
    default="zh-Hant",
    show_default=True,
    help="The screen's starting language (--ui) or the applicant's language (--headless).",
)
@click.option(
    "--synthetic/--devices",
    default=True,
    show_default=True,
    help="Test pattern and tone, or the real camera and microphone.",
)
@click.option("--camera", default="/dev/video0", show_default=True, help="V4L2 camera device.")
@click.option("--microphone", default="default", show_default=True, help="ALSA/Pulse device.")
@click.option("--repeat/--once", default=False, help="With --headless: keep calling.")
@click.option(
    "--id-card-slot",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="With --ui: the simulated chip reader's slot folder (a card is inserted when a"
    " card/ folder appears in it); enables the identity step and reprints (print my result"
    " needs an ID reader).",
)
@click.option(
    "--id-scan-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="With --ui: folder the document scanner writes page images to; the newest new"
    " image is read for its MRZ and portrait; enables the identity step and reprints.",
)
@click.option(
    "--document-camera",
    default=None,
    help="With --ui: the document camera's V4L2 device, or 'synthetic' (a sheet on a desk;"
    " the default with --synthetic).",
)
@click.option(
    "--scanner-pages",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="With --ui: a folder of page images the simulated scanner returns"
    " (default with --synthetic: rendered pages).",
)
@click.option(
    "--usb-folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="With --ui: where the USB stick is mounted; its PDF/JPEG/PNG files can be sent.",
)
@click.option(
    "--printer",
    default=None,
    help="With --ui: CUPS queue for receipts and results (lp -d NAME); default: PDFs are"
    " written to DATA_DIR/print/spool.",
)
@click.pass_context
def terminal(
    ctx: click.Context,
    server: str,
    token: str | None,
    ui: bool,
    kiosk_port: int,
    open_browser: bool,
    idle_timeout: float,
    idle_warning: float,
    services: tuple[str, ...],
    language: Language,
    synthetic: bool,
    camera: str,
    microphone: str,
    repeat: bool,
    id_card_slot: Path | None,
    id_scan_dir: Path | None,
    document_camera: str | None,
    scanner_pages: Path | None,
    usb_folder: Path | None,
    printer: str | None,
) -> None:
    """Run a kiosk: the applicant's touch screen, or (--headless) a kiosk that calls by itself.

    With --ui the screen is served on http://127.0.0.1:KIOSK-PORT/ and, when a display is
    present, shown in Chromium full screen. Subcommands: `register` a new kiosk.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not token:
        raise click.UsageError("no device token: run `vcounter terminal register NAME` first")
    if ui:
        from terminal_client.kiosk.run import KioskOptions, run_kiosk

        options = KioskOptions(
            server_url=server, token=token, data_dir=_settings(ctx).data_dir, language=language,
            synthetic=synthetic, camera=camera, microphone=microphone, port=kiosk_port,
            open_browser=open_browser, idle_timeout_s=idle_timeout, idle_warning_s=idle_warning,
            id_card_slot=id_card_slot, id_scan_dir=id_scan_dir,
            document_camera=document_camera, scanner_pages=scanner_pages, usb_folder=usb_folder,
            printer=printer,
        )  # fmt: skip

        def announce(url: str) -> None:
            click.echo(f"vcounter kiosk screen on {url}  (server {server})")

        try:
            asyncio.run(run_kiosk(options, announce))
        except VcounterError as exc:
            _fail(exc)
        return
    from terminal_client.runner import run_terminal

    if not services:
        raise click.UsageError(
            "name at least one --service with --headless (ids are listed at /api/catalogue)"
        )
    catalogue = load_catalogue()
    try:
        for service_id in services:
            catalogue.service(service_id)
        asyncio.run(
            run_terminal(server, token, services, language, synthetic, camera, microphone, repeat)
        )
    except VcounterError as exc:
        _fail(exc)


@terminal.command("register")
@click.argument("name")
@click.option("--location", default="", help="Where the kiosk stands, e.g. 'Wan Chai hall 2'.")
@click.option(
    "--place",
    default=None,
    help="The service map's kiosk place it stands at (`vcounter place list`); its live status"
    " shows there.",
)
@click.pass_context
def terminal_register(ctx: click.Context, name: str, location: str, place: str | None) -> None:
    """Register a kiosk NAME and print its device token (shown once; store it on the kiosk)."""
    settings = _settings(ctx)

    async def run() -> str:
        async with Database(settings.db_url) as db:
            await db.upgrade()
            if place is not None:
                await place_for_terminal(db, place)  # refused before anything is registered
            _, token = await store.register_terminal(db, name, location)
            if place is not None:
                await attach_terminal(db, place, name)
            return token

    try:
        token = asyncio.run(run())
    except VcounterError as exc:
        _fail(exc)
    click.echo(token)


@main.group()
def clerk() -> None:
    """Manage clerk accounts."""


@clerk.command("add")
@click.argument("username")
@click.option("--name", "display_name", default=None, help="Name shown to applicants.")
@click.option(
    "--department",
    "departments",
    multiple=True,
    help="Department id the clerk serves (repeatable; default: all).",
)
@click.option("--password", default=None, help="Password (prompted when omitted).")
@click.option(
    "--role",
    type=click.Choice(["clerk", "supervisor", "auditor", "admin"]),
    default="clerk",
    show_default=True,
    help="A supervisor may watch queues and replay sessions; an auditor reads its"
    " departments' sessions; an admin manages accounts and kiosks (the /admin page).",
)
@click.pass_context
def clerk_add(
    ctx: click.Context,
    username: str,
    display_name: str | None,
    departments: tuple[str, ...],
    password: str | None,
    role: str,
) -> None:
    """Create a clerk account who can sign in to the console."""
    settings = _settings(ctx)
    catalogue = load_catalogue(settings.catalogue_file)
    known = {d.id for d in catalogue.departments}
    unknown = [d for d in departments if d not in known]
    if unknown:
        raise click.BadParameter(
            f"unknown department {', '.join(unknown)}; known: {', '.join(sorted(known))}",
            param_hint="--department",
        )
    if password is None:
        password = getpass.getpass(f"Password for {username}: ")
    if len(password) < 8:
        raise click.BadParameter("use at least 8 characters", param_hint="--password")

    async def run() -> None:
        async with Database(settings.db_url) as db:
            await db.upgrade()
            await store.create_clerk(
                db, username, password, display_name or username, list(departments or known), role
            )

    try:
        asyncio.run(run())
    except VcounterError as exc:
        _fail(exc)
    click.echo(f"{role} {username} created")


@main.group()
def db() -> None:
    """Manage the database."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply all database migrations (Alembic) to the configured database."""
    settings = _settings(ctx)
    upgrade_database(settings.db_url)
    click.echo(f"database at {settings.db_url} is up to date")


@main.group("callbacks")
def callbacks_group() -> None:
    """Callback tasks: applicants who left a phone number instead of waiting."""


@callbacks_group.command("list")
@click.option(
    "--state",
    type=click.Choice(["open", "taken", "closed"]),
    default=None,
    help="Only tasks in this state (default: all), oldest first.",
)
@click.pass_context
def callbacks_list(ctx: click.Context, state: str | None) -> None:
    """List callback tasks: reference, state, department, service, waiting since, attempts,
    clerk, outcome. Phone numbers are not shown (the clerk who takes a task sees it)."""
    settings = _settings(ctx)

    async def run() -> list[callbacks.CallbackSnap]:
        async with Database(settings.db_url) as db:
            await db.upgrade()
            states = [state] if state else list(callbacks.STATES)
            return await callbacks.listed(db, states=states)

    try:
        tasks = asyncio.run(run())
    except VcounterError as exc:
        _fail(exc)
    if not tasks:
        click.echo(f"no {state or ''} callbacks".replace("  ", " "))
        return
    click.echo(
        "reference  state   department      service                  since             attempts clerk outcome"
    )
    for t in tasks:
        click.echo(
            f"{t.reference:<10} {t.state:<7} {t.department_id:<15} {t.service_id:<24} "
            f"{t.created_at:%Y-%m-%d %H:%M} {t.attempts:>8} {t.taken_by or '-':>5} {t.outcome or '-'}"
        )


add_account_commands(clerk, terminal)
add_skill_commands(clerk)
add_place_commands(main)
main.add_command(audit)
main.add_command(keys)
main.add_command(verify)
main.add_command(report)
main.add_command(appointments)
main.add_command(payments_group)
main.add_command(complaints_group)

if __name__ == "__main__":
    main()
