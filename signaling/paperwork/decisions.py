"""The application's state machine, folded from the session's events, and who may decide.

::

    none -> form_shown -> submitted -> approved | returned | rejected
                 ^  |          \\-> awaiting_second -> approved | returned | rejected
                 |__|  (a new form: more materials)
    returned -> form_shown (the applicant brings more materials)

A material accepted "to follow" (容缺受理, :mod:`.to_follow`) keeps a submitted application
from being approved until it is supplied; once its due date has passed (lapsed) the
application can only be returned or rejected.

The state is never stored apart from the chain: :func:`fold` replays the events, so a
decision made after the call ended, or by another server process, is seen by everyone.
:func:`check_transition` raises :class:`IllegalTransition` naming both states.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from signaling.errors import IllegalTransition
from signaling.paperwork.errors import (
    DecisionRefused,
    MaterialLapsed,
    MaterialOutstanding,
    NotReady,
)
from storage.models import SessionEvent

FORM_EVENT = "form.generated"
SIGNATURE_EVENT = "signature.captured"
SUBMITTED_EVENT = "application.submitted"
DOCUMENT_EVENT = "document.stored"
DECISION_EVENT = "decision.recorded"
PRINT_EVENT = "print.reported"
PRINT_PUSHED_EVENT = "print.pushed"
REPRINT_EVENT = "reprint.requested"
# materials to follow (signaling/paperwork/to_follow.py)
DEFERRED_EVENT = "material.deferred"
SUPPLIED_EVENT = "material.supplied"
REMINDER_EVENT = "material.reminder_sent"
LAPSED_EVENT = "material.lapsed"
FOLLOW_LOOKUP_EVENT = "material.lookup"
# a scan stored in the call (signaling/checklist.py's DOCUMENT_ADDED)
SCAN_EVENT = "document.added"

OUTCOMES = ("approved", "returned", "rejected")


class ApplicationState(StrEnum):
    NONE = "none"
    FORM_SHOWN = "form_shown"
    SUBMITTED = "submitted"
    AWAITING_SECOND = "awaiting_second_approval"
    APPROVED = "approved"
    RETURNED = "returned"
    REJECTED = "rejected"


A = ApplicationState
TRANSITIONS: dict[ApplicationState, frozenset[ApplicationState]] = {
    A.NONE: frozenset({A.FORM_SHOWN}),
    A.FORM_SHOWN: frozenset({A.FORM_SHOWN, A.SUBMITTED}),
    A.SUBMITTED: frozenset({A.AWAITING_SECOND, A.APPROVED, A.RETURNED, A.REJECTED}),
    A.AWAITING_SECOND: frozenset({A.APPROVED, A.RETURNED, A.REJECTED}),
    A.RETURNED: frozenset({A.FORM_SHOWN}),
    A.APPROVED: frozenset(),
    A.REJECTED: frozenset(),
}


def check_transition(session_id: str, old: ApplicationState, new: ApplicationState) -> None:
    """Raise :class:`IllegalTransition` unless the table allows ``old -> new``."""
    if new not in TRANSITIONS[old]:
        allowed = ", ".join(sorted(TRANSITIONS[old])) or "nothing (it is final)"
        raise IllegalTransition(
            f'The application of session {session_id} is "{old}" and cannot become "{new}";'
            f" from {old} it can only become {allowed}"
        )


@dataclass(frozen=True)
class StoredDocument:
    doc_id: str
    kind: str  # form / application / receipt / result
    sha256: str
    label: str
    sealed: bool
    seq: int


@dataclass(frozen=True)
class Decision:
    outcome: str
    reason: str
    clerk_id: int
    clerk: str
    stage: str  # first / second
    at: datetime


@dataclass
class ToFollow:
    """A material the application was accepted without, and what became of it."""

    material_id: str
    due_on: date
    # outstanding -> supplied | lapsed; brought: it came in the call before submission
    state: str = "outstanding"
    reminded: bool = False
    documents: list[str] = field(default_factory=list)  # SHA-256 of the supplied scans


@dataclass
class Application:
    """Everything about one session's application, as its events tell it."""

    session_id: str
    state: ApplicationState = ApplicationState.NONE
    form: dict[str, Any] | None = None
    signature: dict[str, Any] | None = None
    acceptance_number: str | None = None
    submitted_at: datetime | None = None
    documents: list[StoredDocument] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    to_follow: dict[str, ToFollow] = field(default_factory=dict)

    def outstanding(self) -> list[ToFollow]:
        """Materials to follow not supplied yet and not lapsed."""
        return [t for t in self.to_follow.values() if t.state == "outstanding"]

    def lapsed(self) -> list[ToFollow]:
        return [t for t in self.to_follow.values() if t.state == "lapsed"]

    def document(self, doc_id: str) -> StoredDocument | None:
        return next((d for d in self.documents if d.doc_id == doc_id), None)

    def latest(self, kind: str) -> StoredDocument | None:
        return next((d for d in reversed(self.documents) if d.kind == kind), None)


