"""Who may see a session's personal data (forms, documents, identity, ink), and the record of
every look.

Access follows the session:

- **its clerk while the call is live** (connecting or in call), and a clerk it is being
  discussed with then (a warm transfer's consultation, to see what the call gathered);
- **a clerk whose work the case waits for**, also after the call: the session's clerk until
  the first decision, another clerk of the department for a second approval; once decided,
  the case is closed to clerks;
- **a supervisor or auditor of the session's department**, at any time.

Every access by staff to personal data is an event in the staff log
(:class:`storage.staff_audit.StaffLog`), so who looked at whom can be shown later.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from signaling.auth import ClerkClaims
from signaling.http_auth import http_error
from signaling.keys import DATABASE
from signaling.paperwork import decisions as d
from storage import store
from storage.audit import AuditLog
from storage.models import CallSession
from storage.staff_audit import StaffLog

READER_ROLES = frozenset({"supervisor", "auditor"})
LIVE_STATES = frozenset({"connecting", "in_call"})
READ_EVENT = "personal_data.read"


@dataclass(frozen=True)
class SessionFacts:
    """What the access rule needs to know of a session."""

    id: str
    clerk_id: int | None
    department_id: str
    live: bool
    # a clerk the call is being discussed with (warm transfer): they read while it is live
    consulted_by: int | None = None


def is_live(row: CallSession) -> bool:
    """Whether the session's call is going on now (stored state, not a client's say)."""
    return row.ended_at is None and row.state in LIVE_STATES


async def waits_for(db_app: web.Application, session_id: str, clerk_id: int, mine: bool) -> bool:
    """Whether the session's case waits for work by this clerk: its own clerk's until the
    first decision (materials to review, the decision itself), another clerk's of the
    department for a second approval."""
    app = d.fold(session_id, await AuditLog(db_app[DATABASE]).events(session_id))
    if app.state in (d.A.NONE, d.A.FORM_SHOWN, d.A.SUBMITTED):
        return mine
    if app.state == d.A.AWAITING_SECOND:
        return all(x.clerk_id != clerk_id for x in app.decisions if x.stage == "first")
    return False


async def may_read(app: web.Application, who: ClerkClaims, session: SessionFacts) -> bool:
    """Whether ``who`` may see the personal data of ``session`` now."""
    clerk = await store.get_clerk(app[DATABASE], who.clerk_id)
    in_department = session.department_id in clerk.departments
    if who.role in READER_ROLES:
        return in_department
    mine = session.clerk_id == who.clerk_id
    if (mine or session.consulted_by == who.clerk_id) and session.live:
        return True
    return in_department and await waits_for(app, session.id, who.clerk_id, mine)


async def check_read(
    app: web.Application, who: ClerkClaims, session: SessionFacts, what: str
) -> None:
    """Refuse (403) a look at ``what`` of ``session`` that the rule does not allow; record
    the ones it does in the staff log."""
    if not await may_read(app, who, session):
        raise http_error(
            web.HTTPForbidden,
            "forbidden",
            f"the {what} of session {session.id} is open only to its clerk and supervisors of"
            " its department (its clerk during the call or while it waits for their decision;"
            " auditors too)",
        )
    await StaffLog(app[DATABASE]).append(
        f"{who.role}:{who.username}", READ_EVENT, {"what": what}, session.id
    )
