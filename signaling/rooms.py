"""Messages are addressed to people, not sockets: one socket.io room per kiosk and per clerk.

A room reaches its member whichever process holds their socket (python-socketio's Redis
manager carries the message there), and keeps reaching them after they reconnect.
"""

from __future__ import annotations

from typing import Protocol

from signaling.messages import (
    NAMESPACE_CLERK,
    NAMESPACE_SUPERVISOR,
    NAMESPACE_TERMINAL,
    Event,
    Message,
    Role,
)

NAMESPACES = {
    Role.TERMINAL: NAMESPACE_TERMINAL,
    Role.CLERK: NAMESPACE_CLERK,
    Role.SUPERVISOR: NAMESPACE_SUPERVISOR,
}


def terminal_room(terminal_id: int) -> str:
    """The room of one kiosk."""
    return f"terminal:{terminal_id}"


def clerk_room(clerk_id: int) -> str:
    """The room of one clerk (every console they have open)."""
    return f"clerk:{clerk_id}"


def supervisor_room(supervisor_id: int) -> str:
    """The room of one supervisor (every page they watch calls from)."""
    return f"supervisor:{supervisor_id}"


def room_of(role: Role, member_id: int) -> str:
    """The room of a kiosk or a clerk."""
    return terminal_room(member_id) if role == Role.TERMINAL else clerk_room(member_id)


class Emitter(Protocol):
    """Delivers server messages: to a person's room (any process) or to a socket of this one."""

    async def to_room(self, role: Role, room: str, event: Event, message: Message) -> None: ...

    async def to_local(self, role: Role, sid: str, event: Event, message: Message) -> None: ...

    async def drop(self, role: Role, sid: str) -> None: ...
