"""The kiosk's local web server: the page Chromium shows full-screen, and its websocket.

Binds to loopback only: the page is the kiosk's own screen, not a service for the network.

- ``GET /`` the page; ``/static/`` its scripts, styles and icons
- ``GET /i18n/<language>.json`` the UI text
- ``GET /tts/<name>.wav`` spoken instructions (care mode)
- ``GET /ws`` the :mod:`~terminal_client.kiosk.messages` contract: a hello, then the whole
  view on every change; the page sends commands, and a bad one gets a notice, not a close

Every response carries a strict Content-Security-Policy: scripts and styles only from
``/static/``, nothing inline, nothing from elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import TypeAdapter, ValidationError

from signaling.logs import context_log
from signaling.messages import LANGUAGES
from storage.errors import VcounterError
from terminal_client.errors import InvalidCommand, SpeechError
from terminal_client.kiosk.controller import KioskController
from terminal_client.kiosk.feed import Subscription
from terminal_client.kiosk.messages import Notice, NoticeMessage, UiCommand
from terminal_client.kiosk.translations import I18N_DIR

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
KIOSK = web.AppKey("kiosk", KioskController)
PAGES = web.AppKey("pages", weakref.WeakSet[web.WebSocketResponse])
# a signature's strokes (a few thousand pen samples) are the largest command
MAX_COMMAND_BYTES = 256 * 1024

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "worker-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

_commands: TypeAdapter[UiCommand] = TypeAdapter(UiCommand)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Strict CSP and friends on every response, errors included."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.path == "/" or request.path.startswith(("/static/", "/i18n/")):
        # a kiosk runs for months: after an update it must not keep showing the old page
        response.headers["Cache-Control"] = "no-cache"
    if isinstance(response, web.HTTPException):
        raise response
    return response


async def index(request: web.Request) -> web.FileResponse:
    """The kiosk page."""
    return web.FileResponse(STATIC_DIR / "index.html")


async def translations(request: web.Request) -> web.FileResponse:
    """One language's UI text, e.g. ``/i18n/zh-Hant.json``."""
    language = request.match_info["language"]
    if language not in LANGUAGES:
        raise web.HTTPNotFound(text=f"no UI text for {language!r}; use one of {LANGUAGES}")
    return web.FileResponse(
        I18N_DIR / f"{language}.json", headers={"Content-Type": "application/json"}
    )


async def speech(request: web.Request) -> web.FileResponse:
    """A spoken instruction made by :class:`~terminal_client.kiosk.tts.Speech`."""
    voice = request.app[KIOSK].voice.speech
    if voice is None:
        raise web.HTTPNotFound(text="this kiosk has no speech")
    try:
        path = voice.path(request.match_info["name"])
    except SpeechError as exc:
        raise web.HTTPNotFound(text=exc.message) from exc
    if not path.is_file():
        raise web.HTTPNotFound(text="no such speech file; it may have been pruned")
    return web.FileResponse(path, headers={"Content-Type": "audio/wav"})


def _same_origin(request: web.Request) -> bool:
    """Only the kiosk's own page may drive it: refuse other origins (cross-site websockets)."""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


async def websocket(request: web.Request) -> web.WebSocketResponse:
    """The page's channel: views out, commands in."""
    if not _same_origin(request):
        raise web.HTTPForbidden(text="the kiosk websocket only serves the kiosk's own page")
    kiosk = request.app[KIOSK]
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=MAX_COMMAND_BYTES)
    await ws.prepare(request)
    request.app[PAGES].add(ws)
    role = f"kiosk:{kiosk.name}"
    context_log(log, None, role).info("page connected")
    async with kiosk.subscribe() as subscription:
        sender = asyncio.get_running_loop().create_task(_send(ws, subscription))
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await _command(kiosk, subscription, message.data)
                elif message.type == WSMsgType.BINARY:
                    _refuse(subscription, InvalidCommand("commands are JSON text, not binary"))
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
    context_log(log, None, role).info("page disconnected")
    return ws


async def _send(ws: web.WebSocketResponse, subscription: Subscription) -> None:
    while not ws.closed:
        message = await subscription.get()
        try:
            await ws.send_str(message.model_dump_json(by_alias=True))
        except ConnectionResetError:
            return  # the page went away; the reader loop ends the handler


async def _command(kiosk: KioskController, subscription: Subscription, text: str) -> None:
    try:
        command = _commands.validate_json(text)
    except ValidationError as exc:
        _refuse(subscription, InvalidCommand(_first_problem(exc, text)))
        return
    try:
        await kiosk.handle(command)
    except VcounterError as exc:
        _refuse(subscription, exc)


def _first_problem(exc: ValidationError, text: str) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "message"
    try:
        kind = json.loads(text).get("type")
    except (ValueError, AttributeError):
        kind = None
    return f"invalid {kind or 'command'}: {where}: {first['msg']}"


def _refuse(subscription: Subscription, exc: VcounterError) -> None:
    log.info("refused a page command: %s", exc.message)
    notice = Notice(key=f"error.{exc.code}", detail=exc.message)
    subscription.put(NoticeMessage(notice=notice))


async def _close_pages(app: web.Application) -> None:
    """On shutdown, close the pages' sockets: an open page would otherwise hold it up."""
    pages = app[PAGES]
    for ws in [*pages]:
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"kiosk stopping")


def create_kiosk_app(
    kiosk: KioskController,
    extra_routes: Callable[[web.Application], None] | None = None,
) -> web.Application:
    """The kiosk page's app around a started or unstarted ``kiosk``.

    ``extra_routes`` adds more routes (the media bridge's ``/media/*`` websockets).
    """
    app = web.Application(middlewares=[security_headers])
    app[KIOSK] = kiosk
    pages: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
    app[PAGES] = pages
    app.on_shutdown.append(_close_pages)
    app.router.add_get("/", index)
    app.router.add_get("/ws", websocket)
    app.router.add_get(r"/i18n/{language}.json", translations)
    app.router.add_get(r"/tts/{name}.wav", speech)
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    if extra_routes is not None:
        extra_routes(app)
    return app
