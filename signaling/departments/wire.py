"""The department API's messages: what we ask, what a department answers.

``POST /v1/documents`` with a :class:`DocumentQuery` (signed by us, :mod:`.connector`); a
:class:`DepartmentDocument` back (signed by the department), or a
:class:`DepartmentErrorBody` with 404 ``no_record`` / 403 ``not_eligible`` (a refusal the
applicant is told of) or 4xx/5xx (a failure: the applicant may ask a clerk).

A department document is "sealed-ready": structured content we render to the PDF and seal
with the department's seal (:mod:`signaling.self_service.pdf`), never a PDF of its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from signaling.messages import Language

# the document kinds a department may be asked for (catalogue ``self_service.document``)
DocumentKind = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,47}$")]
RefusalCode = Literal["no_record", "not_eligible"]
REFUSALS: tuple[str, ...] = ("no_record", "not_eligible")


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Person(_Wire):
    """Who the document is for, as the verified identity document says."""

    document_number: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    surname: str = Field(default="", max_length=64)
    given_names: str = Field(default="", max_length=64)
    birth_date: str = Field(default="", max_length=10)


class DocumentQuery(_Wire):
    """Our request: one document of one kind for one verified person."""

    request_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
    kind: DocumentKind
    language: Language
    person: Person


class Line(_Wire):
    label: str = Field(max_length=80)
    value: str = Field(max_length=400)


class Table(_Wire):
    """Rows of a record (contribution months, tax periods, properties)."""

    columns: list[Annotated[str, StringConstraints(max_length=40)]] = Field(max_length=8)
    rows: list[list[Annotated[str, StringConstraints(max_length=80)]]] = Field(max_length=120)


class DepartmentDocument(_Wire):
    """The department's answer: the content of the document, ready to be rendered and sealed."""

    request_id: str
    kind: DocumentKind
    reference: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    title: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    holder_name: str = Field(max_length=128)
    holder_document_number: str = Field(max_length=32)
    issued_at: datetime
    lines: list[Line] = Field(default_factory=list, max_length=40)
    table: Table | None = None
    note: str = Field(default="", max_length=600)


class DepartmentErrorBody(_Wire):
    code: str = Field(max_length=64)
    message: str = Field(max_length=600)
