"""The drain flag: set at SIGTERM (or when shutdown starts), it stops new work here.

``app[DRAINING]`` (:mod:`signaling.keys`) is an :class:`asyncio.Event`. Once set, ``/readyz``
answers 503 so the proxy sends new connections elsewhere, and whoever opens new sessions calls
:func:`refuse_if_draining` first; sessions already open carry on until the process stops,
then their clients come back through the resume path on another process.

The router's hook, where a kiosk asks for a service::

    refuse_if_draining(app[DRAINING])   # raises ServerDraining, sent to the kiosk as an error
"""

from __future__ import annotations

import asyncio

from signaling.errors import ServerDraining

DRAINING_MESSAGE = (
    "this server is draining (stopping for a restart or deploy); your kiosk will reconnect to "
    "another server and can ask again"
)


def refuse_if_draining(draining: asyncio.Event) -> None:
    """Raise :class:`ServerDraining` when the process no longer takes new sessions."""
    if draining.is_set():
        raise ServerDraining(DRAINING_MESSAGE)
