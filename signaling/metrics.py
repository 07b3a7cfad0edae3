"""The server's Prometheus metrics: names, meanings and the small API the router calls.

Each app has its own :class:`Metrics` (``app[METRICS]``) with its own
``CollectorRegistry``: tests run several servers in one process, and the global registry
would mix their figures (and refuse the second registration of a name).

What ``GET /metrics`` shows, and who feeds it:

==========================================  ====================================================
``vcounter_waiting{department}``            sessions in state ``queued``, from the store, at scrape
``vcounter_oldest_wait_seconds{department}`` age of the oldest of them (0 when none), at scrape
``vcounter_calls_in_progress``              sessions ``connecting`` or ``in_call``, at scrape
``vcounter_clerks{state}``                  clerks per :class:`ClerkState`, from the presence
                                            source (see :meth:`Metrics.clerk_states_from`)
``vcounter_offers_total``                   calls offered to a clerk: ``metrics.offers.inc()``
``vcounter_offer_timeouts_total``           offers that rang out: ``metrics.offer_timeouts.inc()``
``vcounter_event_loop_lag_seconds``         histogram of the loop's oversleep on a 0.25 s tick
``vcounter_event_loop_lag_last_seconds``    the last tick's oversleep
``vcounter_gc_pause_seconds{generation}``   histogram of garbage collections (``vcounter serve``)
``vcounter_socket_event_seconds{role,event}`` histogram of each socket event's handling time
``vcounter_db_latency_seconds``             histogram of every SQL statement's time (engine hook)
                                            plus anything timed with ``metrics.db_latency.time()``
``vcounter_db_ping_seconds``                the ``SELECT 1`` timed at this scrape
``vcounter_db_ping_failures_total``         scrapes whose ``SELECT 1`` failed (figures kept)
``vcounter_draining``                       1 once SIGTERM or shutdown started
==========================================  ====================================================

The router calls ``app[METRICS].offers.inc()`` where it offers a call and
``app[METRICS].offer_timeouts.inc()`` where an offer rings out; nothing else is needed
from it. A presence module that knows the clerks' states registers itself with
:meth:`Metrics.clerk_states_from`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import event

from signaling.messages import ClerkState
from storage.db import Database

# Seconds: event-loop lag is healthy well under 10 ms; past a second clients time out.
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

ClerkStates = Callable[[], Mapping[ClerkState, int]]


class Metrics:
    """One server's metrics in its own registry; see the module docstring for the names."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.offers = Counter("vcounter_offers", "Calls offered to a clerk.", registry=r)
        self.offer_timeouts = Counter(
            "vcounter_offer_timeouts", "Offers that rang out unanswered.", registry=r
        )
        self.waiting = Gauge(
            "vcounter_waiting", "Sessions waiting in the queue.", ["department"], registry=r
        )
        self.oldest_wait = Gauge(
            "vcounter_oldest_wait_seconds",
            "How long the longest-waiting session of the department has waited.",
            ["department"],
            registry=r,
        )
        self.calls_in_progress = Gauge(
            "vcounter_calls_in_progress", "Sessions connecting or in a call.", registry=r
        )
        self.clerks = Gauge("vcounter_clerks", "Clerks per state.", ["state"], registry=r)
        self.loop_lag = Histogram(
            "vcounter_event_loop_lag_seconds",
            "How late the event loop woke from a 0.25 s sleep.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.loop_lag_last = Gauge(
            "vcounter_event_loop_lag_last_seconds", "The last measured loop lag.", registry=r
        )
        self.gc_pause = Histogram(
            "vcounter_gc_pause_seconds",
            "How long each garbage collection held the process, by generation.",
            ["generation"],
            buckets=LAG_BUCKETS,
            registry=r,
        )
        # bound once: a pause is reported on every collection, young ones many times a second
        self._gc_pauses = [self.gc_pause.labels(generation=str(g)) for g in range(3)]
        self.socket_event = Histogram(
            "vcounter_socket_event_seconds",
            "How long the server took over one socket event, by role and event (a socket's"
            " next event waits for it).",
            ["role", "event"],
            buckets=DB_BUCKETS,
            registry=r,
        )
        self.db_latency = Histogram(
            "vcounter_db_latency_seconds",
            "Time of each SQL statement, as the server waited for it.",
            buckets=DB_BUCKETS,
            registry=r,
        )
        self.db_ping = Gauge(
            "vcounter_db_ping_seconds", "SELECT 1 round trip at the last scrape.", registry=r
        )
        self.db_ping_failures = Counter(
            "vcounter_db_ping_failures",
            "Scrapes whose SELECT 1 failed or timed out (queue figures then kept).",
            registry=r,
        )
        self.draining = Gauge(
            "vcounter_draining", "1 while the server drains before it stops.", registry=r
        )
        self._clerk_states: ClerkStates | None = None

    # ------------------------------------------------------------------ feeding

    def clerk_states_from(self, source: ClerkStates | None) -> None:
        """Read clerk states from ``source`` at each scrape (None: report none)."""
        self._clerk_states = source

    def observe_loop_lag(self, seconds: float) -> None:
        """Record one tick of the loop-lag monitor."""
        self.loop_lag.observe(seconds)
        self.loop_lag_last.set(seconds)

    def observe_socket_event(self, role: str, event: str, seconds: float) -> None:
        """Record how long one handled socket event took."""
        self.socket_event.labels(role=role, event=event).observe(seconds)

    def observe_gc_pause(self, generation: int, seconds: float) -> None:
        """Record one garbage collection (``vcounter serve`` watches them)."""
        self._gc_pauses[generation].observe(seconds)

    def set_queue(
        self,
        departments: list[str],
        waiting: Mapping[str, tuple[int, datetime]],
        calls_in_progress: int,
        now: datetime,
    ) -> None:
        """Scrape-time figures: ``waiting`` maps a department to (count, oldest created_at)."""
        for dept in {*departments, *waiting}:
            count, oldest = waiting.get(dept, (0, now))
            self.waiting.labels(department=dept).set(count)
            self.oldest_wait.labels(department=dept).set(max(0.0, (now - oldest).total_seconds()))
        self.calls_in_progress.set(calls_in_progress)
        if self._clerk_states is not None:
            states = self._clerk_states()
            for state in ClerkState:
                self.clerks.labels(state=state.value).set(states.get(state, 0))

    def watch_database(self, db: Database) -> Callable[[], None]:
        """Time every statement ``db`` runs into ``db_latency``; returns the undo."""
        sync = db.engine.sync_engine

        # the start rides on the statement's execution context: a failed statement simply
        # goes untimed instead of leaving a stale start behind
        def before(conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any) -> None:  # fmt: skip
            if context is not None:
                context.vcounter_started = time.perf_counter()

        def after(conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any) -> None:  # fmt: skip
            started = getattr(context, "vcounter_started", None)
            if started is not None:
                self.db_latency.observe(time.perf_counter() - started)

        def direct(_statement: str, seconds: float) -> None:
            self.db_latency.observe(seconds)

        event.listen(sync, "before_cursor_execute", before)
        event.listen(sync, "after_cursor_execute", after)
        db.direct_statements.append(direct)

        def undo() -> None:
            event.remove(sync, "before_cursor_execute", before)
            event.remove(sync, "after_cursor_execute", after)
            db.direct_statements.remove(direct)

        return undo

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)
