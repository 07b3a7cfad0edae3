"""The complaint slip the kiosk prints: number and access code large, the department and the
day the answer is due, in the applicant's language (the paperwork's PDF tooling, fpdf2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from signaling.messages import ComplaintCategory, Language
from signaling.paperwork.forms import _Doc, _when
from signaling.paperwork.texts import text


@dataclass(frozen=True)
class SlipData:
    """What the slip says."""

    language: Language
    session_id: str
    number: str
    access_code: str
    department_name: str
    category: ComplaintCategory
    filed_at: datetime
    due_on: date
    status_url: str


def complaint_slip(data: SlipData) -> bytes:
    """The slip as PDF bytes (marked with the session and the complaint number)."""
    pdf = _Doc(data.language, data.session_id, data.number, text("complaint.title", data.language))
    pdf.heading(pdf.t("complaint.title"))
    for label, value in (("complaint.number", data.number), ("complaint.code", data.access_code)):
        pdf.set_font("cjk", size=12)
        pdf.cell(0, 18, pdf.t(label), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=26)
        pdf.cell(0, 34, value, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    pdf.row(pdf.t("complaint.department"), data.department_name)
    pdf.row(pdf.t("complaint.category"), pdf.t(f"complaint.category.{data.category}"))
    pdf.row(pdf.t("complaint.filed"), _when(data.filed_at))
    pdf.row(pdf.t("complaint.due"), data.due_on.isoformat())
    pdf.ln(12)
    # the phone page, in the applicant's language, as a QR code and as text
    pdf.qr_block(
        f"{data.status_url}?lang={data.language}", pdf.t("complaint.keep"), data.status_url
    )
    return pdf.finish(data.filed_at)
