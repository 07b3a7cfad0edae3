"""The signalling server: aiohttp app with socket.io, REST API and the clerk console."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import socketio
from aiohttp import web

from agent_console.routes import setup_console
from signaling.admin import setup_admin
from signaling.admission import Admission
from signaling.api import setup_api
from signaling.appointments import setup_appointments
from signaling.auth import turn_credentials
from signaling.callbacks import setup_callbacks
from signaling.catalogue import load_catalogue
from signaling.checkpointer import checkpointer
from signaling.client_address import client_address
from signaling.complaints.routes import setup_complaints
from signaling.directions_routes import setup_directions
from signaling.documents import setup_documents
from signaling.eid.routes import setup_eid
from signaling.fanout import QueueNotifier
from signaling.guard import setup_guard
from signaling.identity import setup_identity
from signaling.keys import BLOBS, CATALOGUE, DATABASE, DRAINING, METRICS, ROUTER, SETTINGS
from signaling.kiosk_devices import setup_kiosk_devices
from signaling.managers import LocalManager, RedisManager
from signaling.messages import Event, IceServer, Message, Role
from signaling.monitor import Monitors, SupervisorNamespace
from signaling.namespaces import ClerkNamespace, Context, TerminalNamespace
from signaling.operations import setup_operations
from signaling.paperwork.routes import setup_paperwork
from signaling.payments.routes import setup_payments
from signaling.phone import setup_phone
from signaling.places_routes import setup_places
from signaling.public_url import socket_origin_check
from signaling.recordings import setup_recordings
from signaling.rooms import NAMESPACES
from signaling.router import Router
from signaling.self_service.routes import catalogue_for, setup_self_service
from signaling.settings import Settings
from signaling.skills_api import setup_skills_api
from signaling.socket_server import SOCKET_SERVER, GuardedServer
from signaling.supervision import setup_supervision
from signaling.sweeper import Sweeper
from signaling.trail_check import trail_check
from signaling.transfer_targets import setup_transfer_targets
from signaling.wallboard import WALLBOARD, setup_wallboard
from signaling.workers import worker_pools
from storage import store
from storage.blobs import FileBlobStore
from storage.db import Database

log = logging.getLogger(__name__)

MAX_SOCKET_FRAME = 64 * 1024


class SocketEmitter:
    """Sends router messages through socket.io: to rooms (any process) or local sockets."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio

    async def to_room(self, role: Role, room: str, event: Event, message: Message) -> None:
        payload = message.model_dump(mode="json", by_alias=True)
        await self.sio.emit(event.value, payload, to=room, namespace=NAMESPACES[role])

    async def to_local(self, role: Role, sid: str, event: Event, message: Message) -> None:
        payload = message.model_dump(mode="json", by_alias=True)
        # a socket of this process: no need to publish it to the other processes
        await self.sio.emit(
            event.value, payload, to=sid, namespace=NAMESPACES[role], ignore_queue=True
        )

    async def drop(self, role: Role, sid: str) -> None:
        await self.sio.disconnect(sid, namespace=NAMESPACES[role])


# How long a refused request's unread body is drained before its connection closes (aiohttp's
# default is 10 s: an attacker's endless upload would hold a connection, and a shutdown, that long)
LINGERING_S = 1.0
# How long a shutdown waits for the sockets to take their close before it cuts them (a client
# that stopped reading never does)
CLOSE_SOCKETS_S = 3.0
# how long a stopping process waits for its queued messages to reach Redis
PUBLISH_AT_EXIT_S = 2.0


def ice_servers(settings: Settings, user: str) -> list[IceServer]:
    """ICE servers for one call: the configured ones plus freshly minted TURN credentials."""
    servers = list(settings.ice_servers)
    if settings.turn_urls and settings.turn_secret:
        servers.append(
            turn_credentials(settings.turn_urls, settings.turn_secret, user, settings.turn_ttl_s)
        )
    return servers


