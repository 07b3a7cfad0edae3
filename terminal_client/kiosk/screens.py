"""The kiosk's screens and what the applicant entered: the moves the controller may make
between screens, where the idle timer runs, a kiosk's timings, and the entries a reset forgets.

Kept apart from :mod:`terminal_client.kiosk.controller` (which drives them) so the screen
graph can be read on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from signaling.messages import Language
from terminal_client.kiosk.messages import Notice, Prompt, Screen

_S = Screen
SCREEN_TRANSITIONS: dict[Screen, frozenset[Screen]] = {
    _S.OFFLINE: frozenset({_S.LANGUAGE, _S.INTERRUPTED}),
    _S.LANGUAGE: frozenset({_S.SERVICES, _S.OFFLINE}),
    _S.SERVICES: frozenset({_S.LANGUAGE, _S.MATERIALS, _S.OFFLINE}),
    _S.MATERIALS: frozenset({_S.LANGUAGE, _S.SERVICES, _S.QUEUE, _S.OFFLINE}),
    _S.QUEUE: frozenset({_S.MATERIALS, _S.CALL, _S.OFFLINE}),
    # CALL -> QUEUE: the clerk transferred the call; the applicant waits for the next clerk
    _S.CALL: frozenset({_S.QUEUE, _S.ENDED, _S.INTERRUPTED, _S.OFFLINE}),
    # a cut-off call is offered again, never rated: the applicant did not get the service
    _S.INTERRUPTED: frozenset({_S.QUEUE, _S.LANGUAGE, _S.OFFLINE}),
    _S.ENDED: frozenset({_S.LANGUAGE, _S.THANKS, _S.OFFLINE}),
    _S.THANKS: frozenset({_S.LANGUAGE, _S.OFFLINE}),
}
# screens where the idle timer runs (LANGUAGE only once something was entered)
IDLE_SCREENS = frozenset({_S.LANGUAGE, _S.SERVICES, _S.MATERIALS, _S.ENDED, _S.INTERRUPTED})
# print my result (by acceptance number) is reached from the start screen and goes back there
SCREEN_TRANSITIONS[_S.LANGUAGE] = SCREEN_TRANSITIONS[_S.LANGUAGE] | {_S.RESULT}
SCREEN_TRANSITIONS[_S.RESULT] = frozenset({_S.LANGUAGE, _S.OFFLINE})
IDLE_SCREENS = IDLE_SCREENS | {_S.RESULT}
# a long wait: the number pad from the queue; back to it, into the call if a clerk answers
# meanwhile, or (the callback stored, or the session ended) on to the start
SCREEN_TRANSITIONS[_S.QUEUE] = SCREEN_TRANSITIONS[_S.QUEUE] | {_S.CALLBACK}
SCREEN_TRANSITIONS[_S.CALLBACK] = frozenset(
    {_S.QUEUE, _S.CALL, _S.MATERIALS, _S.LANGUAGE, _S.OFFLINE}
)
# a complaint: from the rating screen (at once after a low rating) or the thank-you screen,
# then back to the start; its status by number and access code from the start screen
SCREEN_TRANSITIONS[_S.ENDED] = SCREEN_TRANSITIONS[_S.ENDED] | {_S.COMPLAINT}
SCREEN_TRANSITIONS[_S.THANKS] = SCREEN_TRANSITIONS[_S.THANKS] | {_S.COMPLAINT}
SCREEN_TRANSITIONS[_S.COMPLAINT] = frozenset({_S.LANGUAGE, _S.OFFLINE})
SCREEN_TRANSITIONS[_S.LANGUAGE] = SCREEN_TRANSITIONS[_S.LANGUAGE] | {_S.COMPLAINT_STATUS}
SCREEN_TRANSITIONS[_S.COMPLAINT_STATUS] = frozenset({_S.LANGUAGE, _S.OFFLINE})
IDLE_SCREENS = IDLE_SCREENS | {_S.COMPLAINT, _S.COMPLAINT_STATUS}

# an appointment: from the start screen; checked in, into the queue (at once, at the slot
# time, or as a walk-in when late), or back to the start
SCREEN_TRANSITIONS[_S.LANGUAGE] = SCREEN_TRANSITIONS[_S.LANGUAGE] | {_S.APPOINTMENT}
SCREEN_TRANSITIONS[_S.APPOINTMENT] = frozenset({_S.LANGUAGE, _S.QUEUE, _S.OFFLINE})
IDLE_SCREENS = IDLE_SCREENS | {_S.APPOINTMENT}

# a service without a clerk: from its materials screen; printed (or left) back to the start,
# or, when the department failed or refused, "Ask a clerk" into the queue
SCREEN_TRANSITIONS[_S.MATERIALS] = SCREEN_TRANSITIONS[_S.MATERIALS] | {_S.SELF_SERVICE}
SCREEN_TRANSITIONS[_S.SELF_SERVICE] = frozenset({_S.LANGUAGE, _S.QUEUE, _S.MATERIALS, _S.OFFLINE})
IDLE_SCREENS = IDLE_SCREENS | {_S.SELF_SERVICE}
# a material to follow (容缺受理): from the start screen, back there when brought
SCREEN_TRANSITIONS[_S.LANGUAGE] = SCREEN_TRANSITIONS[_S.LANGUAGE] | {_S.FOLLOW}
SCREEN_TRANSITIONS[_S.FOLLOW] = frozenset({_S.LANGUAGE, _S.OFFLINE})
IDLE_SCREENS = IDLE_SCREENS | {_S.FOLLOW}


@dataclass(frozen=True)
class KioskSettings:
    """Timings and defaults of one kiosk."""

    idle_timeout_s: float = 90.0
    idle_warning_s: float = 20.0
    thanks_s: float = 8.0
    default_language: Language = "zh-Hant"
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 15.0
    max_prompts: int = 10
    # how long the callback's reference stays on screen before the kiosk returns to the start
    callback_done_s: float = 60.0


@dataclass
class Entered:
    """What the applicant chose or was shown; all of it is forgotten on reset."""

    language: Language
    care_mode: bool = False
    department_id: str | None = None
    search: str = ""
    service_id: str | None = None
    session_id: str | None = None
    prompts: list[Prompt] = field(default_factory=list)
    rated: bool = False
    notice: Notice | None = None
    # the cut-off call a "call again" takes up (the server puts it at the front of the queue)
    recall_of: str | None = None
