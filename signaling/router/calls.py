"""A call in progress: relaying between its two members, media state, hang-up, prompts, steps."""

from __future__ import annotations

import uuid

from signaling.errors import InvalidMessage, NotYourSession
from signaling.messages import Event, Prompt, PushPrompt, Role, SetStep
from signaling.rooms import clerk_room, terminal_room
from signaling.router.outcomes import Outcomes
from storage import routing


class Calls(Outcomes):
    """What the two members of a live call send each other through the server."""

    async def peer_room(self, role: Role, member_id: int, session_id: str) -> tuple[Role, str]:
        """The other member's room, checking that ``member_id`` is in the live call."""
        parties = self._fresh_parties(session_id)
        if parties is not None and member_id != parties[0 if role == Role.TERMINAL else 1]:
            # not a party as cached: the call may have been handed to them a moment ago
            # (a warm transfer made by another process); the store says
            parties = None
        if parties is None:
            session = await routing.get(self.db, session_id)
            if session is None or not session.in_call:
                self._parties.pop(session_id, None)
                raise NotYourSession(f"Session {session_id} is not in a call; nothing to send")
            parties = self._remember_parties(session)
        terminal_id, clerk_id, _ = parties
        if role == Role.TERMINAL and terminal_id == member_id and clerk_id is not None:
            return Role.CLERK, clerk_room(clerk_id)
        if role == Role.CLERK and clerk_id == member_id:
            return Role.TERMINAL, terminal_room(terminal_id)
        raise NotYourSession(
            f"Session {session_id} is not yours; you can only signal your own call"
        )

    async def hangup(self, role: Role, member_id: int, session_id: str, reason: str) -> None:
        """Either member ends the call (no read first: the transaction checks, on the locked
        row, that it is a call in progress and theirs)."""
        terminal = role == Role.TERMINAL
        ended = await self._end(
            session_id,
            reason,
            role,
            self._actor(role, member_id),
            "ended",
            allowed_from=routing.CALL_STATES,
            terminal_id=member_id if terminal else None,
            clerk_id=None if terminal else member_id,
        )
        if not ended:
            raise NotYourSession(
                f"Session {session_id} is not a call of yours in progress; nothing to hang up"
            )

    async def push_prompt(self, clerk_id: int, prompt: PushPrompt) -> Prompt:
        """The clerk puts a text, checklist or instruction on the applicant's screen."""
        _, room = await self.peer_room(Role.CLERK, clerk_id, prompt.session_id)
        if prompt.kind == "checklist" and not prompt.items:
            raise InvalidMessage("A checklist needs at least one item", field="items")
        if prompt.kind == "text" and not prompt.text.strip():
            raise InvalidMessage("A text prompt needs some text", field="text")
        sent = Prompt(
            session_id=prompt.session_id,
            id=uuid.uuid4().hex[:12],
            kind=prompt.kind,
            text=prompt.text,
            items=prompt.items,
        )
        await routing.record(
            self.db,
            prompt.session_id,
            "prompt.pushed",
            self._clerk_actor(clerk_id),
            sent.model_dump(mode="json", exclude={"session_id"}),
        )
        await self.emitter.to_room(Role.TERMINAL, room, Event.PROMPT, sent)
        return sent

    async def set_step(self, clerk_id: int, step: SetStep) -> None:
        """The clerk moves the session to another of the seven steps."""
        _, room = await self.peer_room(Role.CLERK, clerk_id, step.session_id)
        moved = await routing.set_step(
            self.db, step.session_id, step.step, self._clerk_actor(clerk_id)
        )
        if moved is None:
            raise NotYourSession(f"Session {step.session_id} is not in a call; nothing to send")
        await self.emitter.to_room(Role.TERMINAL, room, Event.STEP, step)


def check_description_role(role: Role, sdp_type: str) -> None:
    """Terminals send offers, clerks send answers; anything else is refused."""
    expected = "offer" if role == Role.TERMINAL else "answer"
    if sdp_type != expected:
        raise InvalidMessage(
            f'A {role.value} sends an SDP "{expected}", not "{sdp_type}"', field="type"
        )
