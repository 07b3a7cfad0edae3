"""An e-ID sign-in as the rest of the server reads it: the paperwork's applicant (form, the
reprint's ID re-check), the clerk's panel model, strong or weaker by the provider's acr/amr."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from signaling.eid.config import EidProviderSettings
from signaling.eid.errors import TokenRefused
from signaling.eid.evidence import evidence_of, is_strong, result_payload
from signaling.eid.oidc import VerifiedIdentity
from signaling.messages import IdentityResult
from signaling.paperwork.reprint import id_matches
from signaling.paperwork.session_facts import applicant_of
from signaling.paperwork.texts import identity_sentence
from storage.models import SessionEvent


def settings(tmp_path: Path, **changes: object) -> EidProviderSettings:
    secret = tmp_path / "secret"
    secret.write_text("s")
    values: dict[str, object] = {
        "id": "mo-one", "name_zh_hant": "一戶通", "name_zh_hans": "一户通",
        "name_en": "Macau One Account", "issuer": "https://id.example.gov.mo",
        "client_id": "vc", "client_secret_file": secret, "strong_acr": ["loa:high"],
        "claims": {"name": "full_name", "document_number": "bir"}, **changes,
    }  # fmt: skip
    return EidProviderSettings(**values)  # type: ignore[arg-type]


def identity(acr: str | None, amr: list[str]) -> VerifiedIdentity:
    return VerifiedIdentity(
        provider="mo-one", issuer="https://id.example.gov.mo", subject="u-1",
        claims={"sub": "u-1", "full_name": "黃小明", "bir": "1234567(8)"}, acr=acr, amr=amr,
        auth_time=1_800_000_000,
    )  # fmt: skip


def event(seq: int, kind: str, payload: dict[str, object]) -> SessionEvent:
    return SessionEvent(
        session_id="a" * 32, seq=seq, kind=kind, actor="eid:mo-one", payload=payload,
        created_at=datetime(2026, 12, 5, tzinfo=UTC), prev_hash="0" * 64, hash="0" * 64,
    )  # fmt: skip


def test_a_strong_sign_in_names_the_applicant_for_the_paperwork(tmp_path: Path) -> None:
    evidence = evidence_of(settings(tmp_path), identity("loa:high", []))
    assert evidence.assurance == "strong" and evidence.document_type is None
    payload = result_payload(evidence)
    result = IdentityResult.model_validate({**payload, "seq": 3, "at": "2026-12-05T00:00:00+00:00"})
    assert result.eid is not None and result.eid.name == "黃小明"
    events = [event(3, "identity.result", payload)]
    applicant = applicant_of(events)
    assert applicant is not None and applicant.verified
    assert (applicant.name, applicant.document_number) == ("黃小明", "1234567(8)")
    assert id_matches(events, "1234567(8)") and not id_matches(events, "1234567(9)")


def test_a_weaker_sign_in_is_verified_only_after_the_clerk_confirms(tmp_path: Path) -> None:
    provider = settings(tmp_path, strong_acr=[], strong_amr=["face", "hwk"])
    assert is_strong(provider, None, ["face", "hwk", "pin"])
    evidence = evidence_of(provider, identity("loa:high", ["pwd"]))
    assert evidence.assurance == "lower"
    events = [event(3, "identity.result", result_payload(evidence))]
    applicant = applicant_of(events)
    assert applicant is not None and not applicant.verified
    confirmed = applicant_of([*events, event(4, "identity.override", {"result_seq": 3})])
    assert confirmed is not None and confirmed.verified and confirmed.overridden


def test_a_sign_in_without_the_document_number_is_refused(tmp_path: Path) -> None:
    provider = settings(tmp_path, claims={"name": "full_name", "document_number": "hkic"})
    try:
        evidence_of(provider, identity("loa:high", []))
    except TokenRefused as exc:
        assert exc.code == "eid_missing_claims"
        assert "document_number (claim 'hkic')" in exc.message, exc.message
    else:
        raise AssertionError("a sign-in without a document number was taken")


def test_the_form_says_the_applicant_signed_in_with_the_e_id(tmp_path: Path) -> None:
    evidence = evidence_of(settings(tmp_path), identity("loa:high", []))
    applicant = applicant_of([event(3, "identity.result", result_payload(evidence))])
    assert identity_sentence(applicant, "en") == (
        "The applicant signed in with the e-ID Macau One Account; the identity is verified."
    )
    assert (
        identity_sentence(applicant, "zh-Hans") == "申请人以电子身份「一户通」登录，身份核验通过。"
    )
