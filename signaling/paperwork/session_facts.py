"""What the paperwork needs to know about a session, read from its hash chain.

This is the one place that knows which events the identity and document features write.
It reads them generically, so it works with any feature that follows these conventions:

* **identity**: the newest event whose ``kind`` starts with :data:`IDENTITY_PREFIX` and
  whose payload has a ``fields`` dict (or the document fields at its top level:
  ``document_number``, ``name`` ...). ``result`` / ``match`` / ``liveness`` in that payload,
  or in any newer identity event, make up the identity result.
* **materials**: every event (other than a recording segment) whose payload names a
  ``sha256`` of a stored file and a material id (``material_id`` or ``material``).

The identity step writes ``identity.result`` (its ``document`` and ``outcome``) and
``identity.override``; the documents feature writes ``document.added`` per page (a
material's newest page is the one listed) and ``material.reviewed``, which names no
``sha256`` and so is not a material.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from storage.models import SessionEvent

IDENTITY_PREFIX = "identity"
MATERIAL_KEYS = ("material_id", "material")
# events naming a sha256 that are not applicant materials: recordings, a refused upload (never
# stored), and the paperwork's own PDFs
IGNORED_KINDS = frozenset(
    {
        "recording.segment",
        "document.refused",
        "form.generated",
        "signature.captured",
        "document.stored",
    }
)
FIELD_NAMES = (
    "name",
    "name_latin",
    "document_number",
    "document_type",
    "nationality",
    "birth_date",
    "sex",
    "expiry_date",
    "issuer",
)


@dataclass(frozen=True)
class Applicant:
    """The applicant as the identity step read them, and what the checks found.

    Only facts, no wording: the paperwork says them in the applicant's language
    (``texts.identity_sentence``), never as event names or field codes.
    """

    fields: dict[str, str]
    verified: bool = False
    # None: nothing was checked (only the document was read)
    checked: bool = False
    score: float | None = None  # the live face against the document photo, if measured
    face_matched: bool | None = None
    liveness: bool | None = None
    # the automatic check failed and the session's clerk confirmed the identity in person
    overridden: bool = False
    # signed in with an e-ID (signaling/eid): the provider's name in zh-Hant, zh-Hans, en
    eid_provider: tuple[str, str, str] | None = None

    @property
    def name(self) -> str:
        return self.fields.get("name") or self.fields.get("name_latin") or ""

    @property
    def document_number(self) -> str:
        return self.fields.get("document_number", "")


@dataclass(frozen=True)
class MaterialFact:
    """One stored material of the session (a scan or an imported file)."""

    material_id: str
    sha256: str
    label: str = ""
    seq: int = 0


@dataclass
class SessionFacts:
    """The applicant and materials of one session, as far as its events tell."""

    applicant: Applicant | None
    materials: list[MaterialFact] = field(default_factory=list)


def _identity_fields(payload: dict[str, Any]) -> dict[str, str] | None:
    document = payload.get("document")
    if isinstance(document, dict):  # identity.result: the document as the reader read it
        names = " ".join(str(document.get(k, "")) for k in ("surname", "given_names")).strip()
        document = {
            **document,
            "name": names,
            "issuer": document.get("issuing_state", ""),
        }
    nested = payload.get("fields")
    if not isinstance(nested, dict):  # an e-ID sign-in (signaling/eid): the provider's claims
        nested = payload.get("eid")
    source = (
        document if isinstance(document, dict) else nested if isinstance(nested, dict) else payload
    )
    found = {k: str(source[k]) for k in FIELD_NAMES if isinstance(source.get(k), str | int)}
    return found if "document_number" in found or "name" in found else None


_PASSED = frozenset({"passed", "pass", "match", "matched", "ok", "verified"})
_FAILED = frozenset({"failed", "fail", "mismatch"})


def _verdict(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _PASSED:
        return True
    if isinstance(value, str) and value.lower() in _FAILED:
        return False
    return None


@dataclass
class _Check:
    """What the identity events after the document read say, newest last."""

    verdict: bool | None = None
    score: float | None = None
    face: bool | None = None
    liveness: bool | None = None
    overridden: bool = False

    def add(self, ok: bool | None) -> None:
        if ok is not None:
            self.verdict = ok if self.verdict is None else self.verdict and ok

    def read(self, payload: dict[str, Any]) -> None:
        match, liveness = payload.get("match"), payload.get("liveness")
        if isinstance(match, dict):  # identity.result: IdentityMatch
            if isinstance(match.get("score"), int | float):
                self.score = float(match["score"])
            self.face = _verdict(match.get("matched"))
        elif (face := _verdict(match)) is not None:
            self.face = face
        if isinstance(liveness, dict):  # identity.result: IdentityLiveness
            self.liveness = _verdict(liveness.get("passed"))
        elif (
            live := _verdict(liveness if liveness is not None else payload.get("result"))
        ) is not None:
            self.liveness = live
        score = payload.get("score")
        if isinstance(score, int | float) and not isinstance(score, bool):
            self.score = float(score)
        self.add(self.face if match is not None else None)
        self.add(self.liveness if liveness is not None or "result" in payload else None)
        for key in ("outcome", "ok", "verified"):
            self.add(_verdict(payload.get(key)))


def applicant_of(events: list[SessionEvent]) -> Applicant | None:
    """The applicant from the newest identity event with document fields; None if none."""
    identity = [e for e in events if e.kind.startswith(IDENTITY_PREFIX)]
    fields: dict[str, str] | None = None
    at = -1
    for index in range(len(identity) - 1, -1, -1):
        fields = _identity_fields(identity[index].payload)
        if fields is not None:
            at = index
            break
    if fields is None:
        return None
    eid = identity[at].payload.get("eid")
    eid_provider = (
        (
            str(eid.get("provider_name_zh_hant", "")),
            str(eid.get("provider_name_zh_hans", "")),
            str(eid.get("provider_name_en", "")),
        )
        if isinstance(eid, dict)
        else None
    )
    check = _Check()
    for event in identity[at:]:
        if event.kind == "identity.override":
            # the clerk accepted a failed check, with a written reason in the chain
            check.verdict, check.overridden = True, True
            continue
        check.read(event.payload)
    return Applicant(
        fields,
        verified=bool(check.verdict),
        checked=check.verdict is not None,
        score=check.score,
        face_matched=check.face,
        liveness=check.liveness,
        overridden=check.overridden,
        eid_provider=eid_provider,
    )


def materials_of(events: list[SessionEvent]) -> list[MaterialFact]:
    """Every stored material of the session in chain order; a re-scan replaces the earlier."""
    found: dict[str, MaterialFact] = {}
    for event in events:
        if event.kind in IGNORED_KINDS:
            continue
        digest = event.payload.get("sha256")
        material = next(
            (event.payload[k] for k in MATERIAL_KEYS if isinstance(event.payload.get(k), str)),
            None,
        )
        if isinstance(digest, str) and material:
            label = event.payload.get("label") or event.payload.get("filename") or ""
            found[material] = MaterialFact(material, digest, str(label), event.seq)
    return list(found.values())


def facts_of(events: list[SessionEvent]) -> SessionFacts:
    """The applicant and materials of a session from its events."""
    return SessionFacts(applicant_of(events), materials_of(events))


def recorded_document_number(events: list[SessionEvent]) -> str | None:
    """The ID document number recorded for the session, for the reprint re-check."""
    applicant = applicant_of(events)
    return applicant.document_number or None if applicant else None
