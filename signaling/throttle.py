"""Throttles for what anonymous callers can ask: sign-in attempts and public verification.

In memory, per process: each process of a scaled-out deployment counts on its own, which
multiplies the allowance by the number of processes but keeps it bounded. Keys are client
addresses (the connection's peer, never a header the client writes) and account names; the
tables forget their oldest keys past :data:`MAX_KEYS`, so a flood of fresh keys cannot grow
memory without bound.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

MAX_KEYS = 50_000


class FailureWindow:
    """Counts failures per key over a sliding window; a key with ``limit`` of them is
    blocked until the oldest one leaves the window."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        stamps = self._failures.get(key)
        if stamps is None:
            return None
        while stamps and stamps[0] <= now - self.window_s:
            stamps.popleft()
        if not stamps:
            del self._failures[key]
            return None
        return stamps

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it may now."""
        now = time.monotonic()
        stamps = self._recent(key, now)
        if stamps is None or len(stamps) < self.limit:
            return 0.0
        return max(0.0, stamps[0] + self.window_s - now)

    def fail(self, key: str) -> bool:
        """Count one failure; True when this one made ``key`` blocked."""
        now = time.monotonic()
        stamps = self._recent(key, now)
        if stamps is None:
            stamps = self._failures[key] = deque()
        else:
            self._failures.move_to_end(key)
        stamps.append(now)
        while len(self._failures) > MAX_KEYS:
            self._failures.popitem(last=False)
        return len(stamps) == self.limit

    def count(self, key: str) -> int:
        """Failures of ``key`` in the window now."""
        stamps = self._recent(key, time.monotonic())
        return 0 if stamps is None else len(stamps)

    def clear(self, key: str) -> None:
        """Forget ``key``'s failures (a successful sign-in)."""
        self._failures.pop(key, None)

    def undo(self, key: str) -> None:
        """Take back the newest failure of ``key`` (an attempt counted ahead that succeeded)."""
        stamps = self._failures.get(key)
        if stamps:
            stamps.pop()


class RateLimit:
    """A token bucket per key: ``per_minute`` on average, bursts of ``burst``."""

    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Spend one request of ``key``; returns 0 if allowed, else seconds to wait."""
        now = time.monotonic()
        tokens, stamp = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > MAX_KEYS:
            self._buckets.popitem(last=False)
        return wait


@dataclass(frozen=True)
class Lane:
    """Where a password check waits its turn; ``public``: the lane anyone may reach, whose
    checks run at low CPU priority (:mod:`signaling.workers`)."""

    slots: asyncio.Semaphore
    public: bool


class LoginGuard:
    """Sign-in throttling per account and per address, and a bound on concurrent password
    checks so a flood of attempts cannot take every core (argon2 is slow on purpose)."""

    def __init__(
        self,
        per_account: int,
        per_address: int,
        window_s: float,
        shared_per_minute: float = 30.0,
        shared_burst: int = 5,
    ) -> None:
        self.accounts = FailureWindow(per_account, window_s)
        self.addresses = FailureWindow(per_address, window_s)
        # one password check per core at most; the rest wait their turn off the CPU
        self.known = Lane(asyncio.Semaphore(2), public=False)
        # addresses not known to sign in share one slot: a flood of wrong passwords from new
        # addresses gets one core at most, and a clerk at a desk that signed in before
        # never queues behind it
        self.shared = Lane(asyncio.Semaphore(1), public=True)
        # and at most this many a second all together: beyond it, "busy" at no CPU cost
        self.other_rate = RateLimit(per_minute=shared_per_minute, burst=shared_burst)
        self.window_s = window_s
        self._good: OrderedDict[str, float] = OrderedDict()

    def lane(self, address: str) -> Lane | None:
        """The lane a password check from ``address`` waits in: the known-good lane for an
        address that signed in within the window and has not failed since, else the shared
        lane — or None when the shared lane is over its rate (answer "busy")."""
        seen = self._good.get(address)
        known = seen is not None and time.monotonic() - seen < self.window_s
        if known and self.addresses.count(address) == 0:
            return self.known
        if self.other_rate.take("*") > 0:
            return None
        return self.shared

    def retry_after(self, username: str, address: str) -> float:
        """Seconds until this account may be tried from this address again (0: now)."""
        return max(self.accounts.retry_after(username), self.addresses.retry_after(address))

    def attempt(self, username: str, address: str) -> bool:
        """Count an attempt as failed *before* checking the password, so that many sent at
        once cannot all slip in ahead of the count; True when it made either side blocked.
        :meth:`succeeded` takes it back."""
        account = self.accounts.fail(username)
        address_blocked = self.addresses.fail(address)
        return account or address_blocked

    def succeeded(self, username: str, address: str) -> None:
        """A right password clears the account's count and takes back this attempt."""
        self.accounts.clear(username)
        self.addresses.undo(address)
        self._good[address] = time.monotonic()
        self._good.move_to_end(address)
        while len(self._good) > MAX_KEYS:
            self._good.popitem(last=False)


class Tarpit:
    """Holds a refusal back before it is sent.

    An attacking script asks again the moment it is refused; answered at once, twenty of them
    keep the event loop busy refusing hundreds of requests a second however cheap each
    refusal is. Held for ``delay_s`` (a sleeping coroutine: no CPU), each asks a few times a
    minute. At most ``capacity`` refusals wait at once (each holds a connection); past it
    they are answered at once.
    """

    def __init__(self, delay_s: float, capacity: int = 256) -> None:
        self.delay_s = delay_s
        self.capacity = capacity
        self.waiting = 0

    async def hold(self, retry_after_s: float) -> None:
        """Wait before refusing a caller told to retry in ``retry_after_s`` (never longer)."""
        delay = min(self.delay_s, retry_after_s)
        if delay <= 0 or self.waiting >= self.capacity:
            return
        self.waiting += 1
        try:
            await asyncio.sleep(delay)
        finally:
            self.waiting -= 1
