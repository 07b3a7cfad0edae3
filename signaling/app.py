"""The signalling server: aiohttp app with socket.io, REST API and the clerk console."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import socketio
from aiohttp import web

from agent_console.routes import setup_console
from signaling.api import setup_api
from signaling.auth import turn_credentials
from signaling.catalogue import load_catalogue
from signaling.checkpointer import checkpointer
from signaling.documents import setup_documents
from signaling.identity import setup_identity
from signaling.keys import BLOBS, CATALOGUE, DATABASE, ROUTER, SETTINGS
from signaling.kiosk_devices import setup_kiosk_devices
from signaling.messages import NAMESPACE_CLERK, NAMESPACE_TERMINAL, Event, IceServer, Message, Role
from signaling.namespaces import ClerkNamespace, Context, TerminalNamespace
from signaling.paperwork.routes import setup_paperwork
from signaling.phone import setup_phone
from signaling.recorder import SessionRecorder
from signaling.recordings import setup_recordings
from signaling.router import Router
from signaling.settings import Settings
from signaling.supervision import setup_supervision
from storage import store
from storage.blobs import FileBlobStore
from storage.db import Database

log = logging.getLogger(__name__)

_NAMESPACES = {Role.TERMINAL: NAMESPACE_TERMINAL, Role.CLERK: NAMESPACE_CLERK}


class SocketEmitter:
    """Sends router messages through socket.io."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio

    async def send(self, role: Role, sid: str, event: Event, message: Message) -> None:
        payload = message.model_dump(mode="json", by_alias=True)
        await self.sio.emit(event.value, payload, to=sid, namespace=_NAMESPACES[role])

    async def drop(self, role: Role, sid: str) -> None:
        await self.sio.disconnect(sid, namespace=_NAMESPACES[role])


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
    app[CATALOGUE] = load_catalogue()
    app[BLOBS] = FileBlobStore(settings.data_dir / "blobs")
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        transports=["websocket"],
        cors_allowed_origins=[],
        # One socket's events are handled in order (an answer before its ICE candidates).
        async_handlers=False,
        logger=False,
        engineio_logger=False,
    )
    ctx = Context(
        db=lambda: app[DATABASE],
        router=lambda: app[ROUTER],
        signing_key=settings.signing_key(),
        events_per_second=settings.events_per_second,
        event_burst=settings.event_burst,
    )
    sio.register_namespace(TerminalNamespace(ctx))
    sio.register_namespace(ClerkNamespace(ctx))
    sio.attach(app)

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
        app[ROUTER] = Router(
            app[CATALOGUE],
            SessionRecorder(app[DATABASE]),
            SocketEmitter(sio),
            settings.offer_timeout_s,
            lambda user: ice_servers(settings, user),
            settings.turn_ttl_s if settings.turn_urls and settings.turn_secret else None,
        )
        yield
        await app[ROUTER].close()

    async def close_sockets(app: web.Application) -> None:
        # Tell every kiosk and console now: otherwise their open websockets hold the shutdown
        # up and they only notice a dead server at the next ping timeout.
        for namespace in list(sio.manager.rooms):
            for sid, _ in list(sio.manager.get_participants(namespace, None)):
                await sio.disconnect(sid, namespace=namespace)
        # and the connections in no namespace yet (a client still connecting, or refused):
        # each open websocket would hold the shutdown up just the same
        if sio.eio.sockets:
            await sio.eio.disconnect()
        await sio.shutdown()

    app.cleanup_ctx.append(database)
    # checkpointer before router: at shutdown the router writes its last events first
    app.cleanup_ctx.append(checkpointer)
    app.cleanup_ctx.append(router)
    app.on_shutdown.append(close_sockets)
    setup_api(app)
    setup_recordings(app)
    setup_supervision(app)
    setup_identity(app)
    setup_kiosk_devices(app)
    setup_documents(app)
    setup_phone(app)
    setup_paperwork(app, sio)
    setup_console(app)
    return app
