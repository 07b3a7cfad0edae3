"""The certificate of completion appended to sealed documents, as DocuSign and Documenso do.

Who (applicant as read, clerk, second approver, kiosk), when (each step's event), which
documents and their hashes, the identity result and the decision, and the chain's head at
the time: everything comes from the session's row and events.
"""

from __future__ import annotations

import asyncio

from signaling.messages import Language
from signaling.paperwork import forms
from signaling.paperwork.session_facts import facts_of
from signaling.paperwork.texts import chain_head_text, event_sentence
from storage.db import Database
from storage.models import CallSession, Clerk, SessionEvent, Terminal, utcnow

# kinds of events worth a line on the certificate of completion
STEP_KINDS = ("call.accepted", "identity", "form.", "signature.", "application.", "decision.")


async def counter_names(db: Database, row: CallSession) -> tuple[str, str]:
    """The kiosk's name and the clerk's "Display Name (username)" of a session."""
    async with db.sessions() as session:
        terminal = await session.get(Terminal, row.terminal_id)
        clerk = await session.get(Clerk, row.clerk_id) if row.clerk_id else None
    clerk_name = f"{clerk.display_name} ({clerk.username})" if clerk else ""
    return (terminal.name if terminal else str(row.terminal_id)), clerk_name


async def certificate(
    db: Database,
    row: CallSession,
    events: list[SessionEvent],
    language: Language,
    doc_id: str,
    decision: str,
    documents: list[forms.MaterialLine],
    second_approver: str = "",
) -> bytes:
    """The certificate page (PDF) for document ``doc_id`` of the session, as of ``events``."""
    terminal, clerk = await counter_names(db, row)
    steps = [
        (e.created_at, event_sentence(e.kind, language))
        for e in events
        if e.kind.startswith(STEP_KINDS)
    ]
    data = forms.CompletionData(
        session_id=row.id,
        language=language,
        applicant=facts_of(events).applicant,
        clerk=clerk,
        second_approver=second_approver,
        terminal=terminal,
        steps=steps,
        documents=documents,
        decision=decision,
        chain_head=chain_head_text(len(events), events[-1].hash if events else "", language),
    )
    return await asyncio.to_thread(forms.completion_page, data, doc_id, utcnow())
