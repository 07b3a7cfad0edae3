"""Operations endpoints: ``/livez``, ``/readyz``, ``/metrics``, and the drain at SIGTERM.

Mounted by :func:`setup_operations` (one call in :func:`signaling.app.create_app`):

- ``GET /livez``: the event loop answers and its lag monitor is ticking. A process whose
  loop is stuck cannot answer at all, so the orchestrator restarts it on time-out.
- ``GET /readyz``: 200 when this process should get new connections: the database answers
  ``SELECT 1`` and Redis answers ``PING`` (when ``redis_url`` is set), each within
  ``ready_timeout_s``, and the process is not draining. Otherwise 503 with the reason; the
  proxy's health check (README, "Running several processes") takes it out of rotation.
- ``GET /metrics``: Prometheus text, names in :mod:`signaling.metrics`; queue figures are
  read from the store at each scrape, so every process reports the same shared queue.

Draining: SIGTERM (``vcounter serve``) or the start of shutdown sets ``app[DRAINING]``;
see :mod:`signaling.draining` for the hook that refuses new sessions.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from signaling.keys import CATALOGUE, DATABASE, DRAINING, METRICS, SETTINGS
from signaling.logs import context_log
from signaling.messages import ClerkState, SessionState
from signaling.metrics import Metrics
from storage import presence
from storage.db import Database
from storage.models import CallSession, Service

log = logging.getLogger(__name__)

# The lag monitor's tick: short enough to catch a blocked loop, cheap enough to never matter.
LAG_TICK_S = 0.25
# /livez fails when the monitor has not ticked for this long (it died, or the loop is stuck).
LIVE_STALE_S = 10.0

_REDIS = web.AppKey("operations_redis", aioredis.Redis)


@dataclass
class _Tick:
    """The lag monitor's last tick: when (monotonic) and how late it woke."""

    at: float
    lag_s: float = 0.0


_TICK = web.AppKey("operations_tick", _Tick)


class Liveness(BaseModel):
    """``GET /livez`` body."""

    status: Literal["ok", "stalled"]
    loop_lag_s: float
    since_tick_s: float


