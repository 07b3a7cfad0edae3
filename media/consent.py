"""ICE consent freshness (RFC 7675) that holds on long paths.

aioice checks consent every ~5 s with a single STUN request that waits 0.5 s and gives up
after six misses in a row: on a 600 ms round trip (a satellite or congested cross-border link)
every check misses and the call ends after ~30 s with both ends still reachable. Here each
check is a STUN transaction with retransmissions (0.5, 1 and 2 s apart: an answer up to 3.5 s
late still counts, including one to the first try), and consent is lost only when no check has
succeeded for :data:`CONSENT_EXPIRY_S` (RFC 7675's 30 s).

aiortc creates its ICE connections itself, so the checker is installed on aioice's
``Connection`` class (:func:`install`), once per process, by the modules that make peers.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

from aioice import ice, stun

log = logging.getLogger(__name__)

CONSENT_INTERVAL_S = 5.0
CONSENT_EXPIRY_S = 30.0
# retransmissions of each check: tries at 0, 0.5 and 1.5 s, the last waited for until 3.5 s
CHECK_RETRANSMISSIONS = 2

_installed = False


async def _query_consent(self: Any) -> None:
    """Check consent on the nominated pairs until it has been missing for the expiry time."""
    assert self.remote_password is not None
    last_ok = time.monotonic()
    while True:
        await asyncio.sleep(CONSENT_INTERVAL_S * (0.8 + 0.4 * random.random()))
        for pair in list(self._nominated.values()):
            request = self.build_request(pair, nominate=False)
            try:
                await pair.protocol.request(
                    request,
                    pair.remote_addr,
                    integrity_key=self.remote_password.encode("utf8"),
                    retransmissions=CHECK_RETRANSMISSIONS,
                )
                last_ok = time.monotonic()
            except stun.TransactionError:
                pass
        if time.monotonic() - last_ok > CONSENT_EXPIRY_S:
            log.info("ICE consent expired: no answer to a check for %.0f s", CONSENT_EXPIRY_S)
            self._query_consent_task = None
            await self.close()
            return


def install() -> None:
    """Use the long-path consent checks for every ICE connection of this process."""
    global _installed
    if not _installed:
        ice.Connection.query_consent = _query_consent  # type: ignore[method-assign]
        _installed = True
