"""Clerks' presence: consoles connecting and leaving, availability, the grace period."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from signaling.errors import IllegalTransition, InvalidMessage, NotYourSession
from signaling.logs import context_log
from signaling.messages import (
    ClerkState,
    Event,
    ExtendWrapUp,
    FileWrapUp,
    Role,
    SessionState,
)
from signaling.router.outcomes import Outcomes
from storage import media_breaks, presence, routing, work
from storage.routing import ClerkSnap
from storage.staff_audit import StaffLog

log = logging.getLogger(__name__)

# how often stepping away is tried again when a call was offered meanwhile
AWAY_TRIES = 3
_FILE_FIRST = (
    "You are in wrap-up; choose the call's disposition code and file it"
    ' (tick "then take a break" to step away)'
)


@dataclass(frozen=True)
class ClerkGreeting:
    """What a console that just connected is sent first."""

    clerk_id: int
    resume_token: str
    resumed: bool


class Presence(Outcomes):
    """What a clerk's console does to be reachable."""

    async def clerk_connected(
        self,
        clerk_id: int,
        username: str,
        display_name: str,
        departments: frozenset[str],
        sid: str,
        resume: str | None,
        skills: Mapping[str, int] | None = None,
    ) -> ClerkGreeting:
        """A clerk's console connected; one coming back with its token keeps state and call."""
        self.clerk_names[clerk_id] = (username, display_name)
        attached = await presence.clerk_attach(
            self.db, clerk_id, departments, self.process_id, sid, resume, skills
        )
        old_local = self.local_clerks.get(clerk_id)
        self.local_clerks[clerk_id] = sid
        for old in {attached.replaced_sid, old_local} - {None, sid}:
            assert old is not None
            await self.emitter.drop(Role.CLERK, old)
        if attached.clerk.session_id and attached.resumed:
            # its socket was down: if the call's media broke meanwhile, its link is the one
            await media_breaks.note_offline(self.db, attached.clerk.session_id, "clerk")
        if attached.clerk.session_id and not attached.resumed:
            # a console without the token is a new page: its media and screens are gone
            session = await routing.get(self.db, attached.clerk.session_id)
            if session is not None and session.state == SessionState.OFFERED:
                await self._withdraw(session, clerk_id, "declined", ClerkState.AWAY, False)
            elif session is not None and session.active:
                await self._finish(session, "clerk_left", Role.CLERK, f"clerk:{username}")
        self.request_dispatch()
        self.on_queue_change()
        return ClerkGreeting(clerk_id, attached.resume_token, attached.resumed)

    async def greet_clerk(self, sid: str, greeting: ClerkGreeting) -> None:
        """The first status of a console that just connected: ICE servers and resume token."""
        clerk = await presence.clerk(self.db, greeting.clerk_id)
        if clerk is None:
            return
        status = await self._clerk_status(
            clerk,
            ice_servers=self.ice_servers_for(f"clerk-{clerk.clerk_id}"),
            resume_token=greeting.resume_token,
        )
        if status.call is not None:
            # a page back in its call (a reload) needs the peer connection it is at
            media = await media_breaks.view(self.db, status.call.session_id)
            if media is not None:
                call = status.call.model_copy(update={"attempt": media.attempt})
                status = status.model_copy(update={"call": call})
        await self.emitter.to_local(Role.CLERK, sid, Event.CLERK_STATUS, status)

    async def clerk_disconnected(self, clerk_id: int, sid: str, left: bool = False) -> None:
        """The console's socket dropped: a ringing call goes on to another clerk; the clerk's
        state and a call in progress wait for them through the grace period. A console that
        signed out (``left``) ends its call and signs the clerk off."""
        if self.local_clerks.get(clerk_id) == sid:
            del self.local_clerks[clerk_id]
        clerk = await presence.clerk_detach(self.db, clerk_id, sid)
        self.on_queue_change()  # one clerk fewer on duty: the waiting are told at once
        if clerk is None:
            return
        if left:
            await self._sign_off(clerk_id, "clerk_left", f"clerk:{self._username(clerk_id)}")
            return
        if clerk.state != ClerkState.RINGING or clerk.session_id is None:
            return
        session = await routing.get(self.db, clerk.session_id)
        if session is not None:
            await self._withdraw(session, clerk_id, "declined", ClerkState.AWAY, False)

    async def _step_away(self, clerk: ClerkSnap, reason: str) -> ClerkSnap | None:
        """Away from whatever the clerk is doing (a call ringing is passed on first; during a
        call, away when it ends). Looked at again when a call was offered between the read
        and the change: the clerk asked to step away and must not be left ringing."""
        for _ in range(AWAY_TRIES):
            if clerk.state == ClerkState.RINGING and clerk.session_id:
                session = await routing.get(self.db, clerk.session_id)
                if session is not None:
                    await self._withdraw(session, clerk.clerk_id, "declined", ClerkState.AWAY, True)
            changed = await presence.set_clerk_state(
                self.db,
                clerk.clerk_id,
                ClerkState.AWAY,
                (ClerkState.AVAILABLE, ClerkState.AWAY, ClerkState.BUSY),
                reason=reason,
            )
            if changed is not None:
                return changed
            clerk = await self._clerk(clerk.clerk_id)
            if clerk.state == ClerkState.WRAP_UP:
                raise IllegalTransition(_FILE_FIRST)
        return None

    async def resync_clerks(self) -> None:
        """Every clerk connected here gets their status again (see ``resync_terminals``)."""
        for clerk_id in list(self.local_clerks):
            await self.sync_clerk(clerk_id)

    async def sync_clerk(self, clerk_id: int) -> None:
        """Send the clerk their full state again (they noticed a gap)."""
        clerk = await presence.clerk(self.db, clerk_id)
        if clerk is not None:
            await self._send_clerk_status(clerk)

    async def set_availability(
        self, clerk_id: int, available: bool, reason: str | None = None
    ) -> None:
        """The clerk toggles between available and away (for one of the away reasons)."""
        clerk = await self._clerk(clerk_id)
        if not available:
            self._check_away_reason(reason)
        if clerk.state == ClerkState.WRAP_UP:
            raise IllegalTransition(_FILE_FIRST)
        if available:
            changed = await presence.set_clerk_state(
                self.db, clerk_id, ClerkState.AVAILABLE, (ClerkState.AWAY, ClerkState.AVAILABLE)
            )
            if changed is None:
                stored = await self._clerk(clerk_id)
                raise IllegalTransition(
                    _FILE_FIRST
                    if stored.state == ClerkState.WRAP_UP
                    else f'You are "{stored.state}"; availability can change after the call ends'
                )
        else:
            assert reason is not None
            changed = await self._step_away(clerk, reason)
            if changed is not None and (clerk.state, clerk.away_reason) != ("away", reason):
                # not a session's: the staff chain keeps why a clerk stepped away (the state
                # log, written with the change, is the report's record of how long)
                await StaffLog(self.db).append(
                    self._clerk_actor(clerk_id), "clerk.away", {"reason": reason}
                )
        now = changed or await presence.clerk(self.db, clerk_id)
        if now is not None:
            await self._send_clerk_status(now)
        self.request_dispatch()
        self.on_queue_change()

    def _check_away_reason(self, reason: str | None) -> None:
        if reason is None:
            raise InvalidMessage(
                f"Say why you are stepping away: give a reason, one of {', '.join(self.away_reasons)}"
            )
        if reason not in self.away_reasons:
            raise InvalidMessage(
                f"{reason!r} is not an away reason; choose one of {', '.join(self.away_reasons)}"
            )

    async def file_wrap_up(self, clerk_id: int, filed: FileWrapUp) -> None:
        """The clerk files the disposition of their wrap-up: available (or away) again."""
        clerk = await self._clerk(clerk_id)
        if clerk.state != ClerkState.WRAP_UP or clerk.wrap_up_session_id != filed.session_id:
            raise IllegalTransition(
                f'You are "{clerk.state}" with no wrap-up for call {filed.session_id} to file'
            )
        session = await routing.get(self.db, filed.session_id)
        if session is None:
            raise NotYourSession(f"Call {filed.session_id} does not exist")
        codes = [c.id for c in self.catalogue.department(session.department_id).dispositions]
        if filed.code not in codes:
            raise InvalidMessage(
                f"{filed.code!r} is not a disposition code of this department; choose one of"
                f" {', '.join(codes)}"
            )
        if filed.away_reason is not None:
            self._check_away_reason(filed.away_reason)
        done = await work.file_wrap_up(
            self.db,
            clerk_id,
            filed.session_id,
            code=filed.code,
            note=filed.note.strip(),
            away_reason=filed.away_reason,
            actor=self._clerk_actor(clerk_id),
        )
        context_log(log, filed.session_id, self._clerk_actor(clerk_id)).info(
            "wrap-up filed (%s, %.1f s%s)",
            filed.code,
            done.seconds,
            ", over time" if done.overtime else "",
        )
        await self._send_clerk_status(done.clerk)
        self.request_dispatch()
        self.on_queue_change()

    async def extend_wrap_up(self, clerk_id: int, extend: ExtendWrapUp) -> None:
        """The clerk asks for more wrap-up time; refused past ``wrap_up_max_s`` in all."""
        await self._clerk(clerk_id)
        clerk = await work.extend_wrap_up(
            self.db,
            clerk_id,
            extend.session_id,
            extend_s=self.wrap_up_extend_s,
            max_s=self.wrap_up_max_s,
            actor=self._clerk_actor(clerk_id),
        )
        await self._send_clerk_status(clerk)

    async def clerk_lost(self, clerk_id: int) -> None:
        """The clerk did not come back within the grace period: their call is lost and they
        are signed off."""
        await self._sign_off(clerk_id, "clerk_lost", "server")
        context_log(log, None, f"clerk:{clerk_id}").info("signed off: not back within grace")