def fold(session_id: str, events: list[SessionEvent]) -> Application:
    """The application of a session from its events, in chain order."""
    app = Application(session_id)
    for event in events:
        p = event.payload
        if event.kind == FORM_EVENT:
            app.state, app.form, app.signature = A.FORM_SHOWN, p, None
            doc = StoredDocument(str(p["doc_id"]), "form", str(p["sha256"]), "", False, event.seq)
            app.documents.append(doc)
        elif event.kind == SIGNATURE_EVENT:
            app.signature = p
        elif event.kind == SUBMITTED_EVENT:
            app.state = A.SUBMITTED
            app.acceptance_number = str(p["acceptance_number"])
            app.submitted_at = event.created_at
        elif event.kind == DOCUMENT_EVENT:
            app.documents.append(
                StoredDocument(
                    str(p["doc_id"]), str(p["kind"]), str(p["sha256"]), str(p.get("label", "")),
                    bool(p.get("sealed")), event.seq,
                )
            )  # fmt: skip
        elif event.kind == DECISION_EVENT:
            app.state = ApplicationState(p["outcome"])
            app.decisions.append(
                Decision(
                    str(p["outcome"]), str(p.get("reason", "")), int(p["clerk_id"]),
                    str(p.get("clerk", "")), str(p.get("stage", "first")), event.created_at,
                )
            )  # fmt: skip
        else:
            _fold_to_follow(app, event.kind, p)
    return app


def _fold_to_follow(app: Application, kind: str, p: dict[str, Any]) -> None:
    item = app.to_follow.get(str(p.get("material_id", "")))
    if kind == DEFERRED_EVENT:
        mid = str(p["material_id"])
        app.to_follow[mid] = ToFollow(mid, date.fromisoformat(str(p["due_on"])))
    elif item is None:
        return
    elif kind == SCAN_EVENT and item.state == "outstanding" and app.state in (A.NONE, A.FORM_SHOWN):
        # the applicant had it with them after all: it is part of the application as signed
        item.state = "brought"
    elif kind == SUPPLIED_EVENT:
        item.state = "supplied"
        item.documents = [str(x) for x in p.get("documents", [])]
    elif kind == REMINDER_EVENT:
        item.reminded = True
    elif kind == LAPSED_EVENT and item.state == "outstanding":
        item.state = "lapsed"


def check_follow(app: Application) -> None:
    """Raise while a material to follow keeps the application from being approved."""
    if lapsed := app.lapsed():
        names = ", ".join(f"{t.material_id} (due {t.due_on})" for t in lapsed)
        raise MaterialLapsed(
            f"application {app.acceptance_number or app.session_id} cannot be approved: the"
            f" material to follow {names} did not come by its due date; it can only be"
            " returned or rejected"
        )
    if outstanding := app.outstanding():
        names = ", ".join(f"{t.material_id} (due {t.due_on})" for t in outstanding)
        raise MaterialOutstanding(
            f"application {app.acceptance_number or app.session_id} waits for the material to"
            f" follow {names}; approve it once supplied, or return or reject it now"
        )


def next_decision_state(
    app: Application, outcome: str, second_approval: bool, clerk_id: int, session_clerk: int | None
) -> tuple[ApplicationState, str]:
    """The state a decision leads to and its stage; raises if this clerk may not make it.

    The session's own clerk decides first. When the service needs a second approval, an
    approval by the clerk waits for a *different* clerk of the department.
    """
    if outcome not in OUTCOMES:
        raise DecisionRefused(f"{outcome!r} is not a decision; use one of {', '.join(OUTCOMES)}")
    if outcome == "approved" and app.state in (A.SUBMITTED, A.AWAITING_SECOND):
        check_follow(app)
    if app.state == A.SUBMITTED:
        if clerk_id != session_clerk:
            raise DecisionRefused(
                f"session {app.session_id} is another clerk's; only the clerk who took the"
                " call decides first"
            )
        if outcome == "approved" and second_approval:
            return A.AWAITING_SECOND, "first"
        return ApplicationState(outcome), "first"
    if app.state == A.AWAITING_SECOND:
        first = next(d for d in reversed(app.decisions) if d.stage == "first")
        if clerk_id == first.clerk_id:
            raise DecisionRefused(
                f"you approved session {app.session_id} yourself; a second clerk of the"
                " department has to make the second approval"
            )
        return ApplicationState(outcome), "second"
    if app.state in (A.NONE, A.FORM_SHOWN):
        raise NotReady(
            f"session {app.session_id} has no signed application yet (it is {app.state});"
            " show the form and let the applicant sign before deciding"
        )
    check_transition(app.session_id, app.state, ApplicationState(outcome))
    raise AssertionError("unreachable: check_transition raised")  # pragma: no cover
