"""The kiosk's messages to its pages: each open page has a :class:`Subscription`."""

from __future__ import annotations

import asyncio
from collections import deque

from terminal_client.kiosk.messages import KioskMessage, ViewMessage


class Subscription:
    """Messages for one page, oldest first; a newer view replaces one not yet sent."""

    def __init__(self) -> None:
        self._items: deque[KioskMessage] = deque()
        self._ready = asyncio.Event()

    def put(self, message: KioskMessage) -> None:
        """Queue ``message``; views are whole, so only the newest unsent one is kept."""
        if isinstance(message, ViewMessage):
            self._items = deque(m for m in self._items if not isinstance(m, ViewMessage))
        self._items.append(message)
        self._ready.set()

    async def get(self) -> KioskMessage:
        """The next message, waiting for one if none is queued."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()


class Feed:
    """Every open page's subscription; :meth:`send` reaches all of them."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def add(self, subscription: Subscription) -> None:
        """Start sending to ``subscription``."""
        self._subscriptions.add(subscription)

    def remove(self, subscription: Subscription) -> None:
        """Stop sending to ``subscription`` (its page closed)."""
        self._subscriptions.discard(subscription)

    def send(self, message: KioskMessage) -> None:
        """Queue ``message`` for every page."""
        for subscription in self._subscriptions:
            subscription.put(message)