class Readiness(BaseModel):
    """``GET /readyz`` body: each check's result ("ok" or what failed) and the first reason."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, str]
    reason: str | None = None


# ---------------------------------------------------------------------- drain


def begin_drain(app: web.Application, why: str) -> None:
    """Stop taking new work here: readiness turns false at once (idempotent)."""
    draining = app[DRAINING]
    if draining.is_set():
        return
    draining.set()
    app[METRICS].draining.set(1)
    context_log(log, None, "server").info("draining: %s; /readyz now answers 503", why)


async def drain(app: web.Application, seconds: float) -> None:
    """Begin draining and keep serving ``seconds`` more, so the proxy's health check sees
    the 503 and sends new connections elsewhere before this process closes its sockets."""
    begin_drain(app, "SIGTERM")
    if seconds > 0:
        await asyncio.sleep(seconds)


# ---------------------------------------------------------------------- checks


async def _database_ok(db: Database, metrics: Metrics) -> None:
    started = time.perf_counter()
    async with db.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    metrics.db_ping.set(time.perf_counter() - started)


async def _check(name: str, probe: Awaitable[object], timeout_s: float) -> str:
    """Run one probe with a deadline; "ok" or a sentence saying what failed."""
    try:
        async with asyncio.timeout(timeout_s):
            await probe
    except TimeoutError:
        return f"{name} did not answer within {timeout_s:g} s"
    except (OSError, SQLAlchemyError, aioredis.RedisError) as exc:
        return f"{name} is unreachable: {type(exc).__name__}: {exc}"
    return "ok"


async def readiness(app: web.Application) -> Readiness:
    """Whether this process should get new connections, and if not, why."""
    settings = app[SETTINGS]
    checks: dict[str, str] = {}
    db = app.get(DATABASE)
    if db is None:
        checks["database"] = "the database is not open yet (the server is starting)"
    else:
        checks["database"] = await _check(
            "the database", _database_ok(db, app[METRICS]), settings.ready_timeout_s
        )
    client = app.get(_REDIS)
    if client is not None:
        checks["redis"] = await _check("Redis", client.ping(), settings.ready_timeout_s)
    if app[DRAINING].is_set():
        checks["draining"] = "this server is draining before it stops"
    failed = [value for value in checks.values() if value != "ok"]
    return Readiness(
        status="not_ready" if failed else "ready",
        checks=checks,
        reason=failed[0] if failed else None,
    )


# ---------------------------------------------------------------------- handlers


async def livez(request: web.Request) -> web.Response:
    """The loop is alive when this answers and the lag monitor ticked recently."""
    tick = request.app[_TICK]
    since = time.monotonic() - tick.at
    body = Liveness(
        status="ok" if since < LIVE_STALE_S else "stalled",
        loop_lag_s=round(tick.lag_s, 4),
        since_tick_s=round(since, 3),
    )
    return web.json_response(body.model_dump(), status=200 if body.status == "ok" else 503)


async def readyz(request: web.Request) -> web.Response:
    """200 when the database (and Redis) answer and the process is not draining; else 503."""
    body = await readiness(request.app)
    return web.json_response(
        body.model_dump(exclude_none=True), status=200 if body.status == "ready" else 503
    )


async def queue_figures(db: Database) -> tuple[dict[str, tuple[int, datetime]], int]:
    """From the store: per department, the waiting count and the oldest ``created_at``;
    and how many calls are in progress."""
    async with db.sessions() as session:
        rows = await session.execute(
            select(Service.department_id, func.count(), func.min(CallSession.created_at))
            .join(Service, Service.id == CallSession.service_id)
            .where(CallSession.state == SessionState.QUEUED.value)
            .group_by(Service.department_id)
        )
        waiting = {dept: (int(count), oldest) for dept, count, oldest in rows}
        calls = await session.scalar(
            select(func.count())
            .select_from(CallSession)
            .where(
                CallSession.state.in_([SessionState.CONNECTING.value, SessionState.IN_CALL.value])
            )
        )
    return waiting, int(calls or 0)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text; queue figures and the database ping are taken now."""
    app = request.app
    figures = app[METRICS]
    db = app.get(DATABASE)
    timeout_s = app[SETTINGS].ready_timeout_s
    if db is not None:
        if await _check("the database", _database_ok(db, figures), timeout_s) == "ok":
            waiting, calls = await queue_figures(db)
            # clerk presence is in the store: every process reports the same figures
            states = collections.Counter(
                ClerkState(c.state) if c.connected else ClerkState.OFFLINE
                for c, _ in await presence.clerks(db)
            )
            figures.clerk_states_from(lambda: states)
            departments = [d.id for d in app[CATALOGUE].departments]
            figures.set_queue(departments, waiting, calls, datetime.now(UTC))
        else:
            # the queue figures stay as the last scrape saw them; /readyz says why
            figures.db_ping_failures.inc()
    return web.Response(body=figures.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})


# ---------------------------------------------------------------------- lifetime


async def _lag_monitor(app: web.Application) -> None:
    loop = asyncio.get_running_loop()
    figures, tick = app[METRICS], app[_TICK]
    while True:
        started = loop.time()
        await asyncio.sleep(LAG_TICK_S)
        tick.lag_s = max(0.0, loop.time() - started - LAG_TICK_S)
        tick.at = time.monotonic()
        figures.observe_loop_lag(tick.lag_s)


async def _operations(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    figures = app[METRICS]
    undo = figures.watch_database(app[DATABASE])
    if settings.redis_url:
        app[_REDIS] = aioredis.Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=settings.ready_timeout_s,
            socket_timeout=settings.ready_timeout_s,
        )
    app[_TICK].at = time.monotonic()
    monitor = asyncio.create_task(_lag_monitor(app), name="loop-lag-monitor")
    try:
        yield
    finally:
        monitor.cancel()
        await asyncio.gather(monitor, return_exceptions=True)
        if _REDIS in app:
            await app[_REDIS].aclose()
        undo()


async def _draining_on_shutdown(app: web.Application) -> None:
    begin_drain(app, "shutdown started")


def setup_operations(app: web.Application) -> None:
    """Mount ``/livez``, ``/readyz`` and ``/metrics``; call after the database's cleanup
    context is registered (the monitor hooks the database's engine)."""
    app[DRAINING] = asyncio.Event()
    app[METRICS] = Metrics()
    app[_TICK] = _Tick(time.monotonic())
    app.cleanup_ctx.append(_operations)
    # first on shutdown: readiness is false before the sockets are told goodbye
    app.on_shutdown.insert(0, _draining_on_shutdown)
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
