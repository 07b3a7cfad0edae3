"""A session's documents and materials checklist, read from its event chain.

Nothing about documents is kept anywhere but the chain: ``document.added`` events name the
stored blobs, ``material.reviewed`` events carry the clerk's decisions. Folding the events in
order gives the same list on every screen and for every later audit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from signaling.catalogue import Service
from signaling.messages import Checklist, ChecklistItem, DocumentInfo, MaterialStatus

DOCUMENT_ADDED = "document.added"
DOCUMENT_REFUSED = "document.refused"
MATERIAL_REVIEWED = "material.reviewed"
MATERIAL_DEFERRED = "material.deferred"  # signaling/paperwork/to_follow.py
CAPTURE_REQUESTED = "capture.requested"
PHONE_LINK_ISSUED = "phone_link.issued"


class EventLike(Protocol):
    seq: int
    kind: str
    payload: dict[str, Any]


@dataclass
class _Material:
    status: MaterialStatus = "missing"
    reason: str = ""
    current: list[int] = field(default_factory=list)  # seq of its document.added events
    due_on: date | None = None  # accepted "to follow" by this day


@dataclass
class DocumentState:
    """Everything the chain says about a session's documents."""

    documents: list[DocumentInfo]
    materials: dict[str, _Material]

    def document(self, sha256: str, *, current_only: bool = False) -> DocumentInfo | None:
        """The (latest) stored document with this hash, if the session has it."""
        found = [d for d in self.documents if d.sha256 == sha256]
        if current_only:
            found = [d for d in found if not d.superseded]
        return found[-1] if found else None

    def current(self, material_id: str) -> list[DocumentInfo]:
        """The material's documents since its last rejection, in the order they came."""
        material = self.materials.get(material_id)
        seqs = material.current if material else []
        return [d for d in self.documents if d.seq in seqs]

    def checklist(self, session_id: str, service: Service) -> Checklist:
        """The checklist both screens show."""
        items = []
        for material in service.materials:
            state = self.materials.get(material.id, _Material())
            items.append(
                ChecklistItem(
                    material_id=material.id,
                    names=material.names,
                    required=material.required,
                    status=state.status,
                    reason=state.reason,
                    documents=[d.sha256 for d in self.current(material.id)],
                    may_follow=material.may_follow,
                    due_on=state.due_on if state.status == "to_follow" else None,
                )
            )
        complete = all(i.status == "accepted" for i in items if i.required)
        return Checklist(session_id=session_id, items=items, complete=complete)


def fold(events: Iterable[EventLike]) -> DocumentState:
    """Read the documents and review decisions out of a session's events."""
    documents: list[DocumentInfo] = []
    materials: dict[str, _Material] = {}
    superseded: set[int] = set()
    for event in events:
        if event.kind == DOCUMENT_ADDED:
            info = DocumentInfo.model_validate({**event.payload, "seq": event.seq})
            documents.append(info)
            state = materials.setdefault(info.material_id, _Material())
            state.current.append(info.seq)
            state.status, state.reason = "received", ""
        elif event.kind == MATERIAL_DEFERRED:
            state = materials.setdefault(str(event.payload["material_id"]), _Material())
            state.status, state.reason = "to_follow", ""
            state.due_on = date.fromisoformat(str(event.payload["due_on"]))
        elif event.kind == MATERIAL_REVIEWED:
            state = materials.setdefault(str(event.payload["material_id"]), _Material())
            state.status = event.payload["decision"]
            state.reason = str(event.payload.get("reason", ""))
            if state.status != "accepted":
                superseded.update(state.current)
                state.current = []
    marked = [d.model_copy(update={"superseded": d.seq in superseded}) for d in documents]
    return DocumentState(marked, materials)
