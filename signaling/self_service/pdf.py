"""A department's answer as the document the applicant prints (fpdf2, the paperwork's faces).

The page shows the department's title and reference, who it is for, the department's lines
and table, and, as on a clerk's result, the acceptance number and the verification QR code;
it is sealed by :class:`~signaling.paperwork.service.Paperwork` like any result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fpdf.fonts import FontFace

from signaling.departments.wire import DepartmentDocument
from signaling.messages import Language
from signaling.paperwork.forms import MARGIN
from signaling.paperwork.forms import _Doc as Document


@dataclass(frozen=True)
class IssuedData:
    session_id: str
    doc_id: str
    language: Language
    acceptance_number: str
    service_name: str
    department_name: str
    verify_url: str
    answer: DepartmentDocument
    answer_sha256: str
    printed_at: datetime


def self_service_document(data: IssuedData) -> bytes:
    """The department's document, ready to seal."""
    a = data.answer
    pdf = Document(data.language, data.session_id, data.doc_id, a.title)
    pdf.heading(a.title, 17)
    pdf.row(pdf.t("form.department"), data.department_name)
    pdf.row(pdf.t("form.service"), data.service_name)
    pdf.row(pdf.t("receipt.number"), data.acceptance_number)
    pdf.row(pdf.t("self_service.reference"), a.reference)
    pdf.row(pdf.t("self_service.issued_at"), a.issued_at.strftime("%Y-%m-%d %H:%M:%S UTC"))
    pdf.section(pdf.t("form.applicant"))
    pdf.row(pdf.t("form.name"), a.holder_name)
    pdf.row(pdf.t("form.document_number"), a.holder_document_number)
    for line in a.lines:
        pdf.row(line.label, line.value)
    if a.table is not None and a.table.columns:
        pdf.section(pdf.t("self_service.records"))
        pdf.set_font("cjk", size=9)
        # the CJK face has no bold: headings on a tint instead
        heading = FontFace(emphasis="", fill_color=(230, 236, 245))
        with pdf.table(text_align="LEFT", line_height=13, headings_style=heading) as table:
            table.row(a.table.columns)
            for cells in a.table.rows:
                table.row(cells)
    if a.note:
        pdf.ln(6)
        pdf.small(a.note, 9)
    pdf.ln(12)
    if pdf.get_y() > pdf.h - MARGIN - 120:
        pdf.add_page()
    pdf.qr_block(data.verify_url, pdf.t("receipt.verify"))
    pdf.set_x(MARGIN + 124)
    pdf.small(f"{pdf.t('self_service.answer')} SHA-256 {data.answer_sha256}", 7)
    return pdf.finish(data.printed_at)