def create_app(settings: Settings) -> web.Application:
    """Build the server; the database and router live in its cleanup context."""
    # uploads (recording segments, scanned pages) are bigger than aiohttp's 1 MiB default
    app = web.Application(client_max_size=40 * 1024 * 1024)
    app[SETTINGS] = settings
    app[CATALOGUE] = catalogue_for(load_catalogue(settings.catalogue_file), settings)
    app[BLOBS] = FileBlobStore(settings.data_dir / "blobs")
    manager: LocalManager | RedisManager = LocalManager()
    if settings.redis_url:
        # several processes: messages to rooms reach sockets held by any of them
        manager = RedisManager(settings.redis_url, channel=settings.redis_channel)
    sio = GuardedServer(
        auth_timeout_s=settings.socket_auth_timeout_s,
        unauthenticated_per_address=settings.unauthenticated_sockets_per_address,
        send_queue_bytes=settings.socket_send_queue_bytes,
        strikes_per_address=settings.socket_strikes_per_address,
        strike_window_s=settings.socket_strike_window_s,
        address_of=lambda request: client_address(request, settings),
        client_manager=manager,
        async_mode="aiohttp",
        transports=["websocket"],
        # only the configured origin(s): an empty list would turn the Origin check off
        cors_allowed_origins=socket_origin_check(settings),
        # no frame of ours comes near this; anything bigger is junk decoded for nothing
        max_http_buffer_size=MAX_SOCKET_FRAME,
        # One socket's events are handled in order (an answer before its ICE candidates).
        async_handlers=False,
        # short pings: the service map shows a kiosk whose network is cut offline in 10 s
        ping_interval=settings.socket_ping_interval_s,
        ping_timeout=settings.socket_ping_timeout_s,
        logger=False,
        engineio_logger=False,
    )
    ctx = Context(
        db=lambda: app[DATABASE],
        router=lambda: app[ROUTER],
        signing_key=settings.signing_key(),
        events_per_second=settings.events_per_second,
        event_burst=settings.event_burst,
        admission=Admission(settings.handshakes_at_once, settings.handshake_wait_s),
        observe_event=lambda role, event, s: app[METRICS].observe_socket_event(role, event, s),
    )
    monitors = Monitors(
        ctx,
        sio,
        app[CATALOGUE],
        lambda user: ice_servers(settings, user),
        settings.ice_transport_policy,
    )
    sio.register_namespace(TerminalNamespace(ctx))
    sio.register_namespace(ClerkNamespace(ctx, lambda: monitors))
    sio.register_namespace(SupervisorNamespace(ctx, lambda: monitors))
    sio.attach(app)
    app[SOCKET_SERVER] = sio

    async def database(app: web.Application) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        async with Database(settings.db_url) as db:
            await db.upgrade()
            cat = app[CATALOGUE]
            await store.sync_catalogue(
                db,
                [(d.id, d.names.model_dump(by_alias=True)) for d in cat.departments],
                [
                    (
                        s.id,
                        s.department_id,
                        s.names.model_dump(by_alias=True),
                        [m.model_dump(mode="json", by_alias=True) for m in s.materials],
                        s.second_approval,
                    )
                    for s in cat.services
                ],
            )
            app[DATABASE] = db
            yield

    async def router(app: web.Application) -> AsyncIterator[None]:
        router = app[ROUTER] = Router(
            app[CATALOGUE],
            app[DATABASE],
            SocketEmitter(sio),
            settings.offer_timeout_s,
            lambda user: ice_servers(settings, user),
            settings.turn_ttl_s if settings.turn_urls and settings.turn_secret else None,
            decline_pause_s=settings.decline_pause_s,
            aging_ceiling_s=settings.aging_ceiling_s,
            draining=app[DRAINING],
            ice_policy=settings.ice_transport_policy,
            media_recovery_s=settings.media_recovery_s,
            media_restart_s=settings.media_restart_s,
            wrap_up_s=settings.wrap_up_s,
            wrap_up_extend_s=settings.wrap_up_extend_s,
            wrap_up_max_s=settings.wrap_up_max_s,
            away_reasons=settings.away_reasons,
            transfer_reserve_s=settings.transfer_reserve_s,
        )
        sweeper = Sweeper(
            router,
            interval_s=min(settings.sweep_interval_s, settings.offer_timeout_s / 4),
            grace_s=settings.grace_s,
            lease_s=settings.process_lease_s,
        )
        notifier = QueueNotifier(
            app[DATABASE], router.emitter, app[CATALOGUE], lambda: router.local_terminals,
            callback_offer_after_s=settings.callback_offer_after_s,
        )  # fmt: skip
        wallboard = app[WALLBOARD]

        def queue_changed() -> None:
            notifier.nudge()
            wallboard.nudge()

        router.on_queue_change = queue_changed
        router.forget_place = notifier.forget
        figures = app[METRICS]

        def offered(deadline_s: float) -> None:
            figures.offers.inc()
            sweeper.offer_due(deadline_s + 0.05)

        router.on_offer = offered
        router.on_timeout = figures.offer_timeouts.inc
        router.on_processes_gone = monitors.processes_gone
        await sweeper.start()
        router.spawn(sweeper.run())
        router.spawn(notifier.run())
        router.spawn(monitors.watch())
        yield
        await router.close()
        await sweeper.stop()

    async def publisher(app: web.Application) -> AsyncIterator[None]:
        yield
        # after the router's cleanup (its last messages), before the process goes
        if isinstance(manager, RedisManager) and not await manager.close(PUBLISH_AT_EXIT_S):
            log.warning("stopping with messages not yet published to Redis")

    async def close_sockets(app: web.Application) -> None:
        # Tell every kiosk and console now: otherwise their open websockets hold the shutdown
        # up and they only notice a dead server at the next ping timeout.
        await sio.close_all(CLOSE_SOCKETS_S)
        # and the wallboards' streams, which would hold it up as long
        await app[WALLBOARD].close()

    # first in, last out: password checks and public verification run on these to the end
    app.cleanup_ctx.append(worker_pools)
    app.cleanup_ctx.append(database)
    # checkpointer before router: at shutdown the router writes its last events first
    app.cleanup_ctx.append(checkpointer)
    # /verify and the supervisor's chain badge hold chains against the signed checkpoints
    app.cleanup_ctx.append(trail_check)
    app.cleanup_ctx.append(publisher)
    app.cleanup_ctx.append(router)
    app.on_shutdown.append(close_sockets)
    setup_operations(app)
    setup_api(app)
    setup_admin(app)
    setup_recordings(app)
    setup_supervision(app)
    setup_skills_api(app)
    setup_wallboard(app)
    setup_identity(app)
    setup_kiosk_devices(app)
    setup_transfer_targets(app)
    setup_documents(app)
    setup_callbacks(app)
    setup_appointments(app)
    setup_phone(app)
    setup_places(app)
    setup_directions(app)
    setup_complaints(app)
    setup_paperwork(app, sio)
    setup_payments(app)
    setup_self_service(app)
    setup_eid(app)
    setup_console(app)
    setup_guard(app)
    return app
