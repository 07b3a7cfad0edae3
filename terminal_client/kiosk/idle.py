"""The kiosk's inactivity timer: warn after a quiet spell, then give up and start over.

The applicant may have walked away halfway through; what they entered must not wait for the
next person. The controller says when the timer applies, and what a warning and an expiry do.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable

log = logging.getLogger(__name__)


class IdleTimer:
    """Calls ``on_warning(seconds_left)`` each second after ``timeout_s`` without a touch, then
    ``on_expired()`` after ``warning_s`` more; any :meth:`touch` starts over."""

    def __init__(
        self,
        timeout_s: float,
        warning_s: float,
        applies: Callable[[], bool],
        on_warning: Callable[[int | None], None],
        on_expired: Callable[[], None],
    ) -> None:
        self.timeout_s = timeout_s
        self.warning_s = warning_s
        self.applies = applies
        self.on_warning = on_warning
        self.on_expired = on_expired
        self._activity = asyncio.Event()

    def touch(self) -> None:
        """The applicant touched the screen, or the screen changed: start counting again."""
        self._activity.set()

    async def _quiet_for(self, timeout: float) -> bool:
        """True if nothing happened for ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._activity.wait(), timeout)
        except TimeoutError:
            return True
        return False

    async def run(self) -> None:
        """Watch forever; run it as a task and cancel it to stop."""
        loop = asyncio.get_running_loop()
        while True:
            self._activity.clear()
            if not self.applies():
                await self._activity.wait()
                continue
            if not await self._quiet_for(self.timeout_s):
                continue
            deadline = loop.time() + self.warning_s
            expired = True
            while (left := deadline - loop.time()) > 0:
                self.on_warning(math.ceil(left))
                # wake when the number on screen should drop by one
                if not await self._quiet_for(left - (math.ceil(left) - 1)):
                    expired = False
                    break
            self.on_warning(None)
            if expired and self.applies():
                self.on_expired()
