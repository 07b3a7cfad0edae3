"""A call's media after a break: both sides told how it stands, a new peer connection asked
for when one failed, the call ended (front of the queue offered) past the limit."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from signaling.logs import context_log
from signaling.messages import Event, MediaState, MediaStatus, Role
from signaling.rooms import clerk_room, terminal_room
from signaling.router.calls import Calls
from storage import media_breaks, presence, routing
from storage.media_breaks import MediaOutcome

log = logging.getLogger(__name__)

# what a report changed, as the state both sides are told (the rest changes nothing to say)
_TOLD = {"interrupted": "interrupted", "restarting": "restarting", "restored": "restored"}


class Media(Calls):
    """Media reports from the two sides of a call and what the server does about them."""

    async def media_status(self, role: Role, member_id: int, status: MediaStatus) -> None:
        """A side reports its media: the first ``connected`` starts the call; a break is
        recorded, a failed peer connection replaced, a recovery closes the break."""
        await self.peer_room(role, member_id, status.session_id)
        actor = self._actor(role, member_id)
        outcome = await media_breaks.report(
            self.db,
            status.session_id,
            "terminal" if role == Role.TERMINAL else "clerk",
            actor,
            state=status.state,
            attempt=status.attempt,
            stalled_ms=status.stalled_ms,
            figures=status.figures.model_dump(exclude_none=True) if status.figures else None,
        )
        if outcome is None or outcome.kind not in _TOLD:
            return
        context_log(log, status.session_id, actor).info(
            "media %s (attempt %d, link %s, reported %s)",
            outcome.kind,
            outcome.attempt,
            outcome.link,
            status.state,
        )
        await self._tell_media(status.session_id, self._media_state(status.session_id, outcome))

    def _media_state(self, session_id: str, outcome: MediaOutcome) -> MediaState:
        ends_in_s = None
        if outcome.kind != "restored" and outcome.since is not None:
            broken_s = (datetime.now(UTC) - outcome.since).total_seconds()
            ends_in_s = round(max(0.0, self.media_recovery_s - broken_s), 1)
        return MediaState(
            session_id=session_id,
            state=_TOLD[outcome.kind],
            attempt=outcome.attempt,
            link=outcome.link,
            ends_in_s=ends_in_s,
            gap_ms=outcome.gap_ms,
        )

    async def _tell_media(self, session_id: str, state: MediaState) -> None:
        parties = self._fresh_parties(session_id)
        if parties is None:
            session = await routing.get(self.db, session_id)
            if session is None:
                return
            parties = self._remember_parties(session)
        terminal_id, clerk_id, _ = parties
        await self.emitter.to_room(
            Role.TERMINAL, terminal_room(terminal_id), Event.MEDIA_STATE, state
        )
        if clerk_id is not None:
            await self.emitter.to_room(Role.CLERK, clerk_room(clerk_id), Event.MEDIA_STATE, state)

    async def media_view(self, session_id: str) -> MediaState | None:
        """How a call's broken media stands now (for a side coming back), None if it flows."""
        view = await media_breaks.view(self.db, session_id)
        if view is None or view.since is None:
            return None
        kind = "restarting" if view.restarting else "interrupted"
        return self._media_state(
            session_id, MediaOutcome(kind, view.attempt, view.since, view.link)
        )

    async def media_stuck(self, session_id: str) -> None:
        """The call's media has not come back for a while: a new peer connection is asked for
        (both ends are told; the kiosk makes it)."""
        outcome = await media_breaks.restart_if_stuck(
            self.db, session_id, self.media_restart_s, "server"
        )
        if outcome is not None:
            context_log(log, session_id, "server").warning(
                "media still broken after %.0f s: asking for peer connection %d",
                self.media_restart_s,
                outcome.attempt,
            )
            await self._tell_media(session_id, self._media_state(session_id, outcome))

    async def media_lost(self, session_id: str) -> None:
        """The call's media stayed broken past the limit: it ends as lost, and the applicant
        is offered the front of the queue."""
        session = await routing.get(self.db, session_id)
        view = await media_breaks.view(self.db, session_id)
        if session is None or not session.in_call or view is None or view.since is None:
            return
        offline: set[media_breaks.Side] = set()
        if not await presence.terminal_connected(self.db, session.terminal_id):
            offline.add("terminal")
        if session.clerk_id is not None:
            clerk = await presence.clerk(self.db, session.clerk_id)
            if clerk is None or not clerk.connected:
                offline.add("clerk")
        link = media_breaks.whose_link(view.brk, offline, datetime.now(UTC))
        by = Role.CLERK if link == "clerk" else Role.TERMINAL
        await self._finish(session, f"media_lost_at_{link}", by, "server", "failed")
