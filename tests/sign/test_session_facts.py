"""Reading the identity and materials from a session's events, whatever feature wrote them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from signaling.paperwork.reprint import id_matches
from signaling.paperwork.session_facts import applicant_of, materials_of
from signaling.paperwork.texts import event_sentence, identity_sentence
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
    assert applicant.verified and applicant.score == 0.91 and applicant.face_matched
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


# what reached the form before: "identity.result outcome: failed; identity.override by walker: …"
RAW = re.compile(r"identity\.\w|outcome|override|walker|_|:\s*(True|False|failed|verified)")
CJK = re.compile(r"[\u4e00-\u9fff]")


def _read(outcome: str) -> dict[str, Any]:
    document = {"document_number": "H1234567(8)", "surname": "CHAN", "given_names": "TAI MAN"}
    return {
        "outcome": outcome, "failure_code": None if outcome == "verified" else "face_mismatch",
        "document": document,
        "match": {"score": 0.93 if outcome == "verified" else 0.12, "threshold": 0.4,
                  "matched": outcome == "verified"},
        "liveness": {"passed": True, "challenge": ["blink"], "completed": ["blink"]},
    }  # fmt: skip


def test_the_identity_line_is_a_sentence_in_the_applicants_language() -> None:
    verified = applicant_of([event(1, "identity.result", _read("verified"))])
    overridden = applicant_of(
        [
            event(1, "identity.result", _read("failed")),
            event(2, "identity.override", {"clerk": "walker", "reason": "checked the card by eye"}),
        ]
    )
    assert verified is not None and overridden is not None
    assert overridden.verified and overridden.overridden and overridden.face_matched is False
    lines = {
        (who, language): identity_sentence(applicant, language)
        for who, applicant in (("verified", verified), ("overridden", overridden))
        for language in ("zh-Hant", "zh-Hans", "en")
    }
    for (who, language), line in lines.items():
        assert not RAW.search(line), (who, language, line)
        assert bool(CJK.search(line)) == (language != "en"), (who, language, line)
    assert lines["verified", "zh-Hant"] == (
        "已讀取申請人的身份證件，現場人臉與證件相片相符（相似度 0.93），活體檢測通過，身份核驗通過。"
    )
    assert "經辦職員已當面核對證件並確認申請人身份" in lines["overridden", "zh-Hant"]
    assert lines["overridden", "en"].startswith("The identity document was read; ")
    assert lines["overridden", "en"].endswith("confirmed the applicant's identity.")
    assert identity_sentence(None, "zh-Hans") == "未有身份核验记录"
    # the certificate's steps: sentences, not event kinds
    assert event_sentence("identity.override", "en") == "The clerk confirmed the identity in person"
    assert event_sentence("something.new", "zh-Hant") == "辦理過程記錄"
