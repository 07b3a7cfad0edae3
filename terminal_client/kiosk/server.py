"""The kiosk's local web server: the page Chromium shows full-screen, and its websocket.

Binds to loopback only: the page is the kiosk's own screen, not a service for the network.

- ``GET /`` the page; ``/static/`` its scripts, styles and icons
- ``GET /i18n/<language>.json`` the UI text
- ``GET /tts/<name>.wav`` spoken instructions (care mode)
- ``GET /ws`` the :mod:`~terminal_client.kiosk.messages` contract: a hello, then the whole
  view on every change; the page sends commands, and a bad one gets a notice, not a close

Every response carries a strict Content-Security-Policy: scripts and styles only from
``/static/``, nothing inline, nothing from elsewhere.

Only the kiosk's own browser may use it (:func:`page_guard`): the ``Host`` must be a
loopback name with the server's own port (no DNS rebinding: a page of evil.example that
resolves to 127.0.0.1 still says ``Host: evil.example``), and every request must carry the
per-launch secret the kiosk browser gets at start — in the launch URL once (``/?launch=``),
then as an HttpOnly, SameSite=Strict cookie; tools may send it as ``X-Kiosk-Key``. Another
local process or a web page cannot drive or watch the kiosk.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
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
LAUNCH_SECRET = web.AppKey("launch_secret", str)
COOKIE = "kiosk_key"
KEY_HEADER = "X-Kiosk-Key"
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
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


def launch_url(base_url: str, app: web.Application) -> str:
    """The URL the kiosk browser opens at start: the page, with this launch's secret."""
    return f"{base_url.rstrip('/')}/?launch={app[LAUNCH_SECRET]}"


def page_key(app: web.Application) -> dict[str, str]:
    """The header that lets a tool (not a browser) in: ``{X-Kiosk-Key: secret}``."""
    return {KEY_HEADER: app[LAUNCH_SECRET]}


def allowed_hosts(request: web.Request) -> set[str]:
    """``Host`` values this server answers to: loopback names with its own port."""
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    port = sockname[1] if isinstance(sockname, tuple) and len(sockname) >= 2 else None
    return {f"{host}:{port}" for host in _LOOPBACK_HOSTS}


def same_page(request: web.Request) -> bool:
    """Whether a websocket's ``Origin`` (if any) is the kiosk page's own, by the allow-list."""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc in allowed_hosts(request)


@web.middleware
async def page_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Only the kiosk's own browser: a loopback Host, and the per-launch secret."""
    if request.host not in allowed_hosts(request):
        raise web.HTTPMisdirectedRequest(text="this is the kiosk's own screen on loopback")
    secret = request.app[LAUNCH_SECRET]
    offered = request.query.get("launch")
    if request.path == "/" and offered is not None:
        if not hmac.compare_digest(offered, secret):
            raise web.HTTPForbidden(text="this is not the kiosk's launch link")
        # the secret leaves the address bar and lives on as a cookie only this page sends
        response = web.HTTPFound("/")
        response.set_cookie(COOKIE, secret, httponly=True, samesite="Strict", path="/")
        raise response
    presented = request.cookies.get(COOKIE) or request.headers.get(KEY_HEADER) or ""
    if not hmac.compare_digest(presented, secret):
        raise web.HTTPForbidden(text="only the kiosk's own browser may use this page")
    return await handler(request)


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


async def websocket(request: web.Request) -> web.WebSocketResponse:
    """The page's channel: views out, commands in."""
    if not same_page(request):
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
    secret: str | None = None,
) -> web.Application:
    """The kiosk page's app around a started or unstarted ``kiosk``.

    ``extra_routes`` adds more routes (the media bridge's ``/media/*`` websockets);
    ``secret`` is this launch's page secret (a fresh random one by default; open the page
    with :func:`launch_url`).
    """
    app = web.Application(middlewares=[security_headers, page_guard])
    app[LAUNCH_SECRET] = secret or secrets.token_urlsafe(32)
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
