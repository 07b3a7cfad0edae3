"""Reading the identity and materials from a session's events, whatever feature wrote them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from signaling.paperwork.reprint import id_matches
from signaling.paperwork.session_facts import applicant_of, materials_of
from storage.models import SessionEvent


def event(seq: int, kind: str, payload: dict[str, Any]) -> SessionEvent:
    return SessionEvent(
        session_id="a" * 32, seq=seq, kind=kind, actor="terminal:1", payload=payload,
        created_at=datetime(2026, 12, 2, tzinfo=UTC), prev_hash="0" * 64, hash="0" * 64,
    )  # fmt: skip


def test_newest_identity_read_wins_and_later_checks_make_the_result() -> None:
    events = [
        event(1, "identity.mrz", {"fields": {"name": "OLD", "document_number": "A1"}}),
        event(2, "identity.mrz", {"document_number": "H1234567(8)", "name": "陳大文"}),
        event(3, "identity.face", {"match": True, "score": 0.91}),
        event(4, "identity.liveness", {"result": "passed"}),
    ]
    applicant = applicant_of(events)
    assert applicant is not None
    assert (applicant.name, applicant.document_number) == ("陳大文", "H1234567(8)")
    assert applicant.verified and "score: 0.91" in applicant.result
    failed = applicant_of([*events, event(5, "identity.face", {"match": False})])
    assert failed is not None and not failed.verified
    assert applicant_of([event(1, "identity.started", {})]) is None
    assert id_matches(events, "h 1234567 8") and not id_matches(events, "H1234568(8)")
    assert not id_matches([], "H1234567")


def test_materials_by_id_a_rescan_replaces_and_own_files_are_not_materials() -> None:
    events = [
        event(1, "document.scanned", {"material_id": "business-licence", "sha256": "1" * 64}),
        event(2, "recording.segment", {"sha256": "2" * 64, "side": "applicant", "index": 0}),
        event(3, "document.imported", {"material": "premises-proof", "sha256": "3" * 64}),
        event(4, "document.scanned", {"material_id": "business-licence", "sha256": "4" * 64}),
        event(5, "document.stored", {"doc_id": "x", "kind": "receipt", "sha256": "5" * 64}),
    ]
    found = {m.material_id: m.sha256 for m in materials_of(events)}
    assert found == {"business-licence": "4" * 64, "premises-proof": "3" * 64}
