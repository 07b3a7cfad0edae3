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
    """The applicant as the identity step read them (all strings, possibly empty)."""

    fields: dict[str, str]
    # e.g. "document read; face match 0.93; liveness passed"; "" when nothing was checked
    result: str = ""
    verified: bool = False

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
    source = (
        document if isinstance(document, dict) else nested if isinstance(nested, dict) else payload
    )
    found = {k: str(source[k]) for k in FIELD_NAMES if isinstance(source.get(k), str | int)}
    return found if "document_number" in found or "name" in found else None


def _result_text(payload: dict[str, Any]) -> tuple[list[str], bool | None]:
    parts: list[str] = []
    verdict: bool | None = None
    for key in ("result", "match", "liveness", "outcome", "ok", "verified", "score"):
        if key in payload and not isinstance(payload[key], dict | list):
            parts.append(f"{key}: {payload[key]}")
            value = payload[key]
            if isinstance(value, bool):
                verdict = value if verdict is None else verdict and value
            elif isinstance(value, str) and value.lower() in (
                "passed", "pass", "match", "ok", "verified",
            ):  # fmt: skip
                verdict = True if verdict is None else verdict
            elif isinstance(value, str) and value.lower() in ("failed", "fail", "mismatch"):
                verdict = False
    return parts, verdict


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
    texts: list[str] = []
    verdict: bool | None = None
    for event in identity[at:]:
        if event.kind == "identity.override":
            # the clerk accepted a failed check, with a written reason in the chain
            texts.append(
                f"{event.kind} by {event.payload.get('clerk', '')}: {event.payload.get('reason', '')}"
            )
            verdict = True
            continue
        parts, ok = _result_text(event.payload)
        texts += [f"{event.kind} {p}" for p in parts]
        if ok is not None:
            verdict = ok if verdict is None else verdict and ok
    return Applicant(fields, "; ".join(texts), bool(verdict))


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
