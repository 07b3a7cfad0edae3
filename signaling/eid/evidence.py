"""A checked e-ID sign-in -> the identity evidence the session's chain records.

The claim mapping of the provider's settings says which claim gives the name, the document
number and the rest; the ``acr``/``amr`` say how strong the sign-in was. A strong one is
recorded as a verified ``identity.result``, as a card read plus a face match would be; a
weaker one as a failed result with code ``eid_lower_assurance``, which the clerk confirms in
person with the existing identity override (a written reason in the chain).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from signaling.eid.config import EidProviderSettings
from signaling.eid.errors import TokenRefused
from signaling.eid.oidc import VerifiedIdentity
from signaling.messages import EidEvidence

RESULT_EVENT = "identity.result"
LOWER_ASSURANCE = "eid_lower_assurance"


def _claim(identity: VerifiedIdentity, name: str | None) -> str | None:
    value = identity.claims.get(name) if name else None
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()[:200]
    return None


def is_strong(settings: EidProviderSettings, acr: str | None, amr: list[str]) -> bool:
    """True when the provider says the applicant proved themselves as well as a card read
    plus a face match (an ``acr`` in strong_acr, or every strong_amr method used)."""
    if acr is not None and acr in settings.strong_acr:
        return True
    return bool(settings.strong_amr) and set(settings.strong_amr) <= set(amr)


def evidence_of(settings: EidProviderSettings, identity: VerifiedIdentity) -> EidEvidence:
    """The evidence of ``identity``; :class:`TokenRefused` if the name or document number
    is missing (the provider was asked for a scope it did not grant)."""
    mapping = settings.claims
    fields = {field: _claim(identity, claim) for field, claim in mapping.items()}
    missing = [f for f in ("name", "document_number") if not fields.get(f)]
    if missing:
        names = " and ".join(f"{f} (claim {mapping[f]!r})" for f in missing)  # type: ignore[index]
        raise TokenRefused(
            f"the provider did not say the applicant's {names}; check the provider's scopes"
            " and claim mapping in eid_providers",
            "eid_missing_claims",
        )
    signed_in = (
        datetime.fromtimestamp(identity.auth_time, UTC).isoformat()
        if identity.auth_time is not None
        else None
    )
    return EidEvidence(
        provider=settings.id,
        provider_name_zh_hant=settings.name_zh_hant,
        provider_name_zh_hans=settings.name_zh_hans,
        provider_name_en=settings.name_en,
        issuer=identity.issuer,
        subject=identity.subject,
        name=fields["name"] or "",
        name_latin=fields.get("name_latin"),
        document_number=fields["document_number"] or "",
        document_type=fields.get("document_type"),
        birth_date=fields.get("birth_date"),
        acr=identity.acr,
        amr=identity.amr,
        assurance="strong" if is_strong(settings, identity.acr, identity.amr) else "lower",
        signed_in_at=signed_in,
    )


def result_payload(evidence: EidEvidence) -> dict[str, Any]:
    """The ``identity.result`` payload of an e-ID sign-in (read as any identity result by
    the panel, the paperwork and the reprint's ID re-check)."""
    strong = evidence.assurance == "strong"
    return {
        "outcome": "verified" if strong else "failed",
        "failure_code": None if strong else LOWER_ASSURANCE,
        "document": None,
        "match": None,
        "liveness": None,
        "evidence": [],
        "eid": evidence.model_dump(mode="json"),
    }
