"""Queue and routing: waiting sessions are offered to available clerks of the right department.

The store is the state of record (storage/routing.py, storage/presence.py): every change is
one transaction that checks the state it expects, changes it and appends its chain event;
only after the commit is anyone told, by a message to the person's room. Any process may run
any of these methods for any session; this process's memory holds only which sockets it has.
Matching runs in its own task (``request_dispatch``), never inside another socket's handler.
"""

import logging

from signaling.router.calls import check_description_role
from signaling.router.media import Media
from signaling.router.offers import Offers
from signaling.router.presence import ClerkGreeting, Presence
from signaling.router.transfers import Transfers
from signaling.router.waiting import Waiting

log = logging.getLogger(__name__)


class Router(Waiting, Presence, Offers, Transfers, Media):
    """The routing of one process over the shared store; its parts, by what each holds:
    ``waiting`` (the kiosk's side of the queue), ``presence`` (clerks reachable or not),
    ``matching`` (offers made in batches), ``offers`` (answers to an offer), ``calls`` (a call
    in progress), ``media`` (its media breaking and recovering), ``transfers`` (a call handed on) and ``outcomes`` (withdrawals
    and endings), over ``base`` (shared state)."""

    async def resync_local(self, gone: set[str]) -> None:
        """Processes ``gone`` may have died between committing a change and sending its
        messages (a call accepted, its kiosk never told): everyone connected here gets their
        state again. Those connected there reconnect and get theirs anyway."""
        log.warning("processes gone (%s): sending every local socket its state", ", ".join(gone))
        await self.resync_terminals()
        await self.resync_clerks()
        if self.on_processes_gone is not None:
            await self.on_processes_gone(gone)


__all__ = ["ClerkGreeting", "Router", "check_description_role"]
